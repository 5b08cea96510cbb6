// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Names of the entries that keep history: only a UUID's characters reach a DN.
#include "history_place.h"

#include <catch2/catch.hpp>

using namespace tally;

TEST_CASE("a history entry is named by the account's entryUUID, in lower case", "[history]") {
    CHECK(history_entry_rdn("0C1D2E3F-4A5B-4C6D-8E7F-901A2B3C4D5E") == "cn=0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e");
    CHECK(history_container_rdn(0) == "cn=tally-history-sid0");
    CHECK(history_container_rdn(4095) == "cn=tally-history-sid4095");
}

TEST_CASE("anything but the text form of a UUID names no history entry", "[history][hostile]") {
    CHECK_FALSE(history_entry_rdn(""));
    CHECK_FALSE(history_entry_rdn("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5"));     // short
    CHECK_FALSE(history_entry_rdn("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e0"));   // long
    CHECK_FALSE(history_entry_rdn("0c1d2e3f4a5b-4c6d-8e7f-901a2b3c4d5e-"));   // dash misplaced
    CHECK_FALSE(history_entry_rdn("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5g"));   // not hex
    CHECK_FALSE(history_entry_rdn("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d,e"));   // DN metacharacter
    CHECK_FALSE(history_entry_rdn("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d+e"));
    CHECK_FALSE(history_entry_rdn(std::string_view("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d\0e", 36)));
}

TEST_CASE("counter entries of one server live in a container named by its serverID", "[counters]") {
    CHECK(counter_container_rdn(0) == "cn=tally-counters-sid0");
    CHECK(counter_container_rdn(12) == "cn=tally-counters-sid12");
}

TEST_CASE("the serverID of a counter container, from its DN", "[counters]") {
    CHECK(counter_container_sid("cn=tally-counters-sid2,dc=example,dc=com") == 2u);
    CHECK(counter_container_sid("cn=tally-counters-sid0,cn=counters") == 0u);
    CHECK_FALSE(counter_container_sid("cn=tally-history-sid2,dc=example,dc=com"));
    CHECK_FALSE(counter_container_sid("cn=tally-counters-sidx,dc=example,dc=com"));
    CHECK_FALSE(counter_container_sid("cn=tally-counters-sid,dc=example,dc=com"));
    CHECK_FALSE(counter_container_sid("ou=people,dc=example,dc=com"));
}

TEST_CASE("the serverIDs slapd is configured with, as olcServerID gives them", "[counters]") {
    CHECK(server_id_of("1 ldap://ldap1.example.com/") == 1u);
    CHECK(server_id_of("2") == 2u);
    CHECK(server_id_of("0x0a ldap://h/") == 10u);
    CHECK(server_id_of("4095") == 4095u);
    CHECK_FALSE(server_id_of("4096"));
    CHECK_FALSE(server_id_of(""));
    CHECK_FALSE(server_id_of("x1 ldap://h/"));
    CHECK_FALSE(server_id_of("-1"));
    CHECK_FALSE(server_id_of("0x"));
}
