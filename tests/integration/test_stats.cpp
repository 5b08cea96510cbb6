// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyctl stats against a real slapd with a monitor database: the
// overlay's counters under cn=Monitor move exactly with the charges a test
// makes (accepted, refused, duplicates, checks, errors), in both formats,
// and promtool accepts the exposition; without a monitor database, without
// the overlay's entry, and for an identity the monitor's ACL refuses,
// tallyctl says which of these it is.
#include "slapd_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace tally;
using namespace tally::test;

namespace {

/* kMonitor - a monitor database that the administrator and the operator
 * read, and nobody else (not even to know it is there) */
const std::string kMonitor = std::string("database monitor\n") +
                             "access to dn.subtree=\"cn=Monitor\"\n"
                             "    by dn.exact=\"" + kRootDn + "\" read\n"
                             "    by dn.exact=\"" + kAdminDn + "\" read\n"
                             "    by * none\n";

SlapdOptions with_monitor(bool overlay = true) {
    SlapdOptions o;
    o.with_overlay = overlay;
    o.sample_acl = overlay;  // its rules name the overlay's pseudo-attributes
    o.extra_databases = kMonitor;
    return o;
}

/* counter - the sample of series in a Prometheus exposition; -1 when absent */
long long counter(const std::string &text, const std::string &series) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(series + " ")) return std::stoll(line.substr(series.size() + 1));
    return -1;
}

std::string charges(const std::string &outcome) {
    return "tally_overlay_charges_total{database=\"dc=example,dc=com\",outcome=\"" + outcome + "\"}";
}
std::string errors(const std::string &cls) {
    return "tally_overlay_errors_total{database=\"dc=example,dc=com\",class=\"" + cls + "\"}";
}
const std::string kCommits = "tally_overlay_commits_total{database=\"dc=example,dc=com\"}";
const std::string kWrites = "tally_overlay_committed_writes_total{database=\"dc=example,dc=com\"}";
const std::string kFirstHits = "tally_overlay_first_limit_hits_total{database=\"dc=example,dc=com\"}";
const std::string kResets = "tally_overlay_resets_total{database=\"dc=example,dc=com\"}";

/* stats - tallyctl stats --format prometheus as the operator; REQUIREs success */
std::string stats(const Slapd &s) {
    std::string out;
    int rc = run_tallyctl(bind_options(s.uri(), kAdminDn), {"stats", "--format", "prometheus"}, &out);
    INFO(out);
    REQUIRE(rc == 0);
    return out;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

}  // namespace

TEST_CASE("tallyctl stats: without a monitor database it says slapd has none", "[integration][stats]") {
    Slapd s;
    s.start();
    std::string out;
    CHECK(run_tallyctl(bind_options(s.uri(), kRootDn, kRootPw), {"stats"}, &out) == 2);
    CHECK_THAT(out, Catch::Contains("slapd has no monitor database") && Catch::Contains("database monitor") &&
                        Catch::Contains("olcDatabase=monitor"));
    CHECK(run_tallyctl(bind_options(s.uri(), kRootDn, kRootPw), {"stats", "--format", "yaml"}, &out) == 2);
    CHECK_THAT(out, Catch::Contains("bad format: yaml"));
}

TEST_CASE("tallyctl stats: an identity the monitor's ACL refuses is named, with the ACL it needs",
          "[integration][stats]") {
    Slapd s(with_monitor());
    s.start();
    std::string out;
    CHECK(run_tallyctl(bind_options(s.uri(), kAlice), {"stats"}, &out) == 2);
    CHECK_THAT(lower(out), Catch::Contains(lower(kAlice) + " may not read cn=monitor"));
    CHECK_THAT(out, Catch::Contains("access to dn.subtree=\"cn=Monitor\" by dn.exact=\""));
    CHECK_THAT(out, !Catch::Contains("no monitor database"));
    CHECK(run_tallyctl({"-H", s.uri(), "-x"}, {"stats"}, &out) == 2);  // anonymous
    CHECK_THAT(out, Catch::Contains("anonymous may not read cn=Monitor") && Catch::Contains("by anonymous read"));
}

TEST_CASE("tallyctl stats: a monitor database without the overlay's entry says the overlay is not loaded",
          "[integration][stats]") {
    Slapd s(with_monitor(false));
    s.start();
    std::string out;
    CHECK(run_tallyctl(bind_options(s.uri(), kAdminDn), {"stats"}, &out) == 2);
    CHECK_THAT(out, Catch::Contains("no database under cn=Monitor carries tallyMonitor") &&
                        Catch::Contains("not loaded"));
}

