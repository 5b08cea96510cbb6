// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Periods of calendar windows: month and year ends, ISO weeks, time zones, DST.
#include "window.h"

#include <catch2/catch.hpp>

using namespace tally;

namespace {
WindowDef win(const char *name, const char *pattern = "") {
    WindowDef w;
    REQUIRE_FALSE(parse_window(name, pattern, w));
    return w;
}
TimeZone zone(const char *name) {
    std::string err;
    auto z = TimeZone::locate(name, &err);
    REQUIRE(z);
    return *z;
}
// 2026-12-31T23:59:59Z and one second later
constexpr std::int64_t kYearEnd = 1798761599;
}  // namespace

TEST_CASE("built-in windows cross month and year ends in UTC", "[window]") {
    auto utc = zone("UTC");
    CHECK(utc.period_of(win("day"), kYearEnd) == "2026-12-31");
    CHECK(utc.period_of(win("day"), kYearEnd + 1) == "2027-01-01");
    CHECK(utc.period_of(win("month"), kYearEnd) == "2026-12");
    CHECK(utc.period_of(win("month"), kYearEnd + 1) == "2027-01");
    CHECK(utc.period_of(win("hour"), kYearEnd) == "2026-12-31T23");
    CHECK(utc.period_of(win("hour"), kYearEnd + 1) == "2027-01-01T00");
    // ISO 8601 weeks: 2026-12-31 is a Thursday of week 53 of 2026; 2027-01-01 too.
    CHECK(utc.period_of(win("week"), kYearEnd) == "2026-W53");
    CHECK(utc.period_of(win("week"), kYearEnd + 1) == "2026-W53");
    // 2027-01-04 is Monday of week 1 of 2027
    CHECK(utc.period_of(win("week"), kYearEnd + 1 + 3 * 86400) == "2027-W01");
}

TEST_CASE("end of February in a leap year", "[window]") {
    auto utc = zone("UTC");
    // 2028-02-29T12:00:00Z
    CHECK(utc.period_of(win("day"), 1835438400) == "2028-02-29");
    CHECK(utc.period_of(win("month"), 1835438400 + 86400) == "2028-03");
}

TEST_CASE("periods follow the configured time zone", "[window]") {
    auto berlin = zone("Europe/Berlin");
    auto utc = zone("UTC");
    // 2026-12-31T23:30:00Z is already 2027-01-01 00:30 in Berlin (UTC+1)
    CHECK(utc.period_of(win("day"), kYearEnd - 1799) == "2026-12-31");
    CHECK(berlin.period_of(win("day"), kYearEnd - 1799) == "2027-01-01");
    auto ny = zone("America/New_York");
    CHECK(ny.period_of(win("day"), kYearEnd - 1799) == "2026-12-31");
}

TEST_CASE("daylight saving time changes keep days whole", "[window]") {
    auto berlin = zone("Europe/Berlin");
    // Spring forward 2026-03-29: 01:59:59Z is 03:59:59 CEST; the day is 23 hours long.
    const std::int64_t spring = 1774745999;  // 2026-03-29T00:59:59Z = 01:59:59 CET
    CHECK(berlin.period_of(win("hour"), spring) == "2026-03-29T01");
    CHECK(berlin.period_of(win("hour"), spring + 1) == "2026-03-29T03");
    CHECK(berlin.period_of(win("day"), spring + 1) == "2026-03-29");
    // Fall back 2026-10-25: 00:59:59Z = 02:59:59 CEST, then 02:00:00 CET again.
    const std::int64_t fall = 1792889999;
    CHECK(berlin.period_of(win("hour"), fall) == "2026-10-25T02");
    CHECK(berlin.period_of(win("hour"), fall + 1) == "2026-10-25T02");  // the repeated hour (BUGS)
    CHECK(berlin.period_of(win("day"), fall + 3600) == "2026-10-25");
}

TEST_CASE("mtpolicyd time_pattern compatible custom windows", "[window]") {
    auto utc = zone("UTC");
    auto w = win("daily", "%Y-%m-%d");
    CHECK(utc.period_of(w, kYearEnd) == "2026-12-31");
    auto q = win("minute", "%Y%m%d%H%M");
    CHECK(utc.period_of(q, kYearEnd) == "202612312359");
}

TEST_CASE("bad windows are refused with a reason", "[window]") {
    WindowDef w;
    CHECK(parse_window("fortnight", "", w).value().find("needs a pattern") != std::string::npos);
    CHECK(parse_window("x", "%Y %m", w).value().find("spaces") != std::string::npos);
    CHECK(parse_window("x", "%S", w).value().find("not allowed") != std::string::npos);
    CHECK(parse_window("x", "static", w).value().find("no conversion") != std::string::npos);
    CHECK(parse_window("x", "%Y%", w).value().find("lone") != std::string::npos);
    CHECK(parse_window("bad name", "%Y", w).has_value());
    CHECK(parse_window("", "%Y", w).has_value());
}

TEST_CASE("unknown time zones are refused", "[window]") {
    std::string err;
    CHECK_FALSE(TimeZone::locate("Mars/Olympus_Mons", &err));
    CHECK(err.find("Mars/Olympus_Mons") != std::string::npos);
}
