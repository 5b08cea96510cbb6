// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The overlay's directives, parsed without slapd.
#include "overlay_config.h"

#include <catch2/catch.hpp>

using namespace tally;

TEST_CASE("windows, defaults and attribute mappings parse", "[config]") {
    OverlayConfig c;
    CHECK(c.effective_windows().size() == 1);  // day by default
    REQUIRE_FALSE(config_add_window(c, {"hour"}));
    REQUIRE_FALSE(config_add_window(c, {"daily", "%Y-%m-%d"}));
    CHECK(c.effective_windows().size() == 2);
    REQUIRE_FALSE(config_add_default_limit(c, {"daily", "messages", "500"}));
    REQUIRE_FALSE(config_add_default_limit(c, {"hour", "byterecipients", "unlimited"}));
    CHECK(c.defaults.get("daily", Metric::messages) == LimitValue::of(500));
    CHECK(c.defaults.get("hour", Metric::byteRecipients) == LimitValue::unlimited());
    REQUIRE_FALSE(config_add_limit_attribute(c, {"daily", "messages", "mtpolicydMailMessageLimit"}));
    CHECK(limit_attribute_name(c, "daily", Metric::messages) == "mtpolicydMailMessageLimit");
    CHECK(limit_attribute_name(c, "hour", Metric::byteRecipients) == "tallyByteRecipientsPerHour");
    CHECK(limit_attribute_name(c, "daily", Metric::bytes).empty());
}

TEST_CASE("configuration errors say what is wrong", "[config]") {
    OverlayConfig c;
    REQUIRE_FALSE(config_add_window(c, {"day"}));
    CHECK_THAT(config_add_window(c, {"day"}).value(), Catch::Contains("already"));
    CHECK_THAT(config_add_default_limit(c, {"month", "messages", "5"}).value(), Catch::Contains("not configured"));
    CHECK_THAT(config_add_default_limit(c, {"day", "mails", "5"}).value(), Catch::Contains("unknown metric"));
    CHECK_THAT(config_add_default_limit(c, {"day", "messages", "lots"}).value(), Catch::Contains("bad limit"));
    CHECK_THAT(config_add_default_limit(c, {"day", "messages"}).value(), Catch::Contains("usage"));
    CHECK_THAT(config_add_limit_attribute(c, {"day", "messages", "bad attr"}).value(), Catch::Contains("attribute"));
    std::uint64_t n;
    CHECK(parse_count_setting("12", 100, n) == std::nullopt);
    CHECK(n == 12);
    CHECK(parse_count_setting("101", 100, n));
    CHECK(parse_count_setting("-1", 100, n));
    CHECK(parse_count_setting("", 100, n));
}

TEST_CASE("generic tallyLimit values", "[config]") {
    std::string w;
    Metric m;
    LimitValue v;
    REQUIRE_FALSE(parse_generic_limit("quarter recipients 9000", w, m, v));
    CHECK(w == "quarter");
    CHECK(m == Metric::recipients);
    CHECK(v == LimitValue::of(9000));
    CHECK(parse_generic_limit("quarter recipients", w, m, v));
    CHECK(parse_generic_limit("quarter flights 1", w, m, v));
    CHECK(parse_generic_limit("quarter recipients many", w, m, v));
}
