// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyctl stats without a server: the overlay's cn=Monitor entries parsed
// (names case-insensitive, malformed values reported and left out), the
// readable block with the mean group-commit batch, and the Prometheus text
// exposition, which promtool check metrics accepts.
#include "monitor_stats.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace tally;

namespace {

StatsEntryAttributes entry(std::uint64_t accepted = 42, std::uint64_t commits = 40, std::uint64_t writes = 50) {
    return {{"namingContexts", {"dc=example,dc=com"}},
            {"tallyMonChargesAccepted", {std::to_string(accepted)}},
            {"tallyMonChargesRefused", {"3"}},
            {"tallyMonChargesDuplicate", {"1"}},
            {"tallyMonChecks", {"7"}},
            {"tallyMonCounts", {"0"}},
            {"tallyMonCancels", {"2"}},
            {"tallyMonResets", {"4"}},
            {"tallyMonErrorsBadRequest", {"5"}},
            {"tallyMonErrorsNotAuthorized", {"6"}},
            {"tallyMonErrorsWriteFailed", {"0"}},
            {"tallyMonErrorsOther", {"8"}},
            {"tallyMonCommits", {std::to_string(commits)}},
            {"tallyMonCommittedWrites", {std::to_string(writes)}},
            {"tallyMonFirstLimitHits", {"9"}}};
}

const char *kDn = "cn=Database 2,cn=Databases,cn=Monitor";

/* promtool - promtool check metrics on text: "" when it passes, else its output */
std::string promtool(const std::string &text) {
    char path[] = "/tmp/tally-stats-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::ofstream(path) << text;
    std::string cmd = std::string("/usr/bin/promtool check metrics < ") + path + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[512];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int rc = pclose(p);
    std::remove(path);
    return rc == 0 ? "" : "exit " + std::to_string(rc) + ": " + out;
}

}  // namespace

TEST_CASE("monitor stats: an entry's counters are parsed by attribute name", "[monitor_stats]") {
    std::vector<std::string> problems;
    auto attrs = entry();
    attrs[1].first = "TALLYMONCHARGESACCEPTED";  // attribute names compare case-insensitively
    attrs.push_back({"monitorCounter", {"77"}});  // not ours: ignored
    DatabaseStats s = parse_database_stats(kDn, attrs, &problems);
    CHECK(problems.empty());
    CHECK(s.dn == kDn);
    CHECK(s.suffix == "dc=example,dc=com");
    CHECK(s.value("tallyMonChargesAccepted") == 42u);
    CHECK(s.value("tallymonchargesrefused") == 3u);
    CHECK(s.value("tallyMonFirstLimitHits") == 9u);
    CHECK(s.value("tallyMonErrorsOther") == 8u);
    CHECK(!s.value("monitorCounter"));
    CHECK(s.has_any());
    REQUIRE(mean_batch(s));
    CHECK(*mean_batch(s) == Approx(1.25));
}

TEST_CASE("monitor stats: a malformed or missing value is reported and left out, never 0", "[monitor_stats]") {
    std::vector<std::string> problems;
    StatsEntryAttributes attrs = {{"namingContexts", {"dc=example,dc=com"}},
                               {"tallyMonChargesAccepted", {"-1"}},
                               {"tallyMonChargesRefused", {"12x"}},
                               {"tallyMonChecks", {"99999999999999999999999"}},
                               {"tallyMonCommits", {"0"}},
                               {"tallyMonCommittedWrites", {"0"}}};
    DatabaseStats s = parse_database_stats(kDn, attrs, &problems);
    CHECK(problems.size() == 3);
    CHECK_THAT(problems.at(1), Catch::Contains("tallyMonChargesRefused") && Catch::Contains("12x"));
    CHECK(!s.value("tallyMonChargesAccepted"));
    CHECK(!s.value("tallyMonChargesRefused"));
    CHECK(!s.value("tallyMonChecks"));
    CHECK(!s.value("tallyMonResets"));  // absent
    CHECK(s.value("tallyMonCommits") == 0u);
    CHECK(!mean_batch(s));  // no commits: no mean
    std::string text = format_stats_text({s});
    CHECK_THAT(text, Catch::Matches("(.|\n)*charges accepted +-\n(.|\n)*"));
    CHECK_THAT(text, Catch::Contains("(no commits yet)"));
    std::string prom = format_stats_prometheus({s});
    CHECK_THAT(prom, !Catch::Contains("outcome=\"accepted\""));
    CHECK_THAT(prom, Catch::Contains("tally_overlay_commits_total{database=\"dc=example,dc=com\"} 0\n"));

    DatabaseStats none = parse_database_stats(kDn, {{"namingContexts", {"dc=x"}}}, &problems);
    CHECK(!none.has_any());
}

