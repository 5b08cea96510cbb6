// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tally-counter-database (issue 22): each account's counters in an entry of
// their own. A charge leaves the account entry alone (modifyTimestamp,
// modifiersName, entryCSN), while the decision, group commit, reset,
// history, ACLs, ldapsearch + and tallyctl work as with counters in the
// account; counters written before the option move at the next charge.
#include "ldap_ops.h"
#include "replication_fixture.h"
#include "slapd_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace tally;
using namespace tally::test;

namespace {

constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z

const char *kApart = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 3\n"
                     "tally-counter-database dc=example,dc=com\n";

/* stored - whether the entry itself holds attr (a filter sees stored values only, not served ones) */
bool stored(client::Connection &c, const std::string &dn, const std::string &attr) {
    client::Search q;
    q.base = dn;
    q.scope = LDAP_SCOPE_BASE;
    q.filter = "(" + attr + "=*)";
    q.attributes = {"1.1"};
    return client::search(c, q).entries.size() == 1;
}

/* counter_entries - the DNs of the counter entries under the suffix */
std::vector<std::string> counter_entries(client::Connection &c) {
    client::Search q;
    q.base = kSuffix;
    q.filter = "(objectClass=tallyCounterRecord)";
    q.attributes = {"1.1"};
    std::vector<std::string> dns;
    for (const client::Entry &e : client::search(c, q).entries) dns.push_back(e.dn);
    return dns;
}

std::string first_value(client::Connection &c, const std::string &dn, const std::string &attr) {
    auto v = ldap_values(c, dn, attr);
    return v.empty() ? "" : v.front();
}

}  // namespace

TEST_CASE("counter database: a charge leaves the account entry untouched, its usage still shows on it",
          "[integration][counters]") {
    SlapdOptions o;
    o.overlay_config = kApart;
    Slapd s(o);
    s.start();
    s.set_clock(kMorning);
    auto root = s.connect();
    const std::vector<std::string> meta = {"modifyTimestamp", "modifiersName", "entryCSN"};
    std::vector<std::string> before;
    for (const std::string &a : meta) before.push_back(first_value(*root, kAlice, a));

    auto svc = s.connect(kServiceDn, kPassword);
    for (int i = 0; i < 3; ++i) CHECK(charge_one(*svc, kAlice, 2, 100).response.verdict == Verdict::accepted);
    auto refused = charge_one(*svc, kAlice);
    CHECK(refused.response.verdict == Verdict::refused);
    CHECK(used(refused.response, "day") == 3);

    for (std::size_t i = 0; i < meta.size(); ++i) CHECK(first_value(*root, kAlice, meta[i]) == before[i]);
    CHECK_FALSE(stored(*root, kAlice, "tallyUsage"));
    // one counter entry, named by alice's entryUUID, under this server's container
    const std::string uuid = first_value(*root, kAlice, "entryUUID");
    REQUIRE(counter_entries(*root) ==
            std::vector<std::string>{"cn=" + uuid + ",cn=tally-counters-sid0,dc=example,dc=com"});
    // ldapsearch + on the account shows the counters, as without the option
    auto usage = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(usage.size() == 1);
    CHECK_THAT(usage[0], Catch::StartsWith("day 2026-11-22 sid=0 messages=3 recipients=6 bytes=300 "));
    client::Search plus;
    plus.base = kAlice;
    plus.scope = LDAP_SCOPE_BASE;
    plus.attributes = {"+"};
    auto r = client::search(*root, plus);
    REQUIRE(r.entries.size() == 1);
    CHECK(r.entries[0].values("tallyUsage").size() == 1);
    CHECK(r.entries[0].values("tallyRecentCharge").empty());  // no charge ids were given
}

TEST_CASE("counter database: the account's ACLs decide who reads the counters shown on it",
          "[integration][counters][acl]") {
    SlapdOptions o;
    o.overlay_config = kApart;
    Slapd s(o);
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    auto alice = s.connect(kAlice, kPassword);
    auto bob = s.connect(kBob, kPassword);
    CHECK(ldap_values(*alice, kAlice, "tallyUsage").size() == 1);  // by self read
    CHECK(ldap_values(*bob, kAlice, "tallyUsage").empty());       // by * none
    // nor can bob read the counter entry itself
    CHECK(counter_entries(*bob).empty());
    auto admin = s.connect(kAdminDn, kPassword);
    CHECK(counter_entries(*admin).size() == 1);
}

