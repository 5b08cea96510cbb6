// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The overlay's counters under cn=Monitor (issue 18): they move exactly with
// the charges a test makes, appear only with a monitor database, and follow
// the overlay and the monitor database through cn=config changes at runtime.
#include "ldap_ops.h"
#include "monitor_counters.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

using namespace tally;
using namespace tally::test;

namespace {

const char *kMonitorDatabase =
    "database monitor\n"
    "access to dn.subtree=\"cn=Monitor\" by dn.exact=\"cn=admin,dc=example,dc=com\" read by * none\n";

/* tally_entries - the cn=Monitor entries carrying Tally's counters, by the
 * database suffix they name; each maps counter name to value */
using Counters = std::map<std::string, std::uint64_t>;
std::map<std::string, Counters> tally_entries(client::Connection &c, int *rc = nullptr) {
    client::Search s;
    s.base = "cn=Monitor";
    s.filter = "(objectClass=tallyMonitor)";
    s.attributes = {"namingContexts", "+"};
    client::SearchResult r = client::search(c, s);
    if (rc) *rc = r.result.code;
    std::map<std::string, Counters> out;
    for (const client::Entry &e : r.entries) {
        Counters values;
        for (const MonitorAttribute &m : monitor_attributes()) {
            const auto &v = e.values(m.name);
            if (!v.empty()) values[m.name] = std::stoull(v.front());
        }
        out[e.first("namingContexts")] = values;
    }
    return out;
}

Counters counters_of(const Slapd &s) {
    auto admin = s.connect();
    auto all = tally_entries(*admin);
    REQUIRE(all.count(kSuffix) == 1);
    return all[kSuffix];
}

/* moved - the counters that changed from before to after, by how much */
Counters moved(const Counters &before, const Counters &after) {
    Counters d;
    for (const auto &[name, v] : after) {
        auto it = before.find(name);
        std::uint64_t was = it == before.end() ? 0 : it->second;
        if (v != was) d[name] = v - was;
    }
    return d;
}

}  // namespace

TEST_CASE("cn=Monitor: the database's entry carries every counter, found by the collectors' filter",
          "[integration][monitor]") {
    SlapdOptions o;
    o.extra_databases = kMonitorDatabase;
    Slapd s(o);
    s.start();
    auto admin = s.connect();
    client::Search collectors;
    collectors.base = "cn=Monitor";
    collectors.filter = "(&(|(objectClass=monitorCounterObject)(objectClass=monitoredObject))(objectClass=tallyMonitor))";
    collectors.attributes = {"namingContexts", "monitoredInfo", "+"};
    client::SearchResult r = client::search(*admin, collectors);
    REQUIRE(r.result.code == LDAP_SUCCESS);
    REQUIRE(r.entries.size() == 1);
    const client::Entry &e = r.entries.front();
    CHECK(e.dn.find("cn=Databases,cn=Monitor") != std::string::npos);
    CHECK(e.first("namingContexts") == kSuffix);
    for (const MonitorAttribute &m : monitor_attributes()) {
        INFO(m.name);
        REQUIRE(e.values(m.name).size() == 1);
        CHECK(e.first(m.name) == "0");
    }
}

TEST_CASE("cn=Monitor: counters move exactly with the charges made", "[integration][monitor]") {
    SlapdOptions o;
    o.extra_databases = kMonitorDatabase;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 3\n";
    Slapd s(o);
    s.start();
    Counters before = counters_of(s);
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice, 1, 100, "m1").response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice, 1, 100, "m2").response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice, 1, 100, "m2").response.verdict == Verdict::duplicate);
    CHECK(charge_one(*svc, kAlice, 1, 100, "m3").response.verdict == Verdict::accepted);
    auto hit = charge_one(*svc, kAlice, 1, 100, "m4");
    CHECK(hit.response.verdict == Verdict::refused);
    CHECK(hit.response.first_hit);
    CHECK(charge_one(*svc, kAlice, 1, 100, "m5").response.verdict == Verdict::refused);
    CHECK(charge_one(*svc, kAlice, 1, 100, "", Mode::check).ldap.code == LDAP_SUCCESS);
    CHECK(charge_one(*svc, person_dn("bob"), 2, 100, "c1", Mode::count).response.verdict == Verdict::accepted);
    // errors: an account that does not exist, an anonymous caller, a reset by
    // an identity without the right, a reset of an unknown window
    CHECK(charge_one(*svc, "uid=nobody,ou=people,dc=example,dc=com").ldap.code == LDAP_NO_SUCH_OBJECT);
    auto anon = s.connect("", "");
    CHECK(charge_one(*anon, kAlice).ldap.code == LDAP_STRONG_AUTH_REQUIRED);
    CHECK(client::reset(*svc, ResetRequest{kAlice, ""}).code == LDAP_INSUFFICIENT_ACCESS);
    auto admin = s.connect();
    CHECK(client::reset(*admin, ResetRequest{kAlice, "fortnight"}).code == LDAP_NO_SUCH_ATTRIBUTE);
    CHECK(client::reset(*admin, ResetRequest{kAlice, ""}).ok());

    Counters after = counters_of(s);
    Counters d = moved(before, after);
    CHECK(d["tallyMonChargesAccepted"] == 3);
    CHECK(d["tallyMonChargesRefused"] == 2);
    CHECK(d["tallyMonChargesDuplicate"] == 1);
    CHECK(d["tallyMonChecks"] == 1);
    CHECK(d["tallyMonCounts"] == 1);
    CHECK(d["tallyMonResets"] == 1);
    CHECK(d["tallyMonFirstLimitHits"] == 1);
    CHECK(d["tallyMonErrorsBadRequest"] == 2);  // no such account, unknown window
    CHECK(d["tallyMonErrorsNotAuthorized"] == 2);
    CHECK(d["tallyMonErrorsWriteFailed"] == 0);
    CHECK(d["tallyMonErrorsOther"] == 0);
    CHECK(d["tallyMonCancels"] == 0);
    // every accepted charge, count and reset is written once, and so is the
    // first refusal (it marks the limit as hit: firstHit); one at a time,
    // each in a commit of its own
    CHECK(d["tallyMonCommittedWrites"] == 6);
    CHECK(d["tallyMonCommits"] == 6);
}

