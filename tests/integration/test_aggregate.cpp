// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Issue 19: whole-domain (aggregate) quotas inside the real slapd. An
// aggregate entry (class tallyAggregate) limits the sum of its accounts;
// one charge decides and writes account and aggregate together.
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z
const std::string kDomain = "ou=hosted,dc=example,dc=com";

std::string member_dn(int i) { return "uid=m" + std::to_string(i) + "," + kDomain; }

/* with_domain - ou=hosted as an aggregate with these limits, and n accounts under it */
SlapdOptions with_domain(const std::vector<std::string> &limits, int n, const std::string &extra = "") {
    SlapdOptions o;
    o.overlay_config = "tally-window hour\ntally-window day\ntally-timezone UTC\ntally-history 3\n" + extra;
    o.data_ldif += "\ndn: " + kDomain + "\nobjectClass: organizationalUnit\nobjectClass: tallyAggregate\nou: hosted\n";
    for (const auto &l : limits) o.data_ldif += "tallyAggregateLimit: " + l + "\n";
    for (int i = 0; i < n; ++i) {
        std::string uid = "m" + std::to_string(i);
        o.data_ldif += "\ndn: " + member_dn(i) + "\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\nuid: " +
                       uid + "\ncn: " + uid + "\nsn: " + uid + "\n";
    }
    return o;
}

std::uint64_t aggregate_used(const ChargeResponse &r, const std::string &window = "day") {
    for (const auto &w : r.aggregate_windows)
        if (w.window == window) return w.usage[Metric::messages];
    FAIL("no aggregate window " << window);
    return 0;
}

}  // namespace

TEST_CASE("issue 19: 16 connections charging 8 accounts of one domain whose daily quota is 500 accept exactly 500",
          "[integration][aggregate][exact]") {
    auto fsync = GENERATE(true, false);
    INFO((fsync ? "fsync on (group commit)" : "nosync"));
    SlapdOptions o = with_domain({"day messages 500"}, 8);
    o.nosync = !fsync;
    Slapd s(o);
    s.start();
    std::atomic<int> accepted{0}, refused{0}, errors{0}, first_hits{0}, wrong_level{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&, t] {
            try {
                auto c = s.connect(kServiceDn, kPassword);
                for (int i = 0; i < 50; ++i) {
                    auto r = charge_one(*c, member_dn(t % 8));
                    if (r.ldap.code != LDAP_SUCCESS) {
                        ++errors;
                        continue;
                    }
                    if (r.response.verdict == Verdict::accepted) ++accepted;
                    else ++refused;
                    if (r.response.verdict == Verdict::refused &&
                        (!r.response.exceeded || r.response.exceeded->level != Level::aggregate))
                        ++wrong_level;
                    if (r.response.first_hit) ++first_hits;
                }
            } catch (...) {
                errors += 1000;
            }
        });
    for (auto &t : threads) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 500);
    CHECK(refused == 300);
    CHECK(wrong_level == 0);
    CHECK(first_hits == 1);  // one alert for the domain, whichever account passed it
    auto root = s.connect();
    CHECK_THAT(joined(ldap_values(*root, kDomain, "tallyUsage")), Catch::Contains(" sid=0 messages=500 "));
    // The accounts' own counters sum to the same 500.
    auto svc = s.connect(kServiceDn, kPassword);
    std::uint64_t sum = 0;
    for (int i = 0; i < 8; ++i) {
        auto r = charge_one(*svc, member_dn(i), 1, 100, "", Mode::check);
        REQUIRE(r.ldap.code == LDAP_SUCCESS);
        sum += used(r.response, "day");
        CHECK(aggregate_used(r.response) == 500);
        CHECK(r.response.aggregate_dn == kDomain);
    }
    CHECK(sum == 500);
    if (fsync) CHECK_THAT(s.log(), Catch::Contains(" batch="));
}