TEST_CASE("monitor stats: the readable block names the database and every counter", "[monitor_stats]") {
    DatabaseStats a = parse_database_stats(kDn, entry(), nullptr);
    DatabaseStats b = parse_database_stats("cn=Database 3,cn=Databases,cn=Monitor", entry(5, 0, 0), nullptr);
    b.suffix = "dc=example,dc=org";
    std::string text = format_stats_text({a, b});
    INFO(text);
    CHECK(text.starts_with("dc=example,dc=com  (cn=Database 2,cn=Databases,cn=Monitor)\n"));
    CHECK_THAT(text, Catch::Contains("\n\ndc=example,dc=org  (cn=Database 3,cn=Databases,cn=Monitor)\n"));
    std::regex row("  charges accepted +42\n");
    CHECK(std::regex_search(text, row));
    CHECK(std::regex_search(text, std::regex("  charges refused \\(over a limit\\) +3\n")));
    CHECK(std::regex_search(text, std::regex("  errors: not authorized +6\n")));
    CHECK(std::regex_search(
        text, std::regex("  writes committed +50\n  mean group-commit batch +1\\.25 writes per commit\n")));
    CHECK(std::regex_search(text, std::regex("  first limit hits \\(alerts\\) +9\n")));
    // every counter has its row in each block
    for (const auto &c : kStatsCounters) {
        std::size_t first = text.find(std::string("  ") + c.label + " ");
        REQUIRE(first != std::string::npos);
        CHECK(text.find(std::string("  ") + c.label + " ", first + 1) != std::string::npos);
    }
}

TEST_CASE("monitor stats: the Prometheus exposition has HELP and TYPE per family and one series per counter "
          "and database",
          "[monitor_stats]") {
    DatabaseStats a = parse_database_stats(kDn, entry(), nullptr);
    DatabaseStats b = parse_database_stats("cn=Database 3,cn=Databases,cn=Monitor", entry(5), nullptr);
    b.suffix = "o=\"quoted\\, and\\5C\",c=de";  // a DN with what label values must escape
    std::string prom = format_stats_prometheus({a, b});
    INFO(prom);
    CHECK_THAT(prom, Catch::Contains("# TYPE tally_overlay_charges_total counter\n"));
    CHECK_THAT(prom, Catch::Contains(
                         "tally_overlay_charges_total{database=\"dc=example,dc=com\",outcome=\"accepted\"} 42\n"));
    CHECK_THAT(prom, Catch::Contains(
                         "tally_overlay_charges_total{database=\"dc=example,dc=com\",outcome=\"cancelled\"} 2\n"));
    CHECK_THAT(prom, Catch::Contains(
                         "tally_overlay_errors_total{database=\"dc=example,dc=com\",class=\"bad_request\"} 5\n"));
    CHECK_THAT(prom, Catch::Contains("tally_overlay_resets_total{database=\"dc=example,dc=com\"} 4\n"));
    CHECK_THAT(prom, Catch::Contains("tally_overlay_committed_writes_total{database=\"dc=example,dc=com\"} 50\n"));
    CHECK_THAT(prom, Catch::Contains("tally_overlay_first_limit_hits_total{database=\"dc=example,dc=com\"} 9\n"));
    CHECK_THAT(prom, Catch::Contains("{database=\"o=\\\"quoted\\\\, and\\\\5C\\\",c=de\",outcome=\"accepted\"} 5\n"));
    // 6 families, each with HELP and TYPE once; 14 series per database
    std::istringstream in(prom);
    std::set<std::string> types;
    int help = 0, samples = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("# HELP ")) ++help;
        else if (line.starts_with("# TYPE ")) CHECK(types.insert(line).second);
        else ++samples;
    }
    CHECK(help == 6);
    CHECK(types.size() == 6);
    CHECK(samples == 2 * int(kStatsCounterCount));
    CHECK(promtool(prom).empty());
    CHECK(promtool(format_stats_prometheus({})).empty());
}

TEST_CASE("monitor stats: promtool is a real check here (a broken exposition fails it)", "[monitor_stats]") {
    CHECK(!promtool("# TYPE x counter\n# TYPE x counter\nx{a=\"1\"} one\n").empty());
}

TEST_CASE("monitor stats: tallyctl asks for namingContexts and every counter of the contract", "[monitor_stats]") {
    auto a = stats_attributes();
    CHECK(a.size() == 1 + kStatsCounterCount);
    CHECK(a.front() == "namingContexts");
    std::set<std::string> names(a.begin() + 1, a.end());
    CHECK(names == std::set<std::string>{"tallyMonChargesAccepted", "tallyMonChargesRefused",
                                         "tallyMonChargesDuplicate", "tallyMonChecks", "tallyMonCounts",
                                         "tallyMonCancels", "tallyMonResets", "tallyMonErrorsBadRequest",
                                         "tallyMonErrorsNotAuthorized", "tallyMonErrorsWriteFailed",
                                         "tallyMonErrorsOther", "tallyMonCommits", "tallyMonCommittedWrites",
                                         "tallyMonFirstLimitHits"});
}
