// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The check-and-charge decision: exact limits, nothing charged when refused,
// roll-over into history, duplicate charge ids, modes, server shares.
#include "charge.h"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace tally;

namespace {

CurrentWindow window(const char *name, const char *period, std::optional<std::uint64_t> messages = std::nullopt,
                     std::optional<std::uint64_t> recipients = std::nullopt) {
    CurrentWindow w;
    w.name = name;
    w.period = period;
    w.limits[0].max = messages;
    w.limits[1].max = recipients;
    return w;
}

ChargeRequest msg(std::uint64_t rcpts = 1, std::uint64_t bytes = 100, std::string id = "") {
    ChargeRequest r;
    r.account = "uid=a";
    r.messages = 1;
    r.recipients = rcpts;
    r.bytes = bytes;
    r.charge_id = std::move(id);
    return r;
}

std::uint64_t used(const ChargeResponse &r, const char *win, Metric m) {
    for (const auto &w : r.windows)
        if (w.window == win) return w.usage[m];
    FAIL("no window " << win);
    return 0;
}

}  // namespace

TEST_CASE("a limit is reached exactly and never passed", "[charge]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22", 3)};
    ChargePolicy pol;
    StoredState st;
    for (int i = 0; i < 3; ++i) {
        auto p = plan_charge(ws, st, msg(), pol, 1000);
        REQUIRE(p.response.verdict == Verdict::accepted);
        REQUIRE(p.write);
        st = p.new_state;
    }
    auto p = plan_charge(ws, st, msg(), pol, 1000);
    CHECK(p.response.verdict == Verdict::refused);
    REQUIRE(p.response.exceeded);
    CHECK(p.response.exceeded->window == "day");
    CHECK(p.response.exceeded->metric == Metric::messages);
    CHECK(p.response.exceeded->limit == 3);
    CHECK(p.response.exceeded->usage == 3);
    CHECK(used(p.response, "day", Metric::messages) == 3);
}

TEST_CASE("a refused message charges no window", "[charge]") {
    // hour allows 10 recipients, day allows 100 messages: a 20-recipient
    // message fails on the hour and must not be counted in the day either.
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22", 100), window("hour", "2026-11-22T10", {}, 10)};
    auto p = plan_charge(ws, {}, msg(20), {}, 0);
    CHECK(p.response.verdict == Verdict::refused);
    REQUIRE(p.response.exceeded);
    CHECK(p.response.exceeded->window == "hour");
    CHECK(p.response.exceeded->metric == Metric::recipients);
    CHECK(used(p.response, "day", Metric::messages) == 0);
    // What is written is the first-hit mark only, never a count.
    for (const CounterValue &c : p.new_state.usage) CHECK(c.usage == Usage{});
}

TEST_CASE("the first refusal of a period marks the window once, later ones write nothing", "[charge][alert]") {
    std::vector<CurrentWindow> ws = {window("day", "d1", 1), window("hour", "h1", 5)};
    auto ok = plan_charge(ws, {}, msg(), {}, 100);
    REQUIRE(ok.response.verdict == Verdict::accepted);
    CHECK_FALSE(ok.response.first_hit);

    auto first = plan_charge(ws, ok.new_state, msg(), {}, 200);
    CHECK(first.response.verdict == Verdict::refused);
    CHECK(first.response.first_hit);
    CHECK(first.write);
    for (const CounterValue &c : first.new_state.usage) {
        CHECK(c.usage[Metric::messages] == 1);  // nothing counted
        CHECK(c.limit_hit == (c.window == "day" ? 200 : 0));
    }

    auto second = plan_charge(ws, first.new_state, msg(), {}, 300);
    CHECK(second.response.verdict == Verdict::refused);
    CHECK_FALSE(second.response.first_hit);
    CHECK_FALSE(second.write);

    // A check, and a duplicate, never set the mark.
    ChargeRequest check = msg();
    check.mode = Mode::check;
    auto c = plan_charge(ws, ok.new_state, check, {}, 200);
    CHECK_FALSE(c.response.first_hit);
    CHECK_FALSE(c.write);

    // A new period alerts again; a reset clears the mark.
    auto next = plan_charge({window("day", "d2", 0)}, second.new_state, msg(), {}, 400);
    CHECK(next.response.first_hit);
    auto after_reset = plan_charge(ws, plan_reset(second.new_state, ws, "day", 0, 450), msg(2), {}, 500);
    CHECK(after_reset.response.verdict == Verdict::accepted);
    auto again = plan_charge(ws, after_reset.new_state, msg(), {}, 600);
    CHECK(again.response.first_hit);
}

