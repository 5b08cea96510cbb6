// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* netmatch.h - does a client address fall in a network entry's range
 *
 * DESCRIPTION
 *   Relay-host entries may name one address (ipHostNumber) or a network
 *   (ipNetworkNumber with ipNetmaskNumber, RFC 2307). Masks may be dotted
 *   ("255.255.255.0") or a prefix length ("24"); a network written as
 *   "10.1.0.0/16" carries its own. IPv4 and IPv6.
 */
#pragma once

#include <optional>
#include <string_view>

namespace tally::engine {

/* prefix_match - nullopt when the address is outside (or anything is
 * malformed); otherwise the prefix length, so the most specific network wins */
std::optional<int> prefix_match(std::string_view address, std::string_view network, std::string_view mask);

}  // namespace tally::engine
