// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Limit values and the resolution order account -> policy -> parent policy -> defaults.
#include "limit_rules.h"
#include "overlay_config.h"

#include <catch2/catch.hpp>

using namespace tally;

TEST_CASE("limit values: numbers, unlimited, inherit", "[limits]") {
    CHECK(parse_limit_value("500") == LimitValue::of(500));
    CHECK(parse_limit_value("0") == LimitValue::of(0));
    CHECK(parse_limit_value("UNLIMITED") == LimitValue::unlimited());
    CHECK(parse_limit_value("inherit") == LimitValue::inherit());
    CHECK(parse_limit_value("18446744073709551615") == LimitValue::of(18446744073709551615ull));
    for (const char *bad : {"", "-1", "+5", "5OO", " 5", "5 ", "1e3", "18446744073709551616", "none"})
        CHECK_FALSE(parse_limit_value(bad));
    CHECK(format_limit_value(LimitValue::of(7)) == "7");
    CHECK(format_limit_value(LimitValue::unlimited()) == "unlimited");
}

TEST_CASE("resolution takes the first level that says something", "[limits]") {
    LimitLevels l;
    LimitSet defaults;
    defaults.set("day", Metric::messages, LimitValue::of(100));
    l.defaults = &defaults;
    l.parentPolicy.set("day", Metric::messages, LimitValue::of(200));
    l.policy.set("day", Metric::messages, LimitValue::of(300));
    l.account.set("day", Metric::messages, LimitValue::of(400));

    SECTION("account wins") {
        auto r = resolve_limit(l, "day", Metric::messages);
        CHECK(r.max == 400u);
        CHECK(r.source == LimitSource::account);
    }
    SECTION("inherit on the account asks the policy") {
        l.account.set("day", Metric::messages, LimitValue::inherit());
        auto r = resolve_limit(l, "day", Metric::messages);
        CHECK(r.max == 300u);
        CHECK(r.source == LimitSource::policy);
    }
    SECTION("no policy: the parent's policy") {
        l.account = LimitSet();
        l.policy = LimitSet();
        CHECK(resolve_limit(l, "day", Metric::messages).max == 200u);
        CHECK(resolve_limit(l, "day", Metric::messages).source == LimitSource::parentPolicy);
    }
    SECTION("then the defaults") {
        l.account = l.policy = l.parentPolicy = LimitSet();
        CHECK(resolve_limit(l, "day", Metric::messages).max == 100u);
        CHECK(resolve_limit(l, "day", Metric::messages).source == LimitSource::defaults);
    }
    SECTION("unlimited stops the search even with lower levels set") {
        l.policy.set("day", Metric::messages, LimitValue::unlimited());
        l.account = LimitSet();
        auto r = resolve_limit(l, "day", Metric::messages);
        CHECK_FALSE(r.max);
        CHECK(r.source == LimitSource::policy);
    }
    SECTION("nothing anywhere is unlimited") {
        auto r = resolve_limit(l, "hour", Metric::bytes);
        CHECK_FALSE(r.max);
        CHECK(r.source == LimitSource::none);
    }
    SECTION("windows and metrics are independent") {
        l.account.set("hour", Metric::recipients, LimitValue::of(5));
        CHECK(resolve_limit(l, "hour", Metric::recipients).max == 5u);
        CHECK(resolve_limit(l, "day", Metric::messages).max == 400u);
    }
}

TEST_CASE("accounting-only: the first level saying TRUE or FALSE wins, else the overlay's", "[limits][accounting]") {
    LimitLevels l;
    CHECK_FALSE(resolve_accounting_only(l, false));
    CHECK(resolve_accounting_only(l, true));
    l.parentPolicy.accounting_only = true;
    CHECK(resolve_accounting_only(l, false));
    l.policy.accounting_only = false;  // the account's own policy enforces
    CHECK_FALSE(resolve_accounting_only(l, true));
    l.account.accounting_only = true;
    CHECK(resolve_accounting_only(l, false));
}

TEST_CASE("externalRecipients has its own limit attributes and tallyLimit name", "[limits][external]") {
    OverlayConfig c;
    CHECK(limit_attribute_name(c, "day", Metric::externalRecipients) == "tallyExternalRecipientsPerDay");
    CHECK(limit_attribute_name(c, "hour", Metric::externalRecipients) == "tallyExternalRecipientsPerHour");
    std::string w;
    Metric m = Metric::messages;
    LimitValue v;
    REQUIRE_FALSE(parse_generic_limit("day externalRecipients 200", w, m, v));
    CHECK(m == Metric::externalRecipients);
    CHECK(v == LimitValue::of(200));
    CHECK(parse_metric("EXTERNALRECIPIENTS") == Metric::externalRecipients);
}