TEST_CASE("counter database: reset, tallyctl and roll-over into history work as before",
          "[integration][counters][tallyctl]") {
    SlapdOptions o;
    o.overlay_config = kApart;
    Slapd s(o);
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    std::string out;
    const auto op = bind_options(s.uri(), kAdminDn);
    CHECK(run_tallyctl(op, {"usage", kAlice}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*day +2026-11-22 +messages +2 +3 +1\\n(.|\\n)*"));
    CHECK(run_tallyctl(op, {"reset", kAlice}, &out) == 0);
    CHECK(used(charge_one(*svc, kAlice, 1, 100, "", Mode::check).response, "day") == 0);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(run_tallyctl(op, {"report", "-b", kPeople}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*uid=alice,ou=people,dc=example,dc=com +day +2026-11-22 +messages +1 +3 "
                                   "+33%\\n(.|\\n)*"));
    // the next day: the day's counters go to history, the new day starts at 0
    s.set_clock(kMorning + 86400);
    auto next = charge_one(*svc, kAlice);
    CHECK(next.response.verdict == Verdict::accepted);
    CHECK(used(next.response, "day") == 1);
    auto root = s.connect();
    auto history = ldap_values(*root, kAlice, "tallyHistory");
    REQUIRE(history.size() == 1);
    CHECK_THAT(history[0], Catch::StartsWith("day 2026-11-22 sid=0 messages=1 "));
    CHECK_FALSE(stored(*root, kAlice, "tallyUsage"));
}

TEST_CASE("counter database: 16 connections charging one account accept exactly the limit (group commit)",
          "[integration][counters][exact]") {
    SlapdOptions o;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 150\n"
                       "tally-counter-database dc=example,dc=com\n";
    o.nosync = false;  // an fsync per commit: charges share commits
    Slapd s(o);
    s.start();
    std::atomic<int> accepted{0}, refused{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&] {
            auto svc = s.connect(kServiceDn, kPassword);
            for (int i = 0; i < 12; ++i) {
                auto out = charge_one(*svc, kAlice);
                if (out.ldap.code != LDAP_SUCCESS) ++failed;
                else if (out.response.verdict == Verdict::accepted) ++accepted;
                else ++refused;
            }
        });
    for (std::thread &t : threads) t.join();
    CHECK(failed == 0);
    CHECK(accepted == 150);
    CHECK(refused == 16 * 12 - 150);
    auto root = s.connect();
    auto usage = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(usage.size() == 1);
    CHECK_THAT(usage[0], Catch::Contains(" messages=150 "));
}

TEST_CASE("counter database: in a database of its own, charges are written there", "[integration][counters]") {
    SlapdOptions o;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 2\n"
                       "tally-counter-database cn=counters\n";
    o.extra_databases = "database mdb\nsuffix cn=counters\nrootdn cn=admin,cn=counters\nrootpw " +
                        std::string(kRootPw) + "\ndirectory @DIR@/counters\nmaxsize 268435456\ndbnosync\n";
    Slapd s(o);
    s.start();
    // the root entry of the counter database, as an administrator adds it; the overlay adds the rest
    REQUIRE(ldap_add(*s.connect("cn=admin,cn=counters", kRootPw), "cn=counters",
                     {{"objectClass", {"tallyCounterContainer"}}, {"cn", {"counters"}}}) == LDAP_SUCCESS);
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);
    auto root = s.connect();
    CHECK_FALSE(stored(*root, kAlice, "tallyUsage"));
    auto usage = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(usage.size() == 1);
    CHECK_THAT(usage[0], Catch::Contains(" messages=2 "));
    auto c = s.connect("cn=admin,cn=counters", kRootPw);
    client::Search q;
    q.base = "cn=counters";
    q.filter = "(objectClass=tallyCounterRecord)";
    q.attributes = {"tallyUsage"};
    auto r = client::search(*c, q);
    REQUIRE(r.entries.size() == 1);
    CHECK_THAT(r.entries[0].first("tallyUsage"), Catch::Contains(" messages=2 "));
}

TEST_CASE("counter database: counters kept in the account before the option move out at the next charge",
          "[integration][counters][config]") {
    SlapdOptions o;
    o.config_dir = true;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 3\n";
    Slapd s(o);
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    auto root = s.connect();
    REQUIRE(stored(*root, kAlice, "tallyUsage"));

    auto cfg = s.connect(kConfigDn, kRootPw);
    REQUIRE(ldap_modify(*cfg, "olcOverlay={0}tally,olcDatabase={1}mdb,cn=config", LDAP_MOD_REPLACE,
                        "olcTallyCounterDatabase", {"dc=example,dc=com"}) == LDAP_SUCCESS);
    // before alice's next charge, her counters still count and still show
    CHECK(used(charge_one(*svc, kAlice, 1, 100, "", Mode::check).response, "day") == 2);
    auto third = charge_one(*svc, kAlice);
    CHECK(third.response.verdict == Verdict::accepted);
    CHECK(used(third.response, "day") == 3);
    CHECK_FALSE(stored(*root, kAlice, "tallyUsage"));
    CHECK(counter_entries(*root).size() == 1);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);
    auto usage = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(usage.size() == 1);
    CHECK_THAT(usage[0], Catch::Contains(" messages=3 "));
}