// Needs the overlay's cn=Monitor counters (issue 18, overlay/tally_monitor.cpp):
// until they are built this fails with "no database under cn=Monitor carries tallyMonitor".
TEST_CASE("tallyctl stats: the overlay's counters move exactly with the charges made", "[integration][stats]") {
    Slapd s(with_monitor());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    const std::string before = stats(s);
    INFO(before);
    const std::vector<std::string> series = {charges("accepted"), charges("refused"), charges("duplicate"),
                                             charges("checked"), charges("counted"), charges("cancelled"),
                                             errors("bad_request"), errors("not_authorized"),
                                             errors("write_failed"), errors("other"), kCommits, kWrites,
                                             kFirstHits, kResets};
    for (const auto &name : series) CHECK(counter(before, name) >= 0);

    auto svc = s.connect(kServiceDn, kPassword);
    // 2 accepted (the day limit), then 3 refused: the first of them is the period's first limit hit
    CHECK(charge_one(*svc, kAlice, 1, 100, "Q1").response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice, 1, 100, "Q2").response.verdict == Verdict::accepted);
    for (int i = 0; i < 3; ++i) CHECK(charge_one(*svc, kAlice, 1, 100).response.verdict == Verdict::refused);
    // a retry of Q1 counts once
    CHECK(charge_one(*svc, kAlice, 1, 100, "Q1").response.verdict == Verdict::duplicate);
    // one check, accepted by bob, counting nothing
    CHECK(charge_one(*svc, kBob, 1, 100, "", Mode::check).ldap.code == LDAP_SUCCESS);
    // no such account: a bad request; alice charging herself: not authorized
    CHECK(charge_one(*svc, person_dn("nobody"), 1, 100).ldap.code != LDAP_SUCCESS);
    auto alice = s.connect(kAlice, kPassword);
    CHECK(charge_one(*alice, kAlice, 1, 100).ldap.code == LDAP_INSUFFICIENT_ACCESS);

    const std::string after = stats(s);
    INFO(after);
    auto delta = [&](const std::string &name) { return counter(after, name) - counter(before, name); };
    CHECK(delta(charges("accepted")) == 2);
    CHECK(delta(charges("refused")) == 3);
    CHECK(delta(charges("duplicate")) == 1);
    CHECK(delta(charges("checked")) == 1);
    CHECK(delta(charges("counted")) == 0);
    CHECK(delta(charges("cancelled")) == 0);
    CHECK(delta(errors("bad_request")) == 1);
    CHECK(delta(errors("not_authorized")) == 1);
    CHECK(delta(errors("write_failed")) == 0);
    CHECK(delta(kFirstHits) == 1);
    CHECK(delta(kResets) == 0);
    // the two accepted charges were written, in one commit each or fewer
    CHECK(delta(kWrites) >= 2);
    CHECK(delta(kCommits) >= 1);
    CHECK(delta(kCommits) <= delta(kWrites));

    // promtool accepts what the textfile collector would read
    {
        std::ofstream(s.dir() + "/stats.prom") << after;
        int rc = run_command({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + s.dir() + "/stats.prom"},
                             s.dir() + "/promtool.out");
        INFO(read_text(s.dir() + "/promtool.out"));
        CHECK(rc == 0);
    }

    // the readable form: the database's suffix, its monitor entry, the labels
    std::string out;
    CHECK(run_tallyctl(bind_options(s.uri(), kAdminDn), {"stats"}, &out) == 0);
    INFO(out);
    // 2.6: the database's monitor entry; 2.5: the overlay's entry below it (cn=Overlay N,cn=Database N,...)
    CHECK_THAT(out, Catch::StartsWith("dc=example,dc=com  (cn=") && Catch::Contains(",cn=Databases,cn=Monitor)\n"));
    CHECK_THAT(out, Catch::Matches("(.|\n)*\n  charges accepted +[0-9]+\n(.|\n)*"));
    CHECK_THAT(out, Catch::Matches("(.|\n)*\n  charges refused \\(over a limit\\) +[0-9]+\n(.|\n)*"));
    CHECK_THAT(out, Catch::Matches("(.|\n)*\n  mean group-commit batch +[0-9]+\\.[0-9]{2} writes per commit\n(.|\n)*"));

    // a reset by the operator
    CHECK(run_tallyctl(bind_options(s.uri(), kAdminDn), {"reset", kAlice}, &out) == 0);
    CHECK(counter(stats(s), kResets) - counter(after, kResets) == 1);
}
