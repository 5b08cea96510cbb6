// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// slapo-tally inside the real Debian slapd: verdicts, roll-over, limit
// resolution, attribute mapping, charge ids, ACLs, persistence, cn=config,
// bad input, and exactness under concurrent charges.
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z

SlapdOptions standard(const std::string &extra = "") {
    SlapdOptions o;
    o.overlay_config = "tally-window hour\ntally-window day\ntally-timezone UTC\ntally-history 3\n" + extra;
    return o;
}

/* Charged - what concurrent_charges saw */
struct Charged {
    std::vector<int> accepted;  // per account
    int errors = 0;             // LDAP failures (1000 per connection that failed outright)
};

/* concurrent_charges - per_account connections for every account, each
 * sending `charges` charges of one message at once with the others */
Charged concurrent_charges(const Slapd &s, const std::vector<std::string> &accounts, int per_account, int charges) {
    std::vector<std::atomic<int>> accepted(accounts.size());
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (std::size_t a = 0; a < accounts.size(); ++a)
        for (int t = 0; t < per_account; ++t)
            threads.emplace_back([&, a] {
                try {
                    auto c = s.connect(kServiceDn, kPassword);
                    for (int i = 0; i < charges; ++i) {
                        auto r = charge_one(*c, accounts[a]);
                        if (r.ldap.code != LDAP_SUCCESS) ++errors;
                        else if (r.response.verdict == Verdict::accepted) ++accepted[a];
                    }
                } catch (...) {
                    errors += 1000;
                }
            });
    for (auto &t : threads) t.join();
    Charged out;
    for (auto &n : accepted) out.accepted.push_back(n);
    out.errors = errors;
    return out;
}

std::string raw_exop(client::Connection &c, const char *oid, const std::string &value, int *code) {
    auto r = client::extended(c, oid, value);
    *code = r.code;
    return r.text;
}

}  // namespace

TEST_CASE("charges are accepted up to the limit, then refused without charging", "[integration]") {
    Slapd s(standard());
    s.start();
    s.set_clock(kMorning);
    auto admin = s.connect();
    REQUIRE(ldap_modify(*admin, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"3"}) == LDAP_SUCCESS);
    auto svc = s.connect(kServiceDn, kPassword);
    for (int i = 1; i <= 3; ++i) {
        auto r = charge_one(*svc, kAlice, 2, 1000);
        REQUIRE(r.ldap.code == LDAP_SUCCESS);
        CHECK(r.response.verdict == Verdict::accepted);
        CHECK(used(r.response, "day") == static_cast<unsigned>(i));
    }
    auto r = charge_one(*svc, kAlice, 2, 1000);
    REQUIRE(r.ldap.code == LDAP_SUCCESS);
    CHECK(r.response.verdict == Verdict::refused);
    REQUIRE(r.response.exceeded);
    CHECK(r.response.exceeded->window == "day");
    CHECK(r.response.exceeded->metric == Metric::messages);
    CHECK(r.response.exceeded->limit == 3);
    CHECK(r.response.exceeded->usage == 3);
    CHECK_THAT(r.ldap.text, Catch::Contains("day limit of 3 messages"));
    // Nothing was charged for the refused message, in any window.
    auto counters = ldap_values(*admin, kAlice, "tallyUsage");
    REQUIRE(counters.size() == 2);
    CHECK_THAT(counters[0] + counters[1],
               Catch::Contains("day 2026-11-22 sid=0 messages=3 recipients=6 bytes=3000 byteRecipients=6000"));
    CHECK_THAT(counters[0] + counters[1], Catch::Contains("hour 2026-11-22T10 sid=0 messages=3 "));
    CHECK_THAT(s.log(), Catch::Contains("TALLY CHARGE dn=\"uid=alice,ou=people,dc=example,dc=com\" mode=charge"));
    CHECK_THAT(s.log(), Catch::Contains("verdict=refused exceeded=day limit of 3 messages reached"));
}