TEST_CASE("a mark set by another server counts: no second alert", "[charge][alert]") {
    StoredState st;
    CounterValue other{"day", "d1", 2, usage_of_message(1, 0, 0)};
    other.limit_hit = 50;
    st.usage.push_back(other);
    ChargePolicy pol;
    pol.own_sid = 1;
    auto p = plan_charge({window("day", "d1", 1)}, st, msg(), pol, 60);
    CHECK(p.response.verdict == Verdict::refused);
    CHECK_FALSE(p.response.first_hit);
    CHECK_FALSE(p.write);
}

TEST_CASE("accounting only: the first message over a limit is counted and alerted once", "[charge][alert]") {
    ChargePolicy acct;
    acct.accounting_only = true;
    std::vector<CurrentWindow> ws = {window("day", "d1", 1)};
    auto a = plan_charge(ws, {}, msg(), acct, 0);
    auto b = plan_charge(ws, a.new_state, msg(), acct, 1);
    CHECK(b.response.verdict == Verdict::accepted);
    CHECK(b.response.first_hit);
    auto c = plan_charge(ws, b.new_state, msg(), acct, 2);
    CHECK(c.response.verdict == Verdict::accepted);
    CHECK_FALSE(c.response.first_hit);
    CHECK(used(c.response, "day", Metric::messages) == 3);
}

TEST_CASE("every metric counts: recipients, bytes, bytes times recipients", "[charge]") {
    std::vector<CurrentWindow> ws = {window("day", "d1")};
    auto p = plan_charge(ws, {}, msg(3, 1000), {}, 0);
    CHECK(used(p.response, "day", Metric::messages) == 1);
    CHECK(used(p.response, "day", Metric::recipients) == 3);
    CHECK(used(p.response, "day", Metric::bytes) == 1000);
    CHECK(used(p.response, "day", Metric::byteRecipients) == 3000);
}

TEST_CASE("a new period starts at zero and the old one goes to history", "[charge]") {
    ChargePolicy pol;
    pol.history_keep = 2;
    StoredState st;
    const char *days[] = {"d1", "d2", "d3", "d4"};
    for (const char *d : days) {
        std::vector<CurrentWindow> ws = {window("day", d, 5)};
        auto p = plan_charge(ws, st, msg(), pol, 0);
        REQUIRE(p.response.verdict == Verdict::accepted);
        CHECK(used(p.response, "day", Metric::messages) == 1);
        st = p.new_state;
    }
    REQUIRE(st.usage.size() == 1);
    CHECK(st.usage[0].period == "d4");
    REQUIRE(st.history.size() == 2);  // bounded, oldest dropped
    CHECK(st.history[0].period == "d2");
    CHECK(st.history[1].period == "d3");
    CHECK(st.history[1].usage[Metric::messages] == 1);
}

TEST_CASE("a period already in the history is not added again (a crash between the two writes)", "[charge]") {
    ChargePolicy pol;
    pol.history_keep = 3;
    StoredState st;
    CounterValue d1{"day", "d1", 0, usage_of_message(1, 1, 1)};
    st.usage.push_back(d1);
    st.history = {CounterValue{"day", "d0", 0, usage_of_message(1, 1, 1)}, d1};  // the history was written, the account not
    auto p = plan_charge({window("day", "d2")}, st, msg(), pol, 0);
    REQUIRE(p.new_state.history.size() == 2);
    CHECK(p.new_state.history[0].period == "d0");
    CHECK(p.new_state.history[1] == d1);
    CHECK(p.new_state.usage.size() == 1);
}

