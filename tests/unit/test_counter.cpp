// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Text form of counters and charge records: round trips and malformed values.
#include "counter.h"

#include <catch2/catch.hpp>

using namespace tally;

TEST_CASE("counter values round-trip", "[counter]") {
    CounterValue c{"day", "2026-11-22", 3, {}};
    c.usage[Metric::messages] = 12;
    c.usage[Metric::recipients] = 30;
    c.usage[Metric::bytes] = 48211;
    c.usage[Metric::byteRecipients] = 18446744073709551615ull;
    std::string text = encode_counter(c);
    CHECK(text == "day 2026-11-22 sid=3 messages=12 recipients=30 bytes=48211 byteRecipients=18446744073709551615");
    CHECK(decode_counter(text) == c);
}

TEST_CASE("the longest counter value is encoded whole", "[counter]") {
    // every field at its widest, a long window name and period: the encoder sizes its buffer once
    CounterValue c{std::string(64, 'w'), std::string(256, 'p'), 4095, {}};
    for (Metric m : kAllMetrics) c.usage[m] = 18446744073709551615ull;
    c.limit_hit = c.since = c.reset = 1099511627776;  // the largest time decode accepts (2^40)
    std::string text = encode_counter(c);
    const std::string max = "18446744073709551615", t = "1099511627776";
    CHECK(text == std::string(64, 'w') + " " + std::string(256, 'p') + " sid=4095 messages=" + max + " recipients=" +
                      max + " bytes=" + max + " byteRecipients=" + max + " externalRecipients=" + max +
                      " limitHit=" + t + " since=" + t +
                      " reset=" + t);
    CHECK(decode_counter(text) == c);
}

TEST_CASE("a counter carries the time its limit was first hit", "[counter][alert]") {
    CounterValue c{"day", "2026-11-22", 0, {}};
    c.usage[Metric::messages] = 500;
    c.limit_hit = 1795000000;
    std::string text = encode_counter(c);
    CHECK(text == "day 2026-11-22 sid=0 messages=500 recipients=0 bytes=0 byteRecipients=0 limitHit=1795000000");
    CHECK(decode_counter(text) == c);
    CHECK_FALSE(decode_counter("day 2026-11-22 sid=0 messages=500 recipients=0 bytes=0 byteRecipients=0 limitHit=0"));
    CHECK_FALSE(decode_counter("day 2026-11-22 sid=0 messages=500 recipients=0 bytes=0 byteRecipients=0 hit=5"));
}

TEST_CASE("counter values carry since and reset for replicated resets", "[counter][replication]") {
    CounterValue c{"day", "2026-11-22", 2, {}};
    c.since = 1795000000;
    c.reset = 1795000000;
    std::string text = encode_counter(c);
    CHECK(text == "day 2026-11-22 sid=2 messages=0 recipients=0 bytes=0 byteRecipients=0 since=1795000000 reset=1795000000");
    CHECK(decode_counter(text) == c);
    // fixed order, each once
    CHECK_FALSE(decode_counter("day p sid=0 messages=0 recipients=0 bytes=0 byteRecipients=0 reset=5 since=5"));
    CHECK_FALSE(decode_counter("day p sid=0 messages=0 recipients=0 bytes=0 byteRecipients=0 since=5 since=6"));
}

TEST_CASE("recent charge values name their server", "[counter][replication]") {
    RecentCharges r;
    r.add(100, "A");
    CHECK(encode_recent(0, r) == "100:A");
    CHECK(encode_recent(7, r) == "sid=7 100:A");
    auto own = decode_recent("100:A");
    REQUIRE(own);
    CHECK(own->first == 0);
    auto seven = decode_recent("sid=7 100:A 101:B");
    REQUIRE(seven);
    CHECK(seven->first == 7);
    CHECK(seven->second.contains("B", 0));
    CHECK_FALSE(decode_recent("sid=x 100:A"));
    CHECK_FALSE(decode_recent("sid=0 100:A"));
}

TEST_CASE("malformed counter values are rejected", "[counter]") {
    for (const char *bad : {
             "",
             "day",
             "day 2026-11-22 sid=0 messages=1 recipients=2 bytes=3",
             "day 2026-11-22 sid=0 messages=1 recipients=2 bytes=3 byteRecipients=4 extra=5",
             "day 2026-11-22 sid=x messages=1 recipients=2 bytes=3 byteRecipients=4",
             "day 2026-11-22 sid=0 messages=-1 recipients=2 bytes=3 byteRecipients=4",
             "day 2026-11-22 sid=0 recipients=1 messages=2 bytes=3 byteRecipients=4",
             "day 2026-11-22 sid=0 messages=99999999999999999999 recipients=2 bytes=3 byteRecipients=4",
             "day 2026-11-22 sid=5000 messages=1 recipients=2 bytes=3 byteRecipients=4",
         })
        CHECK_FALSE(decode_counter(bad));
}

TEST_CASE("charge ids are bounded printable text", "[counter]") {
    CHECK(valid_charge_id("4XbT2c1NqVz"));
    CHECK_FALSE(valid_charge_id(""));
    CHECK_FALSE(valid_charge_id("a b"));
    CHECK_FALSE(valid_charge_id(std::string(129, 'a')));
    CHECK_FALSE(valid_charge_id("caf\xc3\xa9"));
}