TEST_CASE("a new period starts from zero and keeps the last one as history", "[integration]") {
    Slapd s(standard());
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    auto admin = s.connect();
    REQUIRE(ldap_modify(*admin, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerHour", {"2"}) == LDAP_SUCCESS);
    charge_one(*svc, kAlice);
    charge_one(*svc, kAlice);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);
    s.set_clock(kMorning + 3600);  // next hour, same day
    auto r = charge_one(*svc, kAlice);
    CHECK(r.response.verdict == Verdict::accepted);
    CHECK(used(r.response, "hour") == 1);
    CHECK(used(r.response, "day") == 3);
    s.set_clock(kMorning + 86400);  // next day
    r = charge_one(*svc, kAlice);
    CHECK(used(r.response, "day") == 1);
    auto history = ldap_values(*admin, kAlice, "tallyHistory");
    std::string all;
    for (auto &h : history) all += h + "\n";
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=0 messages=3"));
    CHECK_THAT(all, Catch::Contains("hour 2026-11-22T10 sid=0 messages=2"));
}

namespace {

/* stored_record - what slapd stores for the entries matching filter
 * (slapcat), not what a search adds to them */
std::string stored_record(const Slapd &s, const std::string &filter) {
    const std::string out = s.dir() + "/slapcat-" + std::to_string(::getpid()) + ".ldif";
    int rc = run_command({openldap().tool("slapcat"), "-f", s.dir() + "/slapd.conf", "-b", kSuffix, "-o", "ldif_wrap=no",
                          "-a", filter, "-l", out},
                         s.dir() + "/slapcat.log");
    INFO(read_text(s.dir() + "/slapcat.log"));
    REQUIRE(rc == 0);
    std::string text = read_text(out);
    std::remove(out.c_str());
    return text;
}

}  // namespace

TEST_CASE("history lives in an entry of its own, named by the account's entryUUID, written at roll-over",
          "[integration][history]") {
    Slapd s(standard());
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    auto admin = s.connect();
    charge_one(*svc, kAlice);
    auto uuid = ldap_values(*admin, kAlice, "entryUUID");
    REQUIRE(uuid.size() == 1);
    const std::string place = "cn=" + uuid[0] + ",cn=tally-history-sid0," + kSuffix;
    // Within a period nothing is written there.
    CHECK(ldap_values(*admin, place, "objectClass").empty());

    s.set_clock(kMorning + 86400);
    charge_one(*svc, kAlice);
    CHECK_THAT(joined(ldap_values(*admin, place, "objectClass")), Catch::Contains("tallyHistoryRecord"));
    auto kept = ldap_values(*admin, place, "tallyHistory");
    CHECK(kept.size() == 2);  // day and hour of 2026-11-22
    CHECK_THAT(joined(kept), Catch::Contains("day 2026-11-22 sid=0 messages=1 "));
    // The account record itself carries today's counters only ...
    std::string record = stored_record(s, "(uid=alice)");
    CHECK_THAT(record, Catch::Contains("tallyUsage: day 2026-11-23 sid=0 messages=1 "));
    CHECK_THAT(record, !Catch::Contains("tallyHistory"));
    // ... and a search of the account shows the history as before.
    CHECK(ldap_values(*admin, kAlice, "tallyHistory") == kept);
    // Only as many periods as tally-history says are kept.
    for (int day = 2; day <= 5; ++day) {
        s.set_clock(kMorning + day * 86400);
        charge_one(*svc, kAlice);
    }
    auto days = joined(ldap_values(*admin, kAlice, "tallyHistory"));
    CHECK_THAT(days, !Catch::Contains("day 2026-11-23 "));
    CHECK_THAT(days, Catch::Contains("day 2026-11-24 ") && Catch::Contains("day 2026-11-25 ") &&
                         Catch::Contains("day 2026-11-26 "));
    // The history entries are no one else's business (example ACL, rule 0):
    // a user does not even see that they exist, only the history on her entry.
    auto user = s.connect(kAlice, "secret");
    CHECK(ldap_values(*user, place, "objectClass").empty());
    CHECK(ldap_values(*user, kAlice, "tallyHistory").size() == 6);
}

TEST_CASE("tally-history-database keeps history entries in a database of their own", "[integration][history]") {
    SlapdOptions o = standard("tally-history-database cn=tally-history\n");
    o.extra_databases = "database mdb\nsuffix cn=tally-history\nrootdn cn=admin,cn=tally-history\n"
                        "rootpw " + std::string(kRootPw) + "\ndirectory @DIR@/history\nmaxsize 268435456\ndbnosync\n";
    Slapd s(o);
    s.start();
    auto admin = s.connect();
    // The root entry of the history database, as an administrator would add
    // it; the overlay adds the rest.
    REQUIRE(ldap_add(*s.connect("cn=admin,cn=tally-history", kRootPw), "cn=tally-history", {{"objectClass", {"tallyHistoryContainer"}}, {"cn", {"tally-history"}}}) ==
            LDAP_SUCCESS);
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    charge_one(*svc, kAlice);
    s.set_clock(kMorning + 86400);
    charge_one(*svc, kAlice);
    auto uuid = ldap_values(*admin, kAlice, "entryUUID");
    REQUIRE(uuid.size() == 1);
    const std::string place = "cn=" + uuid[0] + ",cn=tally-history-sid0,cn=tally-history";
    CHECK_THAT(joined(ldap_values(*admin, place, "tallyHistory")), Catch::Contains("day 2026-11-22 sid=0 messages=1 "));
    // Not in the account's database, and shown on the account all the same.
    CHECK(ldap_values(*admin, "cn=" + uuid[0] + ",cn=tally-history-sid0," + kSuffix, "tallyHistory").empty());
    CHECK_THAT(joined(ldap_values(*admin, kAlice, "tallyHistory")), Catch::Contains("day 2026-11-22 sid=0 messages=1 "));
}

TEST_CASE("a tally-history-database no database holds: the roll-over is refused clearly, nothing counted",
          "[integration][history]") {
    Slapd s(standard("tally-history-database cn=nowhere\n"));
    s.start();
    s.set_clock(kMorning);
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    s.set_clock(kMorning + 86400);
    auto r = charge_one(*svc, kAlice);
    CHECK(r.ldap.code == LDAP_OTHER);
    CHECK_THAT(r.ldap.text, Catch::Contains("history could not be written"));
    CHECK_THAT(s.log(), Catch::Contains("no database holds \"cn=tally-history-sid0,cn=nowhere\""));
    // Yesterday's count is still where it was.
    CHECK_THAT(joined(ldap_values(*s.connect(), kAlice, "tallyUsage")), Catch::Contains("day 2026-11-22 sid=0 messages=1 "));
}

TEST_CASE("history an earlier version kept in the account moves out at the next roll-over",
          "[integration][history]") {
    SlapdOptions o = standard();
    o.data_ldif = R"(
dn: uid=dave,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: dave
cn: Dave
sn: Dave
entryUUID: 0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e
tallyUsage: day 2026-11-21 sid=0 messages=4 recipients=4 bytes=400 byteRecipients=400
tallyHistory: day 2026-11-20 sid=0 messages=9 recipients=9 bytes=900 byteRecipients=900
)";
    Slapd s(o);
    s.start();
    s.set_clock(kMorning);
    const std::string dave = person_dn("dave");
    auto admin = s.connect();
    CHECK(charge_one(*s.connect(kServiceDn, kPassword), dave).response.verdict == Verdict::accepted);
    const std::string place = std::string("cn=0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e,cn=tally-history-sid0,") + kSuffix;
    auto kept = joined(ldap_values(*admin, place, "tallyHistory"));
    CHECK_THAT(kept, Catch::Contains("day 2026-11-20 sid=0 messages=9 ") &&
                         Catch::Contains("day 2026-11-21 sid=0 messages=4 "));
    std::string record = stored_record(s, "(uid=dave)");
    CHECK_THAT(record, Catch::Contains("tallyUsage: day 2026-11-22 sid=0 messages=1 "));
    CHECK_THAT(record, !Catch::Contains("tallyHistory"));
    CHECK(ldap_values(*admin, dave, "tallyHistory").size() == 2);
}