TEST_CASE("no history kept when history is 0", "[charge]") {
    StoredState st;
    st.usage.push_back({"day", "d1", 0, usage_of_message(1, 1, 1)});
    auto p = plan_charge({window("day", "d2")}, st, msg(), {}, 0);
    CHECK(p.new_state.history.empty());
    CHECK(p.new_state.usage.size() == 1);
}

TEST_CASE("a repeated charge id is not counted twice", "[charge]") {
    ChargePolicy pol;
    pol.charge_id_ttl = 60;
    std::vector<CurrentWindow> ws = {window("day", "d1", 10)};
    auto first = plan_charge(ws, {}, msg(1, 100, "Q1"), pol, 1000);
    REQUIRE(first.response.verdict == Verdict::accepted);
    auto again = plan_charge(ws, first.new_state, msg(1, 100, "Q1"), pol, 1030);
    CHECK(again.response.verdict == Verdict::duplicate);
    CHECK_FALSE(again.write);
    CHECK(used(again.response, "day", Metric::messages) == 1);
    SECTION("after the ttl the id is forgotten") {
        auto late = plan_charge(ws, first.new_state, msg(1, 100, "Q1"), pol, 1061);
        CHECK(late.response.verdict == Verdict::accepted);
        CHECK(used(late.response, "day", Metric::messages) == 2);
    }
    SECTION("the number of remembered ids is bounded") {
        pol.charge_id_max = 2;
        StoredState st = first.new_state;
        for (const char *id : {"Q2", "Q3"}) st = plan_charge(ws, st, msg(1, 1, id), pol, 1001).new_state;
        CHECK(st.recent.size() == 2);
        CHECK(plan_charge(ws, st, msg(1, 1, "Q1"), pol, 1002).response.verdict == Verdict::accepted);
    }
    SECTION("a refused charge does not remember its id") {
        std::vector<CurrentWindow> tight = {window("day", "d1", 1)};
        auto r = plan_charge(tight, first.new_state, msg(1, 100, "Q9"), pol, 1001);
        CHECK(r.response.verdict == Verdict::refused);
        CHECK(r.new_state.recent.size() == 1);
    }
}

TEST_CASE("modes: check never writes, count never refuses, accounting-only counts", "[charge]") {
    std::vector<CurrentWindow> ws = {window("day", "d1", 0)};
    ChargeRequest r = msg();
    r.mode = Mode::check;
    auto c = plan_charge(ws, {}, r, {}, 0);
    CHECK(c.response.verdict == Verdict::refused);
    CHECK_FALSE(c.write);

    r.mode = Mode::count;
    auto n = plan_charge(ws, {}, r, {}, 0);
    CHECK(n.response.verdict == Verdict::accepted);
    CHECK(n.response.exceeded);  // says it is over, yet counted
    CHECK(n.write);
    CHECK(used(n.response, "day", Metric::messages) == 1);

    ChargePolicy acct;
    acct.accounting_only = true;
    auto a = plan_charge(ws, {}, msg(), acct, 0);
    CHECK(a.response.verdict == Verdict::accepted);
    CHECK(used(a.response, "day", Metric::messages) == 1);

    // tallyctl check asks what the doors will do: accounting-only passes
    r.mode = Mode::check;
    auto ac = plan_charge(ws, {}, r, acct, 0);
    CHECK(ac.response.verdict == Verdict::accepted);
    CHECK(ac.response.exceeded);
    CHECK_FALSE(ac.write);
}

