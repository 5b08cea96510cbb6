// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Soft limits (issue 19): warning threshold syntax and resolution, the
// once-per-period warning mark of a charge, its wire form, the alert texts
// and tallyctl report -t.
#include "alert.h"
#include "charge.h"
#include "counter.h"
#include "exop.h"
#include "overlay_config.h"
#include "report.h"
#include "usage_table.h"
#include "warning_rules.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace tally;

namespace {

WarningRule rule(const char *text) {
    WarningRule r;
    auto err = parse_warning_rule(text, r);
    INFO(text);
    REQUIRE_FALSE(err);
    return r;
}

CurrentWindow window(const char *name, std::optional<std::uint64_t> limit, std::optional<std::uint64_t> warning) {
    CurrentWindow w;
    w.name = name;
    w.period = "2026-12-05";
    w.limits[0].max = limit;
    w.warnings[0] = warning;
    return w;
}

ChargeRequest msg() {
    ChargeRequest r;
    r.account = "uid=a";
    r.recipients = 1;
    r.bytes = 10;
    return r;
}

bool has(const std::vector<std::string> &v, const std::string &s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("warning values: numbers, percentages, none, inherit, nothing loose", "[warning]") {
    CHECK(parse_warning_value("400") == WarningValue{WarningValue::Kind::absolute, 400});
    CHECK(parse_warning_value("80%") == WarningValue{WarningValue::Kind::percent, 80});
    CHECK(parse_warning_value("100%") == WarningValue{WarningValue::Kind::percent, 100});
    CHECK(parse_warning_value("NONE") == WarningValue{WarningValue::Kind::none, 0});
    CHECK(parse_warning_value("inherit") == WarningValue{});
    for (const char *bad : {"0", "0%", "101%", "-5", "80 %", "%", "", "8O%", "1e3", "80%%", "99999999999999999999999"})
        CHECK_FALSE(parse_warning_value(bad));
    WarningRule r;
    CHECK(parse_warning_rule("day messages", r));
    CHECK(parse_warning_rule("day parcels 80%", r)->find("unknown metric") != std::string::npos);
    CHECK(parse_warning_rule("day messages 0", r)->find("bad warning") != std::string::npos);
    CHECK(format_warning_rule(rule("* * 80%")) == "* * 80%");
    CHECK(format_warning_rule(rule("day  recipients   none")) == "day recipients none");
}

TEST_CASE("warnings resolve: the most specific rule of a level, the first level that says something", "[warning]") {
    WarningSet account, policy, defaults;
    defaults.add(rule("* * 90%"));
    policy.add(rule("day * 80%"));
    policy.add(rule("day recipients 50"));
    std::array<const WarningSet *, 4> levels = {&account, &policy, nullptr, &defaults};
    CHECK(resolve_warning(levels, "day", Metric::messages, 500) == 400u);
    CHECK(resolve_warning(levels, "day", Metric::recipients, 500) == 50u);
    CHECK(resolve_warning(levels, "hour", Metric::messages, 101) == 91u);  // 90.9 rounds up
    CHECK_FALSE(resolve_warning(levels, "hour", Metric::messages, std::nullopt));  // a percentage of unlimited
    account.add(rule("day messages none"));
    CHECK_FALSE(resolve_warning(levels, "day", Metric::messages, 500));
    account.add(rule("day messages inherit"));  // no opinion: the policy's again
    CHECK(resolve_warning(levels, "day", Metric::messages, 500) == 400u);
    account.add(rule("day messages 7"));
    CHECK(resolve_warning(levels, "day", Metric::messages, std::nullopt) == 7u);
    CHECK(resolve_warning(levels, "day", Metric::bytes, 1) == 1u);  // 80% of 1, at least 1
    CHECK(resolve_warning(levels, "day", Metric::bytes, UINT64_MAX) == UINT64_MAX / 100 * 80 + (UINT64_MAX % 100 * 80 + 99) / 100);
}

TEST_CASE("tally-default-warning is checked and reaches the defaults", "[warning][config]") {
    OverlayConfig c;
    CHECK_FALSE(config_add_default_warning(c, {"day", "messages", "80%"}));
    CHECK_FALSE(config_add_default_warning(c, {"*", "*", "95%"}));
    CHECK(config_add_default_warning(c, {"week", "messages", "80%"})->find("not configured") != std::string::npos);
    CHECK(config_add_default_warning(c, {"day", "messages", "120%"})->find("bad warning") != std::string::npos);
    CHECK(config_add_default_warning(c, {"day", "messages"}));
    LimitLevels levels;
    levels.defaults = &c.defaults;
    CHECK(resolve_warning(levels, "day", Metric::messages, 10) == 8u);
    CHECK(resolve_warning(levels, "day", Metric::recipients, 100) == 95u);
}

TEST_CASE("a counter's warning mark is kept in its value", "[warning][counter]") {
    CounterValue c{"day", "2026-12-05", 2, {}};
    c.usage[Metric::messages] = 400;
    c.warned = 1796000000;
    std::string text = encode_counter(c);
    CHECK(text.find(" warned=1796000000") != std::string::npos);
    CHECK(decode_counter(text) == c);
    c.limit_hit = 1796000100;
    c.since = 1795999000;
    c.reset = 1795999000;
    c.usage[Metric::externalRecipients] = 3;
    CHECK(decode_counter(encode_counter(c)) == c);
    CHECK_FALSE(decode_counter("day 2026-12-05 sid=0 messages=1 recipients=1 bytes=1 byteRecipients=1 warned=0"));
    CHECK_FALSE(decode_counter("day 2026-12-05 sid=0 messages=1 recipients=1 bytes=1 byteRecipients=1 warned=1 warned=2"));
}

TEST_CASE("the first accepted message at the threshold warns, once per window and period", "[warning][charge]") {
    std::vector<CurrentWindow> ws = {window("day", 5, 3)};
    ChargePolicy pol;
    StoredState st;
    int warnings = 0;
    for (int i = 1; i <= 5; ++i) {
        auto p = plan_charge(ws, st, msg(), pol, 1000 + i);
        REQUIRE(p.response.verdict == Verdict::accepted);
        if (p.response.warning) {
            ++warnings;
            CHECK(i == 3);
            CHECK(p.response.warning->window == "day");
            CHECK(p.response.warning->threshold == 3);
            CHECK(p.response.warning->usage == 3);
            CHECK(p.response.warning->limit == 5u);
        }
        st = p.new_state;
    }
    CHECK(warnings == 1);
    REQUIRE(st.usage.size() == 1);
    CHECK(st.usage[0].warned == 1003);
    // Refused, checked: never a warning.
    auto refused = plan_charge(ws, st, msg(), pol, 2000);
    CHECK(refused.response.verdict == Verdict::refused);
    CHECK_FALSE(refused.response.warning);
    // The window reports its thresholds (tallyctl report -t reads them).
    CHECK(refused.response.windows[0].warnings[0] == 3u);
    // A reset clears the mark: the next period of counting warns again.
    StoredState again = plan_reset(st, ws, "", 0, 3000);
    for (int i = 0; i < 3; ++i) {
        auto p = plan_charge(ws, again, msg(), pol, 3001 + i);
        CHECK(static_cast<bool>(p.response.warning) == (i == 2));
        again = p.new_state;
    }
}

TEST_CASE("a mark written by another server stops this one warning", "[warning][charge]") {
    std::vector<CurrentWindow> ws = {window("day", std::nullopt, 2)};
    StoredState st;
    CounterValue other{"day", "2026-12-05", 2, {}};
    other.usage[Metric::messages] = 2;
    other.warned = 900;
    st.usage.push_back(other);
    ChargePolicy pol;
    pol.own_sid = 1;
    auto p = plan_charge(ws, st, msg(), pol, 1000);
    CHECK(p.response.verdict == Verdict::accepted);
    CHECK_FALSE(p.response.warning);
    // Check mode never marks, even at the threshold with no mark.
    StoredState fresh;
    ChargeRequest check = msg();
    check.mode = Mode::check;
    std::vector<CurrentWindow> low = {window("day", std::nullopt, 1)};
    auto c = plan_charge(low, fresh, check, pol, 1000);
    CHECK_FALSE(c.response.warning);
    CHECK_FALSE(c.write);
}

TEST_CASE("two windows reaching their thresholds with one message warn one after the other", "[warning][charge]") {
    std::vector<CurrentWindow> ws = {window("hour", 10, 1), window("day", 100, 1)};
    ChargePolicy pol;
    StoredState st;
    auto first = plan_charge(ws, st, msg(), pol, 1000);
    REQUIRE(first.response.warning);
    CHECK(first.response.warning->window == "hour");
    auto second = plan_charge(ws, first.new_state, msg(), pol, 1001);
    REQUIRE(second.response.warning);
    CHECK(second.response.warning->window == "day");
    auto third = plan_charge(ws, second.new_state, msg(), pol, 1002);
    CHECK_FALSE(third.response.warning);
}

TEST_CASE("the warning and the windows' thresholds cross the wire", "[warning][exop]") {
    ChargeResponse r;
    WindowReport w;
    w.window = "day";
    w.period = "2026-12-05";
    w.usage[Metric::messages] = 400;
    w.limits[0] = 500;
    w.warnings[0] = 400;
    w.warnings[4] = 20;
    r.windows.push_back(w);
    WindowReport plain = w;
    plain.window = "hour";
    plain.warnings = {};
    r.windows.push_back(plain);
    r.warning = Warning{"day", Metric::messages, 400, 400, 500};
    ChargeResponse back;
    REQUIRE_FALSE(decode_charge_response(encode_charge_response(r), back));
    CHECK(back == r);
    r.warning->limit = std::nullopt;
    REQUIRE_FALSE(decode_charge_response(encode_charge_response(r), back));
    CHECK(back == r);
    CHECK(describe_warning(*r.warning) == "day warning at 400 messages reached (usage 400, no limit)");
    // Without thresholds the reply is what earlier versions sent.
    ChargeResponse old;
    old.windows.push_back(plain);
    CHECK(encode_charge_response(old).size() < encode_charge_response(r).size());
}

TEST_CASE("a warning alert says it refused nothing", "[warning][alert]") {
    ChargeResponse r;
    WindowReport w;
    w.window = "day";
    w.period = "2026-12-05";
    r.windows.push_back(w);
    CHECK_FALSE(engine::limit_alert(r));
    r.warning = Warning{"day", Metric::messages, 400, 401, 500};
    auto a = engine::limit_alert(r);
    REQUIRE(a);
    a->account = "uid=alice,dc=example,dc=com";
    a->login = "alice";
    CHECK(a->warning);
    CHECK_FALSE(a->refused);
    CHECK(a->period == "2026-12-05");
    std::string line = engine::alert_log_line(*a);
    CHECK(line.find("warning threshold reached:") == 0);
    CHECK(line.find("threshold=400 usage=401 limit=500") != std::string::npos);
    auto env = engine::alert_environment(*a);
    CHECK(has(env, "TALLY_ALERT=warning"));
    CHECK(has(env, "TALLY_THRESHOLD=400"));
    CHECK(has(env, "TALLY_REFUSED=no"));
    std::string mail = engine::alert_mail(*a, "tally@example.com", "postmaster@example.com");
    CHECK(mail.find("Subject: Tally: alice reached the daily warning threshold of 400 messages\n") != std::string::npos);
    CHECK(mail.find("The message was accepted") != std::string::npos);
    // A first hit in the same reply is the alert sent.
    r.first_hit = true;
    r.exceeded = Exceeded{"day", Metric::recipients, 5, 5};
    CHECK_FALSE(engine::limit_alert(r)->warning);
}

TEST_CASE("tallyctl report -t lists who reached a warning threshold, usage shows thresholds", "[warning][report]") {
    auto account = [](const char *dn, std::uint64_t used, std::optional<std::uint64_t> warn) {
        AccountUsage a;
        a.dn = dn;
        WindowReport w;
        w.window = "day";
        w.period = "2026-12-05";
        w.usage[Metric::messages] = used;
        w.limits[0] = 500;
        w.warnings[0] = warn;
        a.usage.windows.push_back(w);
        return a;
    };
    std::vector<AccountUsage> all = {account("uid=a", 399, 400), account("uid=b", 450, 400),
                                     account("uid=c", 499, std::nullopt), account("uid=d", 400, 400)};
    auto rows = warned_rows(all);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].dn == "uid=b");
    CHECK(rows[1].dn == "uid=d");
    std::string csv = format_rows(rows, true, true);
    CHECK(csv.rfind("dn,window,period,metric,used,limit,percent,warning\n", 0) == 0);
    CHECK(csv.find("uid=b,day,2026-12-05,messages,450,500,90,400\n") != std::string::npos);
    CHECK(format_rows(rows, false, true).find("WARNING") != std::string::npos);
    std::string table = format_usage_table("uid=b", all[1].usage);
    CHECK(table.find("warning: day messages at 400 (reached)\n") != std::string::npos);
    CHECK(format_usage_table("uid=a", all[0].usage).find("warning: day messages at 400\n") != std::string::npos);
}