TEST_CASE("limits resolve account, then its policy, then the parent's policy, then defaults", "[integration]") {
    SlapdOptions o = standard("tally-default-limit day messages 10\n");
    o.data_ldif = R"(
dn: cn=premium,ou=policies,dc=example,dc=com
objectClass: tallyPolicy
cn: premium
tallyMessagesPerDay: 5
tallyRecipientsPerDay: unlimited

dn: cn=domain-standard,ou=policies,dc=example,dc=com
objectClass: tallyPolicy
cn: domain-standard
tallyMessagesPerDay: 7
tallyRecipientsPerDay: 70

dn: ou=hosted,dc=example,dc=com
objectClass: organizationalUnit
objectClass: tallyAccount
ou: hosted
tallyPolicyDN: cn=domain-standard,ou=policies,dc=example,dc=com

dn: uid=dave,ou=hosted,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: dave
cn: Dave
sn: Dave
tallyPolicyDN: cn=premium,ou=policies,dc=example,dc=com

dn: uid=erin,ou=hosted,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: erin
cn: Erin
sn: Erin

dn: uid=frank,ou=hosted,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: frank
cn: Frank
sn: Frank
tallyPolicyDN: cn=premium,ou=policies,dc=example,dc=com
tallyMessagesPerDay: 2
)";
    Slapd s(o);
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    auto limit = [&](const std::string &dn, Metric m) {
        auto r = charge_one(*svc, dn, 0, 0, "", Mode::check);
        REQUIRE(r.ldap.code == LDAP_SUCCESS);
        for (auto &w : r.response.windows)
            if (w.window == "day") return w.limits[static_cast<int>(m)];
        return std::optional<std::uint64_t>(12345);
    };
    const std::string dave = "uid=dave,ou=hosted,dc=example,dc=com";
    const std::string erin = "uid=erin,ou=hosted,dc=example,dc=com";
    const std::string frank = "uid=frank,ou=hosted,dc=example,dc=com";
    CHECK(limit(frank, Metric::messages) == 2u);           // account
    CHECK(limit(dave, Metric::messages) == 5u);            // its policy
    CHECK_FALSE(limit(dave, Metric::recipients));          // policy says unlimited
    CHECK(limit(erin, Metric::messages) == 7u);            // parent's policy
    CHECK(limit(erin, Metric::recipients) == 70u);
    CHECK(limit(kAlice, Metric::messages) == 10u);         // overlay default
    CHECK_FALSE(limit(kAlice, Metric::recipients));        // nothing anywhere: unlimited

    auto admin = s.connect();
    // "inherit" on the account is the same as not setting it.
    REQUIRE(ldap_modify(*admin, frank, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"inherit"}) == LDAP_SUCCESS);
    CHECK(limit(frank, Metric::messages) == 5u);
    // "unlimited" on the account overrides every lower level.
    REQUIRE(ldap_modify(*admin, frank, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"unlimited"}) == LDAP_SUCCESS);
    CHECK_FALSE(limit(frank, Metric::messages));
    // The generic tallyLimit form works for any window.
    REQUIRE(ldap_modify(*admin, kAlice, LDAP_MOD_ADD, "tallyLimit", {"hour bytes 4096"}) == LDAP_SUCCESS);
    auto r = charge_one(*svc, kAlice, 1, 5000);
    CHECK(r.response.verdict == Verdict::refused);
    CHECK(r.response.exceeded->metric == Metric::bytes);
    // A domain that changes its policy takes effect at once.
    REQUIRE(ldap_modify(*admin, "ou=hosted,dc=example,dc=com", LDAP_MOD_REPLACE, "tallyPolicyDN",
                        {"cn=premium,ou=policies,dc=example,dc=com"}) == LDAP_SUCCESS);
    CHECK(limit(erin, Metric::messages) == 5u);
    REQUIRE(ldap_modify(*admin, "ou=hosted,dc=example,dc=com", LDAP_MOD_DELETE, "tallyPolicyDN", {}) ==
            LDAP_SUCCESS);
    CHECK(limit(erin, Metric::messages) == 10u);
    // A typo in a limit is refused at write time, with the reason.
    std::string text;
    CHECK(ldap_modify(*admin, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"5OO"}, &text) ==
          LDAP_CONSTRAINT_VIOLATION);
    CHECK_THAT(text, Catch::Contains("not a whole number"));
}