TEST_CASE("cn=Monitor: without a monitor database the overlay runs and nothing is registered",
          "[integration][monitor]") {
    Slapd s;
    s.start();
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    auto admin = s.connect();
    int rc = 0;
    CHECK(tally_entries(*admin, &rc).empty());
    CHECK(rc == LDAP_NO_SUCH_OBJECT);
}

TEST_CASE("cn=Monitor through cn=config: the entry follows the overlay and a monitor database added at runtime",
          "[integration][monitor][config]") {
    SlapdOptions o;
    o.config_dir = true;
    o.overlay_config = "tally-window day\ntally-timezone UTC\n";
    Slapd s(o);
    s.start();
    auto cfg = s.connect(kConfigDn, kRootPw);
    auto admin = s.connect();
    auto svc = s.connect(kServiceDn, kPassword);
    int rc = 0;
    REQUIRE(tally_entries(*admin, &rc).empty());
    REQUIRE(rc == LDAP_NO_SUCH_OBJECT);

    // a monitor database added at runtime: the counters appear with the next charge
    std::string text;
    REQUIRE(ldap_add(*cfg, "olcDatabase=monitor,cn=config",
                     {{"objectClass", {"olcDatabaseConfig", "olcMonitorConfig"}},
                      {"olcDatabase", {"monitor"}},
                      {"olcAccess", {"to dn.subtree=\"cn=Monitor\" by dn.exact=\"cn=admin,dc=example,dc=com\" read "
                                     "by * none"}}},
                     &text) == LDAP_SUCCESS);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    auto entries = tally_entries(*admin, &rc);
    REQUIRE(entries.count(kSuffix) == 1);
    // the charge that attached counts too: both are there
    CHECK(entries[kSuffix]["tallyMonChargesAccepted"] == 2);

    // the overlay removed at runtime: the entry loses the class and the counters
    const std::string overlay_dn = "olcOverlay={0}tally,olcDatabase={1}mdb,cn=config";
    REQUIRE(client::remove(*cfg, overlay_dn).ok());
    // slapd closes a removed overlay in the delete's cleanup, after the answer
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        gone = tally_entries(*admin).empty();
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(gone);
    client::Search db;
    db.base = "cn=Databases,cn=Monitor";
    db.scope = LDAP_SCOPE_ONELEVEL;
    db.filter = "(namingContexts=" + std::string(kSuffix) + ")";
    db.attributes = {"objectClass", "+"};
    client::SearchResult r = client::search(*admin, db);
    REQUIRE(r.entries.size() == 1);  // the database's own entry stays
    CHECK(r.entries.front().values("tallyMonChargesAccepted").empty());

    // and added again: a fresh set of counters
    REQUIRE(ldap_add(*cfg, "olcOverlay=tally,olcDatabase={1}mdb,cn=config",
                     {{"objectClass", {"olcOverlayConfig", "olcTallyConfig"}},
                      {"olcOverlay", {"tally"}},
                      {"olcTallyWindow", {"day"}},
                      {"olcTallyTimezone", {"UTC"}}},
                     &text) == LDAP_SUCCESS);
    entries = tally_entries(*admin, &rc);
    REQUIRE(entries.count(kSuffix) == 1);
    CHECK(entries[kSuffix]["tallyMonChargesAccepted"] == 0);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(tally_entries(*admin)[kSuffix]["tallyMonChargesAccepted"] == 1);
}

TEST_CASE("cn=Monitor: a group commit counts once and carries many writes", "[integration][monitor]") {
    SlapdOptions o;
    o.extra_databases = kMonitorDatabase;
    o.nosync = false;  // an fsync per commit: concurrent charges queue up behind it and share commits
    Slapd s(o);
    s.start();
    Counters before = counters_of(s);
    constexpr int kThreads = 8, kEach = 25;
    std::vector<std::thread> threads;
    std::atomic<int> accepted{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            auto svc = s.connect(kServiceDn, kPassword);
            for (int i = 0; i < kEach; ++i)
                if (charge_one(*svc, person_dn(t % 2 ? "bob" : "carol")).response.verdict == Verdict::accepted)
                    ++accepted;
        });
    for (std::thread &t : threads) t.join();
    REQUIRE(accepted == kThreads * kEach);
    Counters d = moved(before, counters_of(s));
    CHECK(d["tallyMonChargesAccepted"] == kThreads * kEach);
    CHECK(d["tallyMonCommittedWrites"] == kThreads * kEach);
    CHECK(d["tallyMonCommits"] >= 1);
    CHECK(d["tallyMonCommits"] < d["tallyMonCommittedWrites"]);
}