TEST_CASE("externalRecipients: counted beside recipients, limited on its own", "[charge][external]") {
    CurrentWindow w = window("day", "d1");
    w.limits[static_cast<int>(Metric::externalRecipients)].max = 5;
    w.limits[static_cast<int>(Metric::recipients)].max = 100;
    std::vector<CurrentWindow> ws = {w};
    ChargePolicy pol;
    StoredState st;
    ChargeRequest r = msg(10);
    r.external_recipients = 3;  // 7 inside, 3 outside
    auto p = plan_charge(ws, st, r, pol, 0);
    REQUIRE(p.response.verdict == Verdict::accepted);
    CHECK(used(p.response, "day", Metric::recipients) == 10);
    CHECK(used(p.response, "day", Metric::externalRecipients) == 3);
    st = p.new_state;

    // 3 more outside would pass 5: refused, nothing counted, and it says which
    auto q = plan_charge(ws, st, r, pol, 0);
    CHECK(q.response.verdict == Verdict::refused);
    REQUIRE(q.response.exceeded);
    CHECK(q.response.exceeded->metric == Metric::externalRecipients);
    CHECK(q.response.exceeded->limit == 5);
    CHECK(q.response.exceeded->usage == 3);
    CHECK(q.response.first_hit);  // written: the mark only, no counts
    CHECK(used(q.response, "day", Metric::recipients) == 10);
    CHECK(used(q.response, "day", Metric::externalRecipients) == 3);

    // inside only: still within every limit
    ChargeRequest inside = msg(50);
    auto in = plan_charge(ws, st, inside, pol, 0);
    CHECK(in.response.verdict == Verdict::accepted);
    CHECK(used(in.response, "day", Metric::externalRecipients) == 3);
    CHECK(used(in.response, "day", Metric::recipients) == 60);
}

TEST_CASE("shares of other servers are summed but never written", "[charge]") {
    StoredState st;
    st.usage.push_back({"day", "d1", 1, usage_of_message(4, 0, 0)});
    st.usage.push_back({"day", "d1", 2, usage_of_message(5, 0, 0)});
    ChargePolicy pol;
    pol.own_sid = 1;
    auto p = plan_charge({window("day", "d1", 10)}, st, msg(0), pol, 0);
    CHECK(p.response.verdict == Verdict::accepted);
    CHECK(used(p.response, "day", Metric::messages) == 10);
    auto refused = plan_charge({window("day", "d1", 10)}, p.new_state, msg(0), pol, 0);
    CHECK(refused.response.verdict == Verdict::refused);
    for (const auto &c : p.new_state.usage)
        if (c.sid == 2) CHECK(c.usage[Metric::messages] == 5);
}

TEST_CASE("reset clears one window or all, keeping history", "[charge]") {
    std::vector<CurrentWindow> ws = {window("day", "d1"), window("hour", "h1")};
    StoredState st;
    st.usage.push_back({"day", "d1", 0, usage_of_message(4, 0, 0)});
    st.usage.push_back({"hour", "h1", 0, usage_of_message(2, 0, 0)});
    st.history.push_back({"day", "d0", 0, usage_of_message(9, 0, 0)});
    auto one = plan_reset(st, ws, "hour", 0, 1000);
    CHECK(current_total(one.usage, "hour", "h1") == Usage{});
    CHECK(current_total(one.usage, "day", "d1")[Metric::messages] == 4);
    auto all = plan_reset(st, ws, "", 0, 1000);
    CHECK(current_total(all.usage, "day", "d1") == Usage{});
    CHECK(current_total(all.usage, "hour", "h1") == Usage{});
    CHECK(all.history.size() == 1);
    // Counting goes on from zero after a reset.
    auto p = plan_charge(ws, all, msg(), {}, 1001);
    CHECK(used(p.response, "day", Metric::messages) == 1);
}