TEST_CASE("a directory profiled for mtpolicyd works through attribute mapping", "[integration]") {
    SlapdOptions o = standard(
        "tally-limit-attribute day messages mtpolicydMailMessageLimit\n"
        "tally-limit-attribute day recipients mtpolicydMailRecipientLimit\n"
        "tally-limit-attribute day bytes mtpolicydMailSizeLimit\n"
        "tally-limit-attribute day byteRecipients mtpolicydMailSizeRecipientLimit\n");
    o.schema_files.push_back(source_path("tests/fixtures/mtpolicyd.schema"));
    o.data_ldif = R"(
dn: uid=mt,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: mtpolicyd
uid: mt
cn: MT
sn: MT
mtpolicydMailMessageLimit: 2
mtpolicydMailRecipientLimit: 3
)";
    Slapd s(o);
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    const std::string mt = person_dn("mt");
    CHECK(charge_one(*svc, mt, 2).response.verdict == Verdict::accepted);
    auto r = charge_one(*svc, mt, 2);
    CHECK(r.response.verdict == Verdict::refused);
    CHECK(r.response.exceeded->metric == Metric::recipients);
    CHECK(r.response.exceeded->limit == 3);
    CHECK(charge_one(*svc, mt, 1).response.verdict == Verdict::accepted);
    r = charge_one(*svc, mt, 0);
    CHECK(r.response.verdict == Verdict::refused);
    CHECK(r.response.exceeded->metric == Metric::messages);
}

TEST_CASE("a repeated charge id is counted once", "[integration]") {
    Slapd s(standard());
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice, 1, 10, "4XbT2c1NqVz").response.verdict == Verdict::accepted);
    auto again = charge_one(*svc, kAlice, 1, 10, "4XbT2c1NqVz");
    CHECK(again.response.verdict == Verdict::duplicate);
    CHECK(used(again.response, "day") == 1);
    // after a restart, too: the ids are stored with the counters
    s.stop();
    s.start();
    auto svc2 = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc2, kAlice, 1, 10, "4XbT2c1NqVz").response.verdict == Verdict::duplicate);
    CHECK(charge_one(*svc2, kAlice, 1, 10, "other").response.verdict == Verdict::accepted);
}