TEST_CASE("counter database: two providers' shares replicate as entries of their own and converge everywhere",
          "[integration][counters][replication]") {
    Cluster c;  // the examples keep counters in the counter database
    c.start(kMorning);
    auto before = ldap_values(*c.consumer.connect(), kCarol, "modifyTimestamp");
    auto charge_on = [](const Slapd &s, int n, const std::string &tag) {
        auto conn = s.connect(kServiceDn, kPassword);
        for (int i = 0; i < n; ++i)
            REQUIRE(charge_one(*conn, kCarol, 1, 100, tag + std::to_string(i)).response.verdict == Verdict::accepted);
    };
    std::thread t1([&] { charge_on(c.p1, 30, "a"); });
    std::thread t2([&] { charge_on(c.p2, 20, "b"); });
    t1.join();
    t2.join();
    CHECK(c.settled(kCarol, 50));
    // each provider wrote its own entry; the consumer has both and shows both shares on the account
    auto consumer = c.consumer.connect();
    std::string all;
    for (const auto &v : ldap_values(*consumer, kCarol, "tallyUsage")) all += v + "\n";
    INFO(all);
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=1 messages=30 "));
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=2 messages=20 "));
    CHECK(ldap_values(*consumer, kCarol, "modifyTimestamp") == before);
    // a reset on one provider voids both shares everywhere
    {
        auto op = c.p2.connect(kAdminDn, kPassword);
        REQUIRE(client::reset(*op, ResetRequest{kCarol, "day"}).code == LDAP_SUCCESS);
    }
    CHECK(c.settled(kCarol, 0));
    charge_on(c.p1, 2, "c");
    CHECK(c.settled(kCarol, 2));
}

TEST_CASE("counter database: a consumer counts a provider's first share as soon as its counter entries arrive",
          "[integration][counters][replication]") {
    // A consumer lists no serverIDs: it finds whose counter entries to read
    // by their containers, and remembers the list. A container that
    // replication adds must make it read the list again at once (issue 23:
    // it did only after 10 s, so a consumer lagged 10 s behind a provider's
    // first charges after every start).
    Cluster c;  // the examples keep counters in the counter database
    c.start(kMorning);
    REQUIRE(usage_on(c.consumer, kCarol) == 0);  // the consumer has read the (empty) list of containers
    {
        auto svc = c.p2.connect(kServiceDn, kPassword);
        for (int i = 0; i < 3; ++i)
            REQUIRE(charge_one(*svc, kCarol, 1, 100, "f" + std::to_string(i)).response.verdict == Verdict::accepted);
    }
    const std::string uuid = first_value(*c.p2.connect(), kCarol, "entryUUID");
    const std::string record = "cn=" + uuid + ",cn=tally-counters-sid2,dc=example,dc=com";
    REQUIRE(wait_until([&] {
        for (const auto &v : ldap_values(*c.consumer.connect(), record, "tallyUsage"))
            if (v.starts_with("day 2026-11-22 sid=2 messages=3 ")) return true;
        return false;
    }));
    // Not waited for: the moment the entry is there, the consumer counts it.
    CHECK(usage_on(c.consumer, kCarol) == 3);
}

TEST_CASE("counter database: an account with usage and history in its own entry rolls over and moves both out",
          "[integration][counters]") {
    SlapdOptions o;
    o.overlay_config = kApart;
    // erin, as an earlier version left her: counters and history in her entry
    o.data_ldif = "dn: uid=erin,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\n"
                  "uid: erin\ncn: Erin\nsn: Erin\nuserPassword: secret\n"
                  "tallyUsage: day 2026-11-21 sid=0 messages=2 recipients=2 bytes=200 byteRecipients=200\n"
                  "tallyHistory: day 2026-11-20 sid=0 messages=5 recipients=5 bytes=500 byteRecipients=500\n";
    Slapd s(o);
    s.start();
    s.set_clock(kMorning);  // 2026-11-22: the 21st rolls over
    const std::string erin = person_dn("erin");
    auto root = s.connect();
    REQUIRE(stored(*root, erin, "tallyHistory"));
    auto svc = s.connect(kServiceDn, kPassword);
    auto r = charge_one(*svc, erin);
    INFO(r.ldap.text);
    REQUIRE(r.ldap.code == LDAP_SUCCESS);
    CHECK(r.response.verdict == Verdict::accepted);
    CHECK(used(r.response, "day") == 1);
    // both past days are history now, shown on erin from her history entry; her own entry holds neither
    std::string history;
    for (const auto &v : ldap_values(*root, erin, "tallyHistory")) history += v + "\n";
    INFO(history);
    CHECK_THAT(history, Catch::Contains("day 2026-11-20 sid=0 messages=5 "));
    CHECK_THAT(history, Catch::Contains("day 2026-11-21 sid=0 messages=2 "));
    CHECK_FALSE(stored(*root, erin, "tallyHistory"));
    CHECK_FALSE(stored(*root, erin, "tallyUsage"));
    CHECK(charge_one(*svc, erin).response.verdict == Verdict::accepted);
    auto usage = ldap_values(*root, erin, "tallyUsage");
    REQUIRE(usage.size() == 1);
    CHECK_THAT(usage[0], Catch::StartsWith("day 2026-11-22 sid=0 messages=2 "));
}