TEST_CASE("a reset voids older shares of every server, also ones that arrive later", "[charge][replication]") {
    std::vector<CurrentWindow> ws = {window("day", "d1", 10)};
    ChargePolicy a;
    a.own_sid = 1;
    ChargePolicy b;
    b.own_sid = 2;
    // Both providers counted; provider 1 has seen provider 2's share.
    StoredState st;
    st.usage.push_back({"day", "d1", 1, usage_of_message(3, 0, 0)});
    st.usage.push_back({"day", "d1", 2, usage_of_message(4, 0, 0)});
    StoredState after = plan_reset(st, ws, "day", 1, 1000);
    CHECK(current_total(after.usage, "day", "d1") == Usage{});
    // Provider 2's share grows before the reset reaches it (written at 1001, started before):
    // once both meet, its older share stays void.
    CounterValue late{"day", "d1", 2, usage_of_message(6, 0, 0)};
    std::vector<CounterValue> merged = {after.usage[0].sid == 1 ? after.usage[0] : after.usage[1], late};
    CHECK(current_total(merged, "day", "d1") == Usage{});
    // Provider 2 charges after the reset arrived: its share restarts, counting from zero.
    StoredState at_b;
    at_b.usage = merged;
    auto p = plan_charge(ws, at_b, msg(), b, 1002);
    CHECK(p.response.verdict == Verdict::accepted);
    CHECK(used(p.response, "day", Metric::messages) == 1);
    for (const CounterValue &c : p.new_state.usage)
        if (c.sid == 2) CHECK(c.since == 1002);
    // A provider whose clock is behind the resetter's still counts the new share.
    auto behind = plan_charge(ws, at_b, msg(), b, 900);
    CHECK(used(behind.response, "day", Metric::messages) == 1);
}

TEST_CASE("charge ids accepted by another provider are duplicates here too", "[charge][replication]") {
    ChargePolicy pol;
    pol.own_sid = 1;
    StoredState st;
    RecentCharges other;
    other.add(100, "QID1");
    st.recent_others.push_back(other);
    auto p = plan_charge({window("day", "d1")}, st, msg(1, 100, "QID1"), pol, 110);
    CHECK(p.response.verdict == Verdict::duplicate);
    CHECK_FALSE(p.write);
}

TEST_CASE("cancel takes back a counted charge and keeps a late one from counting", "[charge][cancel]") {
    std::vector<CurrentWindow> ws = {window("day", "d1", 10)};
    ChargePolicy pol;
    pol.period_at = [](std::size_t, std::int64_t t) { return t < 1000 ? std::string("d1") : std::string("d2"); };
    auto counted = plan_charge(ws, {}, msg(2, 100, "Q1"), pol, 100);
    REQUIRE(counted.response.verdict == Verdict::accepted);
    ChargeRequest cancel = msg(2, 100, "Q1");
    cancel.mode = Mode::cancel;
    auto back = plan_charge(ws, counted.new_state, cancel, pol, 105);
    CHECK(back.response.verdict == Verdict::accepted);
    CHECK(back.write);
    CHECK(used(back.response, "day", Metric::messages) == 0);
    CHECK(used(back.response, "day", Metric::recipients) == 0);
    // A second cancel changes nothing; the charge repeated counts nothing.
    auto again = plan_charge(ws, back.new_state, cancel, pol, 106);
    CHECK(used(again.response, "day", Metric::messages) == 0);
    auto late = plan_charge(ws, again.new_state, msg(2, 100, "Q1"), pol, 107);
    CHECK(late.response.verdict == Verdict::duplicate);

    // Cancel first, the charge after (a hung server runs it late): it never counts.
    ChargeRequest c2 = msg(1, 100, "Q2");
    c2.mode = Mode::cancel;
    auto first = plan_charge(ws, {}, c2, pol, 200);
    CHECK(used(first.response, "day", Metric::messages) == 0);
    auto charge_late = plan_charge(ws, first.new_state, msg(1, 100, "Q2"), pol, 201);
    CHECK(charge_late.response.verdict == Verdict::duplicate);
    CHECK(used(charge_late.response, "day", Metric::messages) == 0);
    // Other ids still count.
    auto other = plan_charge(ws, first.new_state, msg(1, 100, "Q3"), pol, 202);
    CHECK(other.response.verdict == Verdict::accepted);

    // Counted in d1, cancelled in d2: the new period's count is not touched.
    auto late_day = plan_charge({window("day", "d2", 10)}, other.new_state, msg(1, 100, "Q4"), pol, 1001);
    ChargeRequest c3 = msg(1, 100, "Q3");
    c3.mode = Mode::cancel;
    auto across = plan_charge({window("day", "d2", 10)}, late_day.new_state, c3, pol, 1002);
    CHECK(used(across.response, "day", Metric::messages) == 1);
}