TEST_CASE("who may charge, read and reset is an ACL decision", "[integration][acl]") {
    Slapd s(standard());
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    auto alice = s.connect(kAlice, kPassword);
    auto bob = s.connect(kBob, kPassword);
    auto anon = s.connect("", "");
    auto op = s.connect(kAdminDn, kPassword);

    SECTION("the service identity charges") {
        CHECK(charge_one(*svc, kAlice).ldap.code == LDAP_SUCCESS);
    }
    SECTION("a user cannot charge, not even themselves") {
        auto r = charge_one(*alice, kAlice);
        CHECK(r.ldap.code == LDAP_INSUFFICIENT_ACCESS);
        CHECK_THAT(r.ldap.text, Catch::Contains("tallyCharge"));
    }
    SECTION("anonymous is told to authenticate") {
        CHECK(charge_one(*anon, kAlice).ldap.code == LDAP_STRONG_AUTH_REQUIRED);
        ResetRequest rr{kAlice, ""};
        CHECK(client::reset(*anon, rr).code == LDAP_STRONG_AUTH_REQUIRED);
    }
    SECTION("a user reads their own usage, not someone else's") {
        charge_one(*svc, kAlice);
        auto own = charge_one(*alice, kAlice, 0, 0, "", Mode::check);
        CHECK(own.ldap.code == LDAP_SUCCESS);
        CHECK(used(own.response, "day") == 1);
        CHECK(charge_one(*bob, kAlice, 0, 0, "", Mode::check).ldap.code == LDAP_INSUFFICIENT_ACCESS);
        CHECK(ldap_values(*alice, kAlice, "tallyUsage").size() == 2);
        CHECK(ldap_values(*bob, kAlice, "tallyUsage").empty());
    }
    SECTION("reset: administrators yes, the service and users no") {
        charge_one(*svc, kAlice);
        ResetRequest day{kAlice, "day"};
        CHECK(client::reset(*svc, day).code == LDAP_INSUFFICIENT_ACCESS);
        CHECK(client::reset(*alice, day).code == LDAP_INSUFFICIENT_ACCESS);
        REQUIRE(client::reset(*op, day).code == LDAP_SUCCESS);
        auto r = charge_one(*svc, kAlice, 0, 0, "", Mode::check);
        CHECK(used(r.response, "day") == 0);
        CHECK(used(r.response, "hour") == 1);
        ResetRequest all{kAlice, ""};
        REQUIRE(client::reset(*op, all).code == LDAP_SUCCESS);
        CHECK(used(charge_one(*svc, kAlice, 0, 0, "", Mode::check).response, "hour") == 0);
        ResetRequest bad{kAlice, "fortnight"};
        CHECK(client::reset(*op, bad).code == LDAP_NO_SUCH_ATTRIBUTE);
        CHECK_THAT(s.log(), Catch::Contains("TALLY RESET dn=\"uid=alice,ou=people,dc=example,dc=com\" window=day"));
    }
    SECTION("users cannot change their own limits; administrators can") {
        CHECK(ldap_modify(*alice, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"999"}) ==
              LDAP_INSUFFICIENT_ACCESS);
        CHECK(ldap_modify(*op, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"50"}) == LDAP_SUCCESS);
    }
}

