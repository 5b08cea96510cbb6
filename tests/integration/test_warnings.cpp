// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Soft limits (issue 19) against the real slapd with the overlay: the
// warning mark is set once per window and period however many connections
// charge, tallyWarning on the account and its policy over the defaults,
// malformed thresholds refused when written, the setting through cn=config,
// and tallyd's warning alert and tallyctl report -t.
#include "milter_process.h"
#include "miltertest_drive.h"
#include "slapd_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <unistd.h>

using namespace tally;
using namespace tally::test;

namespace {

SlapdOptions with_defaults(const std::string &extra) {
    SlapdOptions o;
    o.overlay_config = "tally-window day\ntally-timezone UTC\n" + extra;
    return o;
}

std::string usage_of(Slapd &s, const std::string &dn) {
    auto root = s.connect();
    auto v = ldap_values(*root, dn, "tallyUsage");
    return v.empty() ? "" : v.front();
}

}  // namespace

TEST_CASE("a warning threshold warns once, from one of 8 connections, and refuses nothing", "[integration][warning]") {
    Slapd s(with_defaults("tally-default-limit day messages 100\ntally-default-warning day messages 80%\n"));
    s.start();
    std::atomic<int> accepted{0}, warnings{0}, errors{0};
    std::atomic<std::uint64_t> warned_at{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            try {
                auto c = s.connect(kServiceDn, kPassword);
                for (int i = 0; i < 15; ++i) {
                    auto r = charge_one(*c, kCarol);
                    if (r.ldap.code != LDAP_SUCCESS) ++errors;
                    if (r.response.verdict == Verdict::accepted) ++accepted;
                    if (r.response.warning) {
                        ++warnings;
                        warned_at = r.response.warning->usage;
                    }
                }
            } catch (...) {
                errors += 1000;
            }
        });
    for (auto &t : threads) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 100);  // the hard limit, as ever
    CHECK(warnings == 1);
    CHECK(warned_at == 80);
    CHECK_THAT(usage_of(s, kCarol), Catch::Contains(" messages=100 ") && Catch::Contains(" warned="));
}

TEST_CASE("tallyWarning on the account and its policy wins over the defaults, bad values are refused",
          "[integration][warning]") {
    Slapd s(with_defaults("tally-default-warning * * 90%\ntally-default-limit day messages 10\n"));
    s.start();
    auto root = s.connect();
    auto svc = s.connect(kServiceDn, kPassword);
    // alice: her own threshold; bob: none at all
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_ADD, "tallyWarning", {"day messages 2"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kBob, LDAP_MOD_ADD, "tallyWarning", {"* * none"}) == LDAP_SUCCESS);
    auto first = charge_one(*svc, kAlice);
    CHECK_FALSE(first.response.warning);
    REQUIRE(first.response.windows.size() == 1);
    CHECK(first.response.windows[0].warnings[0] == 2u);
    auto second = charge_one(*svc, kAlice);
    REQUIRE(second.response.warning);
    CHECK(second.response.warning->threshold == 2);
    CHECK(second.response.warning->limit == 10u);
    for (int i = 0; i < 10; ++i) CHECK_FALSE(charge_one(*svc, kBob).response.warning);
    // carol: the defaults (90% of 10 = 9)
    for (int i = 1; i <= 9; ++i) CHECK(static_cast<bool>(charge_one(*svc, kCarol).response.warning) == (i == 9));

    // Malformed thresholds are refused when written, with the reason.
    for (const char *bad : {"day messages 0", "day messages 120%", "day parcels 5", "80%", "day messages 5 6"}) {
        client::ExopResult r;
        int rc = ldap_modify(*root, kAlice, LDAP_MOD_ADD, "tallyWarning", {bad});
        INFO(bad);
        CHECK(rc == LDAP_CONSTRAINT_VIOLATION);
    }
    CHECK(ldap_values(*root, kAlice, "tallyWarning") == std::vector<std::string>{"day messages 2"});

    // tallyctl usage shows the thresholds; report -t lists who reached one.
    std::string out;
    CHECK(run_tallyctl(bind_options(s.uri(), kServiceDn), {"usage", kAlice}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("warning: day messages at 2 (reached)"));
    CHECK(run_tallyctl(bind_options(s.uri(), kServiceDn), {"report", "-b", "ou=people,dc=example,dc=com", "-t", "-c"},
                       &out) == 0);
    CHECK_THAT(out, Catch::StartsWith("dn,window,period,metric,used,limit,percent,warning\n"));
    CHECK_THAT(out, Catch::Contains("\"" + kAlice + "\",day,") && Catch::Contains("\"" + kCarol + "\",day,"));
    CHECK(out.find(kBob) == std::string::npos);

    // A reset clears the mark: alice warns again at 2.
    CHECK(run_tallyctl(bind_options(s.uri(), kAdminDn), {"reset", kAlice}, &out) == 0);
    CHECK_FALSE(charge_one(*svc, kAlice).response.warning);
    CHECK(charge_one(*svc, kAlice).response.warning);
}