namespace {
AggregateInput domain(std::optional<std::uint64_t> messages, StoredState stored = {}) {
    AggregateInput a;
    a.windows = {window("day", "2026-11-22", messages)};
    a.stored = std::move(stored);
    return a;
}
std::uint64_t agg_used(const ChargeResponse &r, Metric m = Metric::messages) {
    REQUIRE(r.aggregate_windows.size() == 1);
    return r.aggregate_windows[0].usage[m];
}
}  // namespace

TEST_CASE("issue 19: an aggregate limit is shared by its accounts, exactly", "[charge][aggregate]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22", 100)};
    ChargePolicy pol;
    StoredState a, b;
    AggregateInput dom = domain(5);
    int accepted = 0;
    for (int i = 0; i < 10; ++i) {
        StoredState &acct = i % 2 ? b : a;
        auto p = plan_charge(ws, acct, msg(), pol, 1000 + i, &dom);
        if (p.response.verdict == Verdict::accepted) {
            ++accepted;
            REQUIRE(p.write);
            REQUIRE(p.aggregate_write);
            acct = p.new_state;
            dom.stored = p.aggregate_state;
        } else {
            // Refused by the aggregate: neither entry changes (only the first refusal marks the aggregate).
            CHECK_FALSE(p.write);
            REQUIRE(p.response.exceeded);
            CHECK(p.response.exceeded->level == Level::aggregate);
            CHECK(p.response.exceeded->limit == 5);
            CHECK(p.response.first_hit == p.aggregate_write);
            if (p.aggregate_write) dom.stored = p.aggregate_state;
        }
    }
    CHECK(accepted == 5);
    auto check = plan_charge(ws, a, msg(), pol, 2000, &dom);
    CHECK(agg_used(check.response) == 5);
    CHECK(used(check.response, "day", Metric::messages) == 3);  // a sent 3, b 2
}

TEST_CASE("issue 19: the account's own limit refuses first and names the account", "[charge][aggregate]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22", 1)};
    ChargePolicy pol;
    AggregateInput dom = domain(1000);
    auto first = plan_charge(ws, {}, msg(), pol, 1000, &dom);
    REQUIRE(first.response.verdict == Verdict::accepted);
    dom.stored = first.aggregate_state;
    auto second = plan_charge(ws, first.new_state, msg(), pol, 1001, &dom);
    CHECK(second.response.verdict == Verdict::refused);
    REQUIRE(second.response.exceeded);
    CHECK(second.response.exceeded->level == Level::account);
    CHECK(second.response.first_hit);
    CHECK(second.write);               // the account's mark
    CHECK_FALSE(second.aggregate_write);  // nothing charged to the aggregate
    CHECK(agg_used(second.response) == 1);
}

TEST_CASE("issue 19: the aggregate alerts once per window and period, whichever account passes it",
          "[charge][aggregate][alert]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22")};
    ChargePolicy pol;
    AggregateInput dom = domain(0);
    auto a = plan_charge(ws, {}, msg(), pol, 1000, &dom);
    CHECK(a.response.first_hit);
    REQUIRE(a.aggregate_write);
    dom.stored = a.aggregate_state;
    auto b = plan_charge(ws, {}, msg(), pol, 1001, &dom);
    CHECK(b.response.verdict == Verdict::refused);
    CHECK_FALSE(b.response.first_hit);
    CHECK_FALSE(b.aggregate_write);
}