TEST_CASE("no one changes a counter with ldapmodify", "[integration][acl]") {
    Slapd s(standard());
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    charge_one(*svc, kAlice);
    auto root = s.connect();
    auto alice = s.connect(kAlice, kPassword);
    std::string text;
    const std::string fake = "day 2026-11-22 sid=0 messages=0 recipients=0 bytes=0 byteRecipients=0";
    CHECK(ldap_modify(*alice, kAlice, LDAP_MOD_REPLACE, "tallyUsage", {fake}, &text) == LDAP_CONSTRAINT_VIOLATION);
    CHECK(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyUsage", {fake}, &text) == LDAP_CONSTRAINT_VIOLATION);
    CHECK(ldap_modify(*root, kAlice, LDAP_MOD_DELETE, "tallyUsage", {}, &text) == LDAP_CONSTRAINT_VIOLATION);
    // even the rootdn with the Relax control
    CHECK(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyUsage", {fake}, &text, true) ==
          LDAP_CONSTRAINT_VIOLATION);
    CHECK_THAT(text, Catch::Contains("tallyUsage"));
    CHECK(ldap_modify(*root, kAlice, LDAP_MOD_ADD, "tallyCharge", {"TRUE"}, &text) == LDAP_CONSTRAINT_VIOLATION);
    // the ACL pseudo-attributes are not counters: the text says what they are for
    CHECK_THAT(text, Catch::Contains("ACL pseudo-attribute") && Catch::Contains("allow charging") &&
                         !Catch::Contains("tallyctl reset"));
    auto counters = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(counters.size() == 2);
    CHECK_THAT(counters[0], Catch::Contains("messages=1"));
}

TEST_CASE("counters survive a restart and a crash", "[integration]") {
    Slapd s(standard());
    s.start();
    {
        auto svc = s.connect(kServiceDn, kPassword);
        for (int i = 0; i < 5; ++i) charge_one(*svc, kAlice);
    }
    s.stop();
    s.start();
    {
        auto svc = s.connect(kServiceDn, kPassword);
        CHECK(used(charge_one(*svc, kAlice).response, "day") == 6);
    }
    s.kill_hard();
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(used(charge_one(*svc, kAlice, 0, 0, "", Mode::check).response, "day") == 6);
}

TEST_CASE("cn=config changes take effect at once", "[integration][config]") {
    Slapd s(standard("tally-default-limit day messages 100\n"));
    s.start();
    auto cfg = s.connect(kConfigDn, kRootPw);
    auto svc = s.connect(kServiceDn, kPassword);
    const std::string overlay_dn = "olcOverlay={0}tally,olcDatabase={1}mdb,cn=config";
    auto defaults = ldap_values(*cfg, overlay_dn, "olcTallyDefaultLimit");
    REQUIRE(defaults.size() == 1);
    CHECK(defaults[0] == "day messages 100");
    CHECK(ldap_values(*cfg, overlay_dn, "olcTallyHistory") == std::vector<std::string>{"3"});

    charge_one(*svc, kAlice);
    charge_one(*svc, kAlice);
    REQUIRE(ldap_modify(*cfg, overlay_dn, LDAP_MOD_REPLACE, "olcTallyDefaultLimit", {"day messages 2"}) ==
            LDAP_SUCCESS);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);

    // a new window, added at runtime, starts counting
    REQUIRE(ldap_modify(*cfg, overlay_dn, LDAP_MOD_ADD, "olcTallyWindow", {"month"}) == LDAP_SUCCESS);
    auto r = charge_one(*svc, kBob);
    REQUIRE(r.response.windows.size() == 3);
    CHECK(used(r.response, "month") == 1);

    // accounting-only: counts, never refuses
    REQUIRE(ldap_modify(*cfg, overlay_dn, LDAP_MOD_REPLACE, "olcTallyAccountingOnly", {"TRUE"}) == LDAP_SUCCESS);
    r = charge_one(*svc, kAlice);
    CHECK(r.response.verdict == Verdict::accepted);
    CHECK(used(r.response, "day") == 3);

    // bad values are refused with the reason, and the old configuration stays
    std::string text;
    CHECK(ldap_modify(*cfg, overlay_dn, LDAP_MOD_REPLACE, "olcTallyTimezone", {"Mars/Base"}, &text) != LDAP_SUCCESS);
    CHECK_THAT(text, Catch::Contains("Mars/Base"));
    CHECK(ldap_modify(*cfg, overlay_dn, LDAP_MOD_ADD, "olcTallyDefaultLimit", {"day flights 3"}, &text) !=
          LDAP_SUCCESS);
    CHECK(ldap_modify(*cfg, overlay_dn, LDAP_MOD_DELETE, "olcTallyDefaultLimit", {"day messages 2"}) == LDAP_SUCCESS);
    CHECK(ldap_values(*cfg, overlay_dn, "olcTallyDefaultLimit").empty());
}

TEST_CASE("bad requests get a clear result code and change nothing", "[integration][hostile]") {
    Slapd s(standard());
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    int code = 0;
    std::string text = raw_exop(*svc, kChargeOid, std::string("\x30\x03\x04\x01", 4), &code);
    CHECK(code == LDAP_PROTOCOL_ERROR);
    CHECK_THAT(text, Catch::Contains("malformed charge request"));
    text = raw_exop(*svc, kChargeOid, "garbage", &code);
    CHECK(code == LDAP_PROTOCOL_ERROR);
    text = raw_exop(*svc, kResetOid, "", &code);
    CHECK(code == LDAP_PROTOCOL_ERROR);
    CHECK(charge_one(*svc, person_dn("nobody")).ldap.code == LDAP_NO_SUCH_OBJECT);
    CHECK(charge_one(*svc, "not a dn").ldap.code == LDAP_INVALID_DN_SYNTAX);
    CHECK(charge_one(*svc, "uid=x,dc=elsewhere,dc=org").ldap.code == LDAP_NO_SUCH_OBJECT);
    CHECK(charge_one(*svc, "uid=alice)(uid=*,ou=people,dc=example,dc=com").ldap.code == LDAP_NO_SUCH_OBJECT);
    // slapd is still there and nothing was charged
    CHECK(used(charge_one(*svc, kAlice, 0, 0, "", Mode::check).response, "day") == 0);
}

