// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* history_place.h - where an account's past periods are kept
 *
 * DESCRIPTION
 *   The history of an account is not kept in the account entry: back-mdb
 *   stores an entry as one record and rewrites all of it on every modify,
 *   so 100 days of history (~10 KB) in the account made every charge
 *   rewrite ~10 KB. It lives in one entry per account and server, written
 *   only when a period rolls over:
 *
 *     cn=<entryUUID of the account>,cn=tally-history-sid<N>,<suffix>
 *
 *   Named by entryUUID, not by DN, so a renamed account keeps its history.
 *   One container per serverID, so two providers never add the same entry
 *   (the same DN added on two providers makes delta-syncrepl give up and
 *   fall back to a full refresh).
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tally {

/* history_container_rdn - "cn=tally-history-sidN" */
std::string history_container_rdn(unsigned sid);

/* counter_container_rdn - "cn=tally-counters-sidN": with tally-counter-database,
 * the counter entries one server writes, named like history entries
 * (cn=<entryUUID of the account>) for the same reasons */
std::string counter_container_rdn(unsigned sid);

/* counter_container_sid - the serverID a counter container's normalized
 * DN names ("cn=tally-counters-sid2,dc=example,dc=com" -> 2); nullopt for any other DN */
std::optional<unsigned> counter_container_sid(std::string_view ndn);

/* server_id_of - the serverID of an olcServerID value ("2 ldap://h/" or "2"); nullopt when malformed */
std::optional<unsigned> server_id_of(std::string_view value);

/* history_entry_rdn - "cn=UUID" in lower case; nullopt when uuid is not the
 * text form of a UUID (so nothing but hex digits and dashes reaches a DN) */
std::optional<std::string> history_entry_rdn(std::string_view uuid);

}  // namespace tally
