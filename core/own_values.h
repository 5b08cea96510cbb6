// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* own_values.h - replication never takes a server's own counter values away
 *
 * DESCRIPTION
 *   Each provider writes only its own share of an account's counters (the
 *   tallyUsage values with sid= its serverID, and its own tallyRecentCharge
 *   value). It is the only writer of those values, so its own copy is
 *   always the newest there is.
 *
 *   A full refresh (syncrepl falling back from delta-syncrepl, e.g. after
 *   a change it could not apply) does not know that. It judges a whole
 *   entry by its entryCSN: when the other provider charged the account
 *   last, its copy wins, and slapd turns our entry into that copy,
 *   attribute by attribute. That copy holds our share as it was when the
 *   other provider last heard of it. Without this rule the refresh would
 *   replace our newer value with that older one: every charge we had
 *   answered and not yet replicated would be forgotten on every server
 *   (the undercount issue 23 saw after a crash).
 *
 *   So a replicated change may add values of our own share (the fold in
 *   shares.h takes the largest, and our next write deletes every value of
 *   our share), but it never deletes one:
 *     delete of values   our own values are left out of it; nothing is
 *                        left: the modification is dropped
 *     delete of all      becomes a replace by our own values, when we hold
 *                        some
 *     replace            our own values are kept beside the new ones
 *     add                as it is
 *   A provider's own writes and clients never take this path: they go
 *   through the charge and reset operations.
 */
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tally {

enum class ValueChange { add, remove, replace };

/* AttributeChange - one modification of a counter attribute; remove with
 * no values removes the attribute */
struct AttributeChange {
    ValueChange kind = ValueChange::add;
    std::vector<std::string> values;
    bool operator==(const AttributeChange &) const = default;
};

/* OwnerOf - the serverID that wrote a value; nullopt when it cannot be
 * told (a malformed value is nobody's and replication may change it) */
using OwnerOf = std::function<std::optional<unsigned>(const std::string &)>;

/* usage_owner - the sid of a tallyUsage value */
std::optional<unsigned> usage_owner(const std::string &value);

/* recent_owner - the sid of a tallyRecentCharge value */
std::optional<unsigned> recent_owner(const std::string &value);

/* keep_own_values - a replicated change rewritten by the rules above.
 * current: the attribute's values now (only needed for remove-all and
 * replace); own_sid: this server's serverID. nullopt: drop the change. */
std::optional<AttributeChange> keep_own_values(const AttributeChange &change, const std::vector<std::string> &current,
                                               unsigned own_sid, const OwnerOf &owner_of);

}  // namespace tally