TEST_CASE("a database without the overlay refuses charges clearly", "[integration]") {
    Slapd s(standard());
    s.start();
    auto cfg = s.connect(kConfigDn, kRootPw);
    auto r = charge_one(*cfg, "olcDatabase={1}mdb,cn=config");
    CHECK(r.ldap.code == LDAP_UNWILLING_TO_PERFORM);
    CHECK_THAT(r.ldap.text, Catch::Contains("overlay is not configured"));
}

TEST_CASE("exactness: 8 connections x 250 charges against a limit of 500", "[integration][exact]") {
    Slapd s(standard("tally-default-limit day messages 500\n"));
    s.start();
    std::atomic<int> accepted{0}, refused{0}, errors{0}, first_hits{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            try {
                auto c = s.connect(kServiceDn, kPassword);
                for (int i = 0; i < 250; ++i) {
                    auto r = charge_one(*c, kCarol);
                    if (r.ldap.code != LDAP_SUCCESS) ++errors;
                    else if (r.response.verdict == Verdict::accepted) ++accepted;
                    else ++refused;
                    if (r.response.first_hit) ++first_hits;
                }
            } catch (...) {
                errors += 1000;
            }
        });
    }
    for (auto &t : threads) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 500);
    CHECK(refused == 1500);
    CHECK(first_hits == 1);  // one alert for 1500 refusals from 8 connections
    auto root = s.connect();
    auto counters = ldap_values(*root, kCarol, "tallyUsage");
    std::string all = counters.empty() ? "" : counters[0] + counters.back();
    CHECK_THAT(all, Catch::Contains(" sid=0 messages=500 "));
}

TEST_CASE("exactness holds per account while other accounts are charged at the same time", "[integration][exact]") {
    // Each account has its own lock: three accounts, three connections each,
    // 120 charges per connection against a limit of 200 a day.
    Slapd s(standard("tally-default-limit day messages 200\n"));
    s.start();
    const std::vector<std::string> accounts = {kAlice, kBob, kCarol};
    Charged got = concurrent_charges(s, accounts, 3, 120);
    CHECK(got.errors == 0);
    auto root = s.connect();
    for (std::size_t a = 0; a < accounts.size(); ++a) {
        INFO(accounts[a]);
        CHECK(got.accepted[a] == 200);
        CHECK_THAT(joined(ldap_values(*root, accounts[a], "tallyUsage")), Catch::Contains(" sid=0 messages=200 "));
    }
}

TEST_CASE("group commit: with fsync on every commit, charges of many accounts share commits and stay exact",
          "[integration][exact]") {
    // Twelve connections, two per account, 60 charges each against a limit
    // of 100 a day: the writes of different accounts go into shared
    // transactions (the log says batch=N), and every account stops at 100.
    SlapdOptions o = standard("tally-default-limit day messages 100\n");
    o.nosync = false;
    std::vector<std::string> accounts;
    for (int i = 0; i < 6; ++i) {
        std::string uid = "gc" + std::to_string(i);
        accounts.push_back(person_dn(uid));
        o.data_ldif += "\ndn: " + accounts.back() + "\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\nuid: " +
                       uid + "\ncn: " + uid + "\nsn: " + uid + "\n";
    }
    Slapd s(o);
    s.start();
    Charged got = concurrent_charges(s, accounts, 2, 60);
    CHECK(got.errors == 0);
    auto root = s.connect();
    for (std::size_t a = 0; a < accounts.size(); ++a) {
        INFO(accounts[a]);
        CHECK(got.accepted[a] == 100);
        CHECK_THAT(joined(ldap_values(*root, accounts[a], "tallyUsage")), Catch::Contains(" sid=0 messages=100 "));
    }
    CHECK_THAT(s.log(), Catch::Contains(" batch="));
}

TEST_CASE("group commit: charges of one account from many connections share commits and stay exact",
          "[integration][exact]") {
    // Sixteen connections, 25 charges each, all of one account limited to
    // 150 a day, fsync on every commit: a charge decides on the state the
    // previous one queued (not yet committed), so one commit carries several
    // charges of the same account (batch=N in its log), and exactly 150
    // are accepted and counted.
    SlapdOptions o = standard("tally-default-limit day messages 150\n");
    o.nosync = false;
    const std::string account = person_dn("burst");
    o.data_ldif += "\ndn: " + account + "\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\nuid: burst\n"
                   "cn: burst\nsn: burst\n";
    Slapd s(o);
    s.start();
    Charged got = concurrent_charges(s, {account}, 16, 25);
    CHECK(got.errors == 0);
    CHECK(got.accepted[0] == 150);
    auto root = s.connect();
    CHECK_THAT(joined(ldap_values(*root, account, "tallyUsage")), Catch::Contains(" sid=0 messages=150 "));
    // The only account charged: any shared commit carried several of its charges.
    CHECK_THAT(s.log(), Catch::Contains("verdict=accepted batch="));
}