TEST_CASE("recent charges are scanned, pruned by age and count, appended", "[counter]") {
    RecentCharges r;
    r.add(100, "A");
    r.add(200, "B");
    r.add(300, "C");
    CHECK(r.raw() == "100:A 200:B 300:C");
    CHECK(r.contains("B", 150));
    CHECK_FALSE(r.contains("A", 150));  // too old
    CHECK_FALSE(r.contains("Z", 0));
    CHECK_FALSE(r.prune(0, 10));        // nothing to drop
    CHECK(r.prune(150, 10));
    CHECK(r.raw() == "200:B 300:C");
    CHECK(r.prune(0, 1));
    CHECK(r.raw() == "300:C");
    RecentCharges damaged("x:1 junk 300:C 5:");
    CHECK(damaged.size() == 1);         // damaged records are never counted
    CHECK_FALSE(damaged.contains("x", 0));
    CHECK(damaged.prune(0, 10));        // and go when they reach the front
    CHECK(damaged.raw() == "300:C 5:");
}

TEST_CASE("a charge id is found only as a whole id, whatever it contains", "[counter]") {
    RecentCharges r("100:XQ1 200:a:b 300~:C 400:Q1x");
    CHECK_FALSE(r.contains("Q1", 0));  // neither a suffix of XQ1 nor a prefix of Q1x
    CHECK(r.contains("XQ1", 0));
    CHECK(r.contains("a:b", 0));       // an id may hold ':'; the first one ends the time
    CHECK_FALSE(r.contains("b", 0));
    CHECK(r.contains("C", 0));         // cancelled records are seen
    CHECK_FALSE(r.contains("C", 301));
    RecentCharges spaced("  100:A   200:B ");
    CHECK(spaced.contains("B", 0));
    CHECK_FALSE(spaced.contains("", 0));
}

TEST_CASE("usage additions saturate", "[counter]") {
    Usage a;
    a[Metric::bytes] = 18446744073709551615ull - 1;
    Usage b;
    b[Metric::bytes] = 5;
    a.add(b);
    CHECK(a[Metric::bytes] == 18446744073709551615ull);
    Usage m = usage_of_message(1, 4294967296ull, 4294967296ull * 8);
    CHECK(m[Metric::byteRecipients] == 18446744073709551615ull);
    CHECK(usage_of_message(1, 3, 1000)[Metric::byteRecipients] == 3000);
}

TEST_CASE("cancelled charge records are kept apart and pruned like the others", "[counter][cancel]") {
    RecentCharges r;
    r.add(100, "A");
    r.add(101, "B");
    CHECK(r.cancel("A", 0, 110) == std::optional<std::int64_t>(100));
    CHECK(r.raw() == "100~:A 101:B");
    CHECK(r.contains("A", 0));  // still seen: a repeat is a duplicate
    CHECK_FALSE(r.cancel("A", 0, 111));  // already cancelled
    CHECK(r.raw() == "100~:A 101:B");
    CHECK_FALSE(r.cancel("C", 0, 112));  // never seen: remembered as cancelled
    CHECK(r.raw() == "100~:A 101:B 112~:C");
    CHECK(r.contains("C", 0));
    CHECK(r.size() == 3);
    CHECK(r.prune(101, 16));
    CHECK(r.raw() == "101:B 112~:C");
}

TEST_CASE("externalRecipients: written only when not 0, values without it read as before", "[counter][external]") {
    // A value written before the metric existed (or by a server that does not know it).
    const std::string old = "day 2026-11-22 sid=2 messages=5 recipients=9 bytes=100 byteRecipients=900 limitHit=1795000000";
    auto c = decode_counter(old);
    REQUIRE(c);
    CHECK(c->usage[Metric::externalRecipients] == 0);
    CHECK(c->usage[Metric::recipients] == 9);
    CHECK(c->limit_hit == 1795000000);
    CHECK(encode_counter(*c) == old);  // unchanged: no new field for 0

    c->usage[Metric::externalRecipients] = 4;
    std::string text = encode_counter(*c);
    CHECK(text == "day 2026-11-22 sid=2 messages=5 recipients=9 bytes=100 byteRecipients=900 externalRecipients=4 "
                  "limitHit=1795000000");
    CHECK(decode_counter(text) == c);
}

TEST_CASE("externalRecipients: malformed or misplaced is refused", "[counter][external]") {
    const std::string head = "day 2026-11-22 sid=0 messages=1 recipients=1 bytes=1 byteRecipients=1";
    CHECK_FALSE(decode_counter(head + " externalRecipients=x"));
    CHECK_FALSE(decode_counter(head + " externalRecipients="));
    CHECK_FALSE(decode_counter(head + " externalRecipients=1 externalRecipients=1"));
    CHECK_FALSE(decode_counter(head + " limitHit=5 externalRecipients=1"));  // order is fixed
    CHECK_FALSE(decode_counter("day 2026-11-22 sid=0 messages=1 externalRecipients=1 recipients=1 bytes=1 byteRecipients=1"));
    CHECK(decode_counter(head + " externalRecipients=0"));  // 0 read back, though never written
}
