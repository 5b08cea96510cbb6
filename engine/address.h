// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* address.h - envelope addresses and whether a login owns one
 *
 * DESCRIPTION
 *   Envelope senders arrive from Postfix as "<user@domain>" (possibly with
 *   ESMTP parameters already split off). An address is owned by an account
 *   when it equals, ignoring case, one of the account's addresses (mail,
 *   alternates, tallySendAs, aliases delivering to it); with a detail
 *   delimiter, "user+anything@domain" counts as "user@domain".
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::engine {

/* parse_envelope_address - "<a@b>" or "a@b" to "a@b"; "" for the null
 * sender "<>"; nullopt for something that is not an address (spaces,
 * control bytes, more than 320 bytes, several '@' outside quotes) */
std::optional<std::string> parse_envelope_address(std::string_view raw);

/* canonical_address - lowercase, and without +detail when delim is set */
std::string canonical_address(std::string_view address, std::string_view detail_delimiter);

/* owns_address - whether sender is one of addresses (after canonicalizing both) */
bool owns_address(const std::vector<std::string> &addresses, std::string_view sender,
                  std::string_view detail_delimiter);

/* domain_of - the part after the last '@', lowercase; empty without one */
std::string domain_of(std::string_view address);

}  // namespace tally::engine
