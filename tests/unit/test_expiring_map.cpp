// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The parent-policy cache's logic: values expire, forget works, the size is bounded.
#include "expiring_map.h"

#include <catch2/catch.hpp>

using namespace tally;

TEST_CASE("expiring map: a value lives exactly its lifetime", "[cache]") {
    ExpiringMap m(300, 10);
    m.put("dc=example,dc=com", "cn=gold,ou=policies", 1000);
    CHECK(m.get("dc=example,dc=com", 1000) == "cn=gold,ou=policies");
    CHECK(m.get("dc=example,dc=com", 1299) == "cn=gold,ou=policies");
    CHECK_FALSE(m.get("dc=example,dc=com", 1300));
    CHECK_FALSE(m.get("dc=other,dc=com", 1000));
    m.put("dc=example,dc=com", "", 1300);  // "names no policy" is a value too
    CHECK(m.get("dc=example,dc=com", 1301) == "");
}

TEST_CASE("expiring map: forget and the size bound", "[cache]") {
    ExpiringMap m(300, 3);
    m.put("a", "1", 0);
    m.put("b", "2", 0);
    m.forget("a");
    CHECK_FALSE(m.get("a", 1));
    CHECK(m.get("b", 1) == "2");
    m.put("c", "3", 0);
    m.put("b", "2b", 0);  // replacing an existing key never clears
    CHECK(m.size() == 2);
    m.put("d", "4", 0);
    CHECK(m.size() == 3);
    m.put("e", "5", 0);  // full: everything goes, the new one stays
    CHECK(m.size() == 1);
    CHECK(m.get("e", 1) == "5");
    CHECK_FALSE(m.get("b", 1));
}
