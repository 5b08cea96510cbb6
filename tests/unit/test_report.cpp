// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyctl report and top: selection, order, formats.
#include "report.h"

#include <catch2/catch.hpp>

using namespace tally;

namespace {
AccountUsage account(const std::string &dn, std::uint64_t day_msgs, std::optional<std::uint64_t> day_limit,
                     std::uint64_t hour_rcpts = 0, std::optional<std::uint64_t> hour_rcpt_limit = std::nullopt) {
    AccountUsage a;
    a.dn = dn;
    WindowReport h;
    h.window = "hour";
    h.period = "2026-11-22T10";
    h.usage[Metric::recipients] = hour_rcpts;
    h.limits[1] = hour_rcpt_limit;
    WindowReport d;
    d.window = "day";
    d.period = "2026-11-22";
    d.usage[Metric::messages] = day_msgs;
    d.limits[0] = day_limit;
    a.usage.windows = {h, d};
    return a;
}
}  // namespace

TEST_CASE("report rows of one window and metric, by usage or by percent", "[tallyctl][report]") {
    std::vector<AccountUsage> all = {account("uid=a", 50, 100), account("uid=b", 90, 1000), account("uid=c", 9, 10),
                                     account("uid=d", 70, std::nullopt)};
    auto by_usage = report_rows(all, "day", Metric::messages, SortBy::usage);
    REQUIRE(by_usage.size() == 4);
    CHECK(by_usage[0].dn == "uid=b");
    CHECK(by_usage[1].dn == "uid=d");
    auto by_percent = report_rows(all, "day", Metric::messages, SortBy::percent);
    CHECK(by_percent[0].dn == "uid=c");  // 90 %
    CHECK(by_percent[1].dn == "uid=a");  // 50 %
    CHECK(by_percent[3].dn == "uid=d");  // unlimited last
    CHECK(report_rows(all, "month", Metric::messages, SortBy::usage).empty());
}

TEST_CASE("top picks each account's tightest limit across windows and metrics", "[tallyctl][report]") {
    std::vector<AccountUsage> all = {account("uid=a", 10, 100, 95, 100), account("uid=b", 120, 100),
                                     account("uid=c", 1, std::nullopt)};
    auto top = top_rows(all, 10);
    REQUIRE(top.size() == 2);  // c has no limit at all
    CHECK(top[0].dn == "uid=b");
    CHECK(top[0].percent() == Approx(120.0));  // over the limit
    CHECK(top[1].dn == "uid=a");
    CHECK(top[1].window == "hour");
    CHECK(top[1].metric == Metric::recipients);
    CHECK(top_rows(all, 1).size() == 1);
}

TEST_CASE("table and CSV", "[tallyctl][report]") {
    auto rows = report_rows({account("uid=a,dc=x", 9, 10)}, "day", Metric::messages, SortBy::usage);
    CHECK(format_rows(rows, true) == "dn,window,period,metric,used,limit,percent\n\"uid=a,dc=x\",day,2026-11-22,messages,9,10,90\n");
    std::string t = format_rows(rows, false);
    CHECK_THAT(t, Catch::Contains("PERCENT"));
    CHECK_THAT(t, Catch::Matches("(.|\\n)*uid=a,dc=x +day +2026-11-22 +messages +9 +10 +90%\\n"));
}