TEST_CASE("ACL: every user may read objectClass (searches filter on it), only administrators change it",
          "[integration][acl]") {
    Slapd s(standard());
    s.start();
    auto bob = s.connect(kBob, kPassword);
    auto classes = ldap_values(*bob, kAlice, "objectClass");
    CHECK(std::find(classes.begin(), classes.end(), "tallyAccount") != classes.end());
    CHECK(ldap_modify(*bob, kAlice, LDAP_MOD_ADD, "objectClass", {"tallyPolicy"}) == LDAP_INSUFFICIENT_ACCESS);
    CHECK(ldap_modify(*bob, kBob, LDAP_MOD_DELETE, "objectClass", {"tallyAccount"}) ==
          LDAP_INSUFFICIENT_ACCESS);
    // limits stay private: bob still cannot read alice's
    auto op = s.connect(kAdminDn, kPassword);
    REQUIRE(ldap_modify(*op, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"7"}) == LDAP_SUCCESS);
    CHECK(ldap_values(*bob, kAlice, "tallyMessagesPerDay").empty());
    CHECK(ldap_values(*op, kAlice, "tallyMessagesPerDay") == std::vector<std::string>{"7"});
}

TEST_CASE("ACL: delegated domain administrators set limits, read usage and reset in their own domain only", "[integration][acl]") {
    SlapdOptions o = standard();
    o.data_ldif = R"(
dn: ou=example.org,dc=example,dc=com
objectClass: organizationalUnit
ou: example.org

dn: uid=orgadmin,ou=example.org,dc=example,dc=com
objectClass: inetOrgPerson
uid: orgadmin
cn: Org Admin
sn: Admin
userPassword: secret

dn: cn=admins,ou=example.org,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: uid=orgadmin,ou=example.org,dc=example,dc=com

dn: uid=oliver,ou=example.org,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: oliver
cn: Oliver
sn: Oliver
userPassword: secret
)";
    Slapd s(o);
    s.start();
    const std::string oliver = "uid=oliver,ou=example.org,dc=example,dc=com";
    auto admin = s.connect("uid=orgadmin,ou=example.org,dc=example,dc=com", kPassword);
    auto svc = s.connect(kServiceDn, kPassword);
    charge_one(*svc, oliver);
    // own domain: limits and policy yes
    CHECK(ldap_modify(*admin, oliver, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"42"}) == LDAP_SUCCESS);
    CHECK(ldap_modify(*admin, oliver, LDAP_MOD_REPLACE, "tallyPolicyDN", {"cn=x,ou=policies,dc=example,dc=com"}) ==
          LDAP_SUCCESS);
    CHECK(ldap_modify(*admin, oliver, LDAP_MOD_REPLACE, "tallyBlocked", {"TRUE"}) == LDAP_SUCCESS);
    // counters: read and reset in the own domain (rules 2a, 3a), never charged or written
    CHECK(charge_one(*admin, oliver, 0, 0, "", Mode::check).ldap.code == LDAP_SUCCESS);
    ResetRequest reset{oliver, ""};
    CHECK(client::reset(*admin, reset).code == LDAP_SUCCESS);
    CHECK(charge_one(*admin, oliver).ldap.code == LDAP_INSUFFICIENT_ACCESS);
    CHECK(client::reset(*admin, ResetRequest{kAlice, ""}).code == LDAP_INSUFFICIENT_ACCESS);
    CHECK(charge_one(*admin, kAlice, 0, 0, "", Mode::check).ldap.code == LDAP_INSUFFICIENT_ACCESS);
    CHECK(ldap_modify(*admin, oliver, LDAP_MOD_DELETE, "tallyUsage", {}) != LDAP_SUCCESS);
    // never outside the domain
    CHECK(ldap_modify(*admin, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"42"}) == LDAP_INSUFFICIENT_ACCESS);
    // and the account itself still cannot change its limits
    auto self = s.connect(oliver, kPassword);
    CHECK(ldap_modify(*self, oliver, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"999"}) == LDAP_INSUFFICIENT_ACCESS);
    CHECK(ldap_values(*self, oliver, "tallyMessagesPerDay") == std::vector<std::string>{"42"});
}