TEST_CASE("tally-default-warning through cn=config: added, printed back, deleted", "[integration][warning][config]") {
    SlapdOptions o = with_defaults("tally-default-limit day messages 10\n");
    o.config_dir = true;
    Slapd s(o);
    s.start();
    auto cfg = s.connect(kConfigDn, kRootPw);
    auto svc = s.connect(kServiceDn, kPassword);
    const std::string overlay_dn = "olcOverlay={0}tally,olcDatabase={1}mdb,cn=config";
    CHECK(ldap_modify(*cfg, overlay_dn, LDAP_MOD_ADD, "olcTallyDefaultWarning", {"day messages 150%"}) ==
          LDAP_OTHER);  // back-config's answer to a value its handler refuses
    REQUIRE(ldap_modify(*cfg, overlay_dn, LDAP_MOD_ADD, "olcTallyDefaultWarning", {"day messages 1"}) ==
            LDAP_SUCCESS);
    CHECK(ldap_values(*cfg, overlay_dn, "olcTallyDefaultWarning") == std::vector<std::string>{"day messages 1"});
    CHECK(charge_one(*svc, kAlice).response.warning);
    REQUIRE(ldap_modify(*cfg, overlay_dn, LDAP_MOD_DELETE, "olcTallyDefaultWarning", {}) == LDAP_SUCCESS);
    CHECK_FALSE(charge_one(*svc, kBob).response.warning);
    CHECK(charge_one(*svc, kBob).response.windows[0].warnings[0] == std::nullopt);
}

TEST_CASE("tallyd: the warning alert runs once and the message passes", "[integration][warning][milter]") {
    SlapdOptions o = milter_test_directory();
    o.overlay_config += "tally-default-warning day messages 2\n";
    Slapd s(o);
    s.start();
    MilterProcess m(s);
    const std::string alerts = m.dir() + "/alerts.txt";
    m.set("alert_command", "echo \"$TALLY_ALERT $TALLY_LOGIN $TALLY_WINDOW $TALLY_METRIC $TALLY_THRESHOLD "
                           "$TALLY_USAGE $TALLY_REFUSED\" >> " + alerts);
    m.start();
    auto r = drive(m, {{"alice", "<alice@example.com>", {"<x@elsewhere.org>"}, "QW1"},
                       {"alice", "<alice@example.com>", {"<x@elsewhere.org>"}, "QW2"},
                       {"alice", "<alice@example.com>", {"<x@elsewhere.org>"}, "QW3"}});
    CHECK(r == std::vector<std::string>{"eom continue", "eom continue", "eom continue"});
    std::string lines = wait_for_text(alerts);
    std::string log = m.log();
    INFO(log);
    CHECK(lines == "warning alice day messages 2 2 no\n");
    CHECK_THAT(log, Catch::Contains("warning threshold reached: account=\"" + kAlice + "\"") &&
                        Catch::Contains("qid=QW2 (message accepted; alerted once this period)"));
    CHECK_THAT(log, Catch::Contains("qid=QW2 ") && Catch::Contains("warning=\"day warning at 2 messages reached"));
}