TEST_CASE("issue 19: the account's limit and the domain's both refuse, each named, and nothing is charged",
          "[integration][aggregate]") {
    Slapd s(with_domain({"day messages 5"}, 3));
    s.start();
    s.set_clock(kMorning);
    auto admin = s.connect();
    REQUIRE(ldap_modify(*admin, member_dn(0), LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    auto svc = s.connect(kServiceDn, kPassword);
    for (int i = 0; i < 2; ++i) REQUIRE(charge_one(*svc, member_dn(0)).response.verdict == Verdict::accepted);
    // m0's own limit: refused, named "account"; the domain does not count it.
    auto own = charge_one(*svc, member_dn(0));
    REQUIRE(own.ldap.code == LDAP_SUCCESS);
    CHECK(own.response.verdict == Verdict::refused);
    REQUIRE(own.response.exceeded);
    CHECK(own.response.exceeded->level == Level::account);
    CHECK(own.response.exceeded->limit == 2);
    CHECK(aggregate_used(own.response) == 2);
    // Three more from m1 fill the domain; the next, from m2, is refused by the domain.
    for (int i = 0; i < 3; ++i) REQUIRE(charge_one(*svc, member_dn(1)).response.verdict == Verdict::accepted);
    auto dom = charge_one(*svc, member_dn(2));
    CHECK(dom.response.verdict == Verdict::refused);
    REQUIRE(dom.response.exceeded);
    CHECK(dom.response.exceeded->level == Level::aggregate);
    CHECK(dom.response.exceeded->limit == 5);
    CHECK(dom.response.first_hit);
    CHECK(dom.ldap.text == "aggregate \"" + kDomain + "\" day limit of 5 messages reached (usage 5)");
    CHECK(used(dom.response, "day") == 0);  // m2 charged nothing
    CHECK(aggregate_used(dom.response) == 5);
    CHECK_THAT(s.log(), Catch::Contains("aggregate=\"" + kDomain + "\" verdict=refused exceeded=aggregate \"" +
                                           kDomain + "\" day limit of 5 messages reached (usage 5) level=aggregate"));
    // The domain's usage, asked of the domain entry itself.
    auto agg = charge_one(*svc, kDomain, 1, 100, "", Mode::check);
    REQUIRE(agg.ldap.code == LDAP_SUCCESS);
    CHECK(used(agg.response, "day") == 5);
}

TEST_CASE("issue 19: an account names its aggregate with tallyAggregateDN, else the nearest ancestor counts",
          "[integration][aggregate]") {
    Slapd s(with_domain({"day messages 2"}, 1));
    s.start();
    auto admin = s.connect();
    // alice lives under ou=people (no aggregate): counted alone, until she names ou=hosted.
    auto svc = s.connect(kServiceDn, kPassword);
    auto alone = charge_one(*svc, kAlice);
    CHECK(alone.response.aggregate_dn.empty());
    REQUIRE(ldap_modify(*admin, kAlice, LDAP_MOD_ADD, "objectClass", {"tallyAggregateMember"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*admin, kAlice, LDAP_MOD_REPLACE, "tallyAggregateDN", {kDomain}) == LDAP_SUCCESS);
    auto named = charge_one(*svc, kAlice);
    CHECK(named.response.aggregate_dn == kDomain);
    CHECK(aggregate_used(named.response) == 1);
    CHECK(charge_one(*svc, member_dn(0)).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);
    // A class removed takes effect at once (the cache of ancestors is forgotten).
    REQUIRE(ldap_modify(*admin, kDomain, LDAP_MOD_DELETE, "tallyAggregateLimit", {}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*admin, kDomain, LDAP_MOD_DELETE, "objectClass", {"tallyAggregate"}) == LDAP_SUCCESS);
    auto gone = charge_one(*svc, member_dn(0));
    CHECK(gone.response.verdict == Verdict::accepted);
    CHECK(gone.response.aggregate_dn.empty());
}

TEST_CASE("issue 19: malformed aggregate limits are refused when written, with the reason",
          "[integration][aggregate][hostile]") {
    Slapd s(with_domain({}, 0));
    s.start();
    auto admin = s.connect();
    std::string text;
    CHECK(ldap_modify(*admin, kDomain, LDAP_MOD_ADD, "tallyAggregateLimit", {"day messages 5OO"}, &text) ==
          LDAP_CONSTRAINT_VIOLATION);
    CHECK_THAT(text, Catch::Contains("tallyAggregateLimit: \"day messages 5OO\""));
    CHECK(ldap_modify(*admin, kDomain, LDAP_MOD_ADD, "tallyAggregateLimit", {"day letters 5"}, &text) ==
          LDAP_CONSTRAINT_VIOLATION);
    CHECK(ldap_modify(*admin, kDomain, LDAP_MOD_ADD, "tallyAggregateLimit", {"day messages 500"}) == LDAP_SUCCESS);
    CHECK(ldap_values(*admin, kDomain, "tallyAggregateLimit") == std::vector<std::string>{"day messages 500"});
}

TEST_CASE("issue 19: reset of an account leaves its domain, reset of the domain frees every account",
          "[integration][aggregate]") {
    Slapd s(with_domain({"day messages 3"}, 2));
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    auto op = s.connect(kAdminDn, kPassword);
    for (int i = 0; i < 3; ++i) REQUIRE(charge_one(*svc, member_dn(i % 2)).response.verdict == Verdict::accepted);
    REQUIRE(charge_one(*svc, member_dn(0)).response.verdict == Verdict::refused);
    ResetRequest account;
    account.account = member_dn(0);
    REQUIRE(client::reset(*op, account).code == LDAP_SUCCESS);
    auto still = charge_one(*svc, member_dn(0));
    CHECK(still.response.verdict == Verdict::refused);  // the domain's count stays
    CHECK(still.response.exceeded->level == Level::aggregate);
    CHECK(used(still.response, "day") == 0);
    ResetRequest domain;
    domain.account = kDomain;
    domain.window = "day";
    REQUIRE(client::reset(*op, domain).code == LDAP_SUCCESS);
    CHECK_THAT(s.log(), Catch::Contains("TALLY RESET dn=\"" + kDomain + "\" level=aggregate window=day"));
    auto freed = charge_one(*svc, member_dn(1));
    CHECK(freed.response.verdict == Verdict::accepted);
    CHECK(aggregate_used(freed.response) == 1);
    // The service may charge but not reset the domain.
    CHECK(client::reset(*svc, domain).code == LDAP_INSUFFICIENT_ACCESS);
}

TEST_CASE("issue 19: a duplicate charge id counts nothing in the domain, cancel takes it back from both",
          "[integration][aggregate][cancel]") {
    Slapd s(with_domain({"day messages 10"}, 1));
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    REQUIRE(charge_one(*svc, member_dn(0), 3, 100, "QID1").response.verdict == Verdict::accepted);
    auto dup = charge_one(*svc, member_dn(0), 3, 100, "QID1");
    CHECK(dup.response.verdict == Verdict::duplicate);
    CHECK(aggregate_used(dup.response) == 1);
    auto back = charge_one(*svc, member_dn(0), 3, 100, "QID1", Mode::cancel);
    REQUIRE(back.ldap.code == LDAP_SUCCESS);
    CHECK(aggregate_used(back.response) == 0);
    CHECK(used(back.response, "day") == 0);
    auto root = s.connect();
    CHECK_THAT(joined(ldap_values(*root, kDomain, "tallyUsage")), Catch::Contains(" messages=0 recipients=0 "));
}

TEST_CASE("issue 19: a new period moves the domain's count into its history", "[integration][aggregate]") {
    Slapd s(with_domain({"day messages 10"}, 1));
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    REQUIRE(charge_one(*svc, member_dn(0)).response.verdict == Verdict::accepted);
    REQUIRE(charge_one(*svc, member_dn(0)).response.verdict == Verdict::accepted);
    s.set_clock(kMorning + 86400);
    auto next = charge_one(*svc, member_dn(0));
    REQUIRE(next.response.verdict == Verdict::accepted);
    CHECK(aggregate_used(next.response) == 1);
    auto root = s.connect();
    CHECK_THAT(joined(ldap_values(*root, kDomain, "tallyHistory")), Catch::Contains("day 2026-11-22 sid=0 messages=2 "));
}

TEST_CASE("issue 19: with tally-counter-database the domain's counters live apart too",
          "[integration][aggregate][counters]") {
    Slapd s(with_domain({"day messages 4"}, 2, "tally-counter-database dc=example,dc=com\n"));
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    int accepted = 0;
    for (int i = 0; i < 6; ++i) accepted += charge_one(*svc, member_dn(i % 2)).response.verdict == Verdict::accepted;
    CHECK(accepted == 4);
    auto root = s.connect();
    CHECK_THAT(joined(ldap_values(*root, kDomain, "tallyUsage")), Catch::Contains(" messages=4 "));
}