TEST_CASE("issue 19: duplicates count nothing in the aggregate, cancel takes back from both",
          "[charge][aggregate][cancel]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22", 10)};
    ChargePolicy pol;
    pol.period_at = [](std::size_t, std::int64_t) { return std::string("2026-11-22"); };
    AggregateInput dom = domain(10);
    auto p = plan_charge(ws, {}, msg(2, 100, "Q1"), pol, 1000, &dom);
    REQUIRE(p.aggregate_write);
    dom.stored = p.aggregate_state;
    auto dup = plan_charge(ws, p.new_state, msg(2, 100, "Q1"), pol, 1001, &dom);
    CHECK(dup.response.verdict == Verdict::duplicate);
    CHECK_FALSE(dup.aggregate_write);
    CHECK(agg_used(dup.response) == 1);
    ChargeRequest cancel = msg(2, 100, "Q1");
    cancel.mode = Mode::cancel;
    auto back = plan_charge(ws, p.new_state, cancel, pol, 1002, &dom);
    REQUIRE(back.aggregate_write);
    CHECK(agg_used(back.response) == 0);
    CHECK(agg_used(back.response, Metric::recipients) == 0);
    CHECK(used(back.response, "day", Metric::messages) == 0);
    // An id the account never counted takes nothing from the aggregate.
    ChargeRequest other = msg(1, 100, "Q9");
    other.mode = Mode::cancel;
    auto none = plan_charge(ws, p.new_state, other, pol, 1003, &dom);
    CHECK_FALSE(none.aggregate_write);
}

TEST_CASE("issue 19: the aggregate's shares: other servers' summed, its own written, a new period rolls over",
          "[charge][aggregate][replication]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-23", 10)};
    ChargePolicy pol;
    pol.own_sid = 1;
    pol.history_keep = 3;
    StoredState dom_st;
    dom_st.usage.push_back(CounterValue{"day", "2026-11-23", 2, {}});
    dom_st.usage.back().usage.add(usage_of_message(4, 4, 400));
    dom_st.usage.push_back(CounterValue{"day", "2026-11-22", 1, {}});
    dom_st.usage.back().usage.add(usage_of_message(9, 9, 900));
    AggregateInput dom;
    dom.windows = {window("day", "2026-11-23", 5)};
    dom.stored = dom_st;
    REQUIRE(rolls_over(dom.windows, dom.stored, 1));
    auto p = plan_charge(ws, {}, msg(), pol, 1000, &dom);
    REQUIRE(p.response.verdict == Verdict::accepted);
    CHECK(agg_used(p.response) == 5);  // 4 of server 2, 1 of ours
    REQUIRE(p.aggregate_write);
    const auto &after = p.aggregate_state;
    CHECK(after.history.size() == 1);  // our ended share moved to history
    auto other = std::find_if(after.usage.begin(), after.usage.end(), [](const CounterValue &c) { return c.sid == 2; });
    REQUIRE(other != after.usage.end());
    CHECK(other->usage[Metric::messages] == 4);  // untouched
    dom.stored = after;
    auto refused = plan_charge(ws, {}, msg(), pol, 1001, &dom);
    CHECK(refused.response.verdict == Verdict::refused);
    CHECK(refused.response.exceeded->level == Level::aggregate);
}

TEST_CASE("issue 19: check mode reports the aggregate and refuses on it without writing", "[charge][aggregate]") {
    std::vector<CurrentWindow> ws = {window("day", "2026-11-22")};
    ChargePolicy pol;
    AggregateInput dom = domain(0);
    ChargeRequest q = msg();
    q.mode = Mode::check;
    auto p = plan_charge(ws, {}, q, pol, 1000, &dom);
    CHECK(p.response.verdict == Verdict::refused);
    CHECK(p.response.exceeded->level == Level::aggregate);
    CHECK_FALSE(p.write);
    CHECK_FALSE(p.aggregate_write);
    CHECK_FALSE(p.response.first_hit);
}
