// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// One provider's share left twice by replication (issue 23: a provider
// killed between its database commit and its accesslog write): every
// reader counts it once, the owner's next write heals it.
#include "charge.h"
#include "shares.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace tally;

namespace {

CounterValue day(unsigned sid, std::uint64_t messages, std::uint64_t bytes = 0) {
    CounterValue c{"day", "2026-12-04", sid, {}};
    c.usage[Metric::messages] = c.usage[Metric::recipients] = messages;
    c.usage[Metric::bytes] = bytes;
    return c;
}

CurrentWindow today(std::optional<std::uint64_t> messages = std::nullopt) {
    CurrentWindow w;
    w.name = "day";
    w.period = "2026-12-04";
    w.limits[0].max = messages;
    return w;
}

ChargeRequest one_message(const std::string &id = "", Mode mode = Mode::charge) {
    ChargeRequest r;
    r.account = "uid=a";
    r.messages = 1;
    r.recipients = 1;
    r.bytes = 100;
    r.charge_id = id;
    r.mode = mode;
    return r;
}

std::uint64_t messages_of(const ChargeResponse &r) { return r.windows.at(0).usage[Metric::messages]; }

std::vector<CounterValue> of_sid(const std::vector<CounterValue> &values, unsigned sid) {
    std::vector<CounterValue> out;
    std::copy_if(values.begin(), values.end(), std::back_inserter(out), [&](const CounterValue &c) { return c.sid == sid; });
    return out;
}

}  // namespace

TEST_CASE("issue 23: two values of one share count once, the larger", "[shares][replication]") {
    // What provider 1 held in the report: its own 177, provider 2's 123 and 134.
    std::vector<CounterValue> v = {day(1, 177), day(2, 123), day(2, 134)};
    CHECK(current_total(v, "day", "2026-12-04")[Metric::messages] == 311);
    // Whatever order the values arrived in.
    std::sort(v.begin(), v.end(), [](const CounterValue &a, const CounterValue &b) {
        return a.usage[Metric::messages] > b.usage[Metric::messages];
    });
    CHECK(current_total(v, "day", "2026-12-04")[Metric::messages] == 311);
    auto shares = valid_shares(v, "day", "2026-12-04");
    CHECK(shares.size() == 2);
    // The same value twice (a full refresh and a replay) counts once too.
    CHECK(current_total({day(2, 5), day(2, 5)}, "day", "2026-12-04")[Metric::messages] == 5);
    // Other periods and windows are not mixed in.
    CounterValue yesterday = day(2, 50);
    yesterday.period = "2026-12-03";
    CHECK(current_total({day(2, 5), yesterday}, "day", "2026-12-04")[Metric::messages] == 5);
}

TEST_CASE("folding a share: per metric the largest, the earliest limit mark", "[shares]") {
    CounterValue a = day(2, 10, 5000), b = day(2, 9, 9000);  // after a cancel metrics can disagree
    a.limit_hit = 300;
    b.limit_hit = 200;
    CounterValue f = a;
    merge_into(f, b);
    CHECK(f.usage[Metric::messages] == 10);
    CHECK(f.usage[Metric::bytes] == 9000);
    CHECK(f.limit_hit == 200);
    CounterValue g = b;
    merge_into(g, a);
    CHECK(g == f);  // order does not matter
    CounterValue unmarked = day(2, 1);
    merge_into(unmarked, a);
    CHECK(unmarked.limit_hit == 300);
    CHECK(limit_marked({day(2, 1), a}, "day", "2026-12-04"));
    CHECK_FALSE(limit_marked({day(2, 1), day(2, 2)}, "day", "2026-12-04"));
}

TEST_CASE("shares differ by since: a reset voids every value of the older share", "[shares][replication]") {
    CounterValue restarted = day(1, 2);
    restarted.since = restarted.reset = 1000;
    CounterValue later = day(2, 3);
    later.since = 1005;  // provider 2 restarted its share after the reset reached it
    std::vector<CounterValue> v = {day(2, 40), restarted, day(2, 41), later};
    CHECK(reset_point(v, "day", "2026-12-04") == 1000);
    CHECK(current_total(v, "day", "2026-12-04")[Metric::messages] == 5);
    CHECK(merge_shares(v).size() == 3);  // sid 2 since 0 folded; sid 1 since 1000; sid 2 since 1005
}

TEST_CASE("issue 23: the decision counts a duplicated share once", "[shares][charge][replication]") {
    StoredState st;
    st.usage = {day(1, 177), day(2, 123), day(2, 134)};
    ChargePolicy pol;
    pol.own_sid = 1;
    auto ok = plan_charge({today(312)}, st, one_message(), pol, 100);
    CHECK(ok.response.verdict == Verdict::accepted);
    CHECK(messages_of(ok.response) == 312);
    auto refused = plan_charge({today(311)}, st, one_message(), pol, 100);
    CHECK(refused.response.verdict == Verdict::refused);
    CHECK(refused.response.exceeded->usage == 311);
    // Check mode (tallyctl usage, report, top) reads the same total.
    auto check = plan_charge({today()}, st, one_message("", Mode::check), pol, 100);
    CHECK(messages_of(check.response) == 311);
    // Another provider's values are never written: both stay as they were.
    CHECK(of_sid(ok.new_state.usage, 2) == std::vector<CounterValue>{day(2, 123), day(2, 134)});
}

TEST_CASE("issue 23: the owner's write replaces every value of its share it holds", "[shares][charge][replication]") {
    // A full refresh copied provider 1's stale view of our share to us (provider 2).
    StoredState st;
    st.usage = {day(2, 123), day(1, 177), day(2, 134)};
    ChargePolicy pol;
    pol.own_sid = 2;
    auto p = plan_charge({today()}, st, one_message(), pol, 100);
    REQUIRE(p.write);
    CHECK(messages_of(p.response) == 312);
    auto mine = of_sid(p.new_state.usage, 2);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].usage[Metric::messages] == 135);
    // So the write deletes both old values (what the overlay writes is the difference).
    for (const CounterValue &old : {day(2, 123), day(2, 134)})
        CHECK(std::find(p.new_state.usage.begin(), p.new_state.usage.end(), old) == p.new_state.usage.end());
    CHECK(of_sid(p.new_state.usage, 1) == std::vector<CounterValue>{day(1, 177)});
}

TEST_CASE("issue 23: a limit mark on a duplicated share is seen once, the first hit not repeated",
          "[shares][charge][alert]") {
    CounterValue marked = day(2, 134);
    marked.limit_hit = 50;
    StoredState st;
    st.usage = {day(1, 177), day(2, 123), marked};
    ChargePolicy pol;
    pol.own_sid = 1;
    auto p = plan_charge({today(311)}, st, one_message(), pol, 100);
    CHECK(p.response.verdict == Verdict::refused);
    CHECK_FALSE(p.response.first_hit);
    CHECK_FALSE(p.write);
    // Without the mark, the first refusal marks our own share, once.
    st.usage = {day(1, 177), day(2, 123), day(2, 134)};
    auto first = plan_charge({today(311)}, st, one_message(), pol, 100);
    CHECK(first.response.first_hit);
    auto second = plan_charge({today(311)}, first.new_state, one_message(), pol, 101);
    CHECK_FALSE(second.response.first_hit);
}

TEST_CASE("issue 23: roll-over moves a duplicated share into the history once", "[shares][charge][history]") {
    CounterValue old_a = day(2, 123), old_b = day(2, 134);
    StoredState st;
    st.usage = {old_a, day(1, 177), old_b};
    ChargePolicy pol;
    pol.own_sid = 2;
    pol.history_keep = 10;
    CurrentWindow next = today();
    next.period = "2026-12-05";
    auto p = plan_charge({next}, st, one_message(), pol, 100);
    REQUIRE(p.write);
    REQUIRE(p.new_state.history.size() == 1);
    CHECK(p.new_state.history[0] == old_b);
    CHECK(messages_of(p.response) == 1);
    // Another provider's ended share (with its duplicate) goes nowhere: its owner rolls it.
    pol.own_sid = 1;
    auto q = plan_charge({next}, st, one_message(), pol, 100);
    REQUIRE(q.new_state.history.size() == 1);
    CHECK(q.new_state.history[0] == day(1, 177));
}

TEST_CASE("issue 23: cancel takes back from the folded share and leaves one value", "[shares][charge][cancel]") {
    ChargePolicy pol;
    pol.own_sid = 2;
    pol.charge_id_ttl = 600;
    pol.period_at = [](std::size_t, std::int64_t) { return std::string("2026-12-04"); };
    StoredState st;
    st.usage = {day(2, 123), day(2, 134)};
    st.recent.add(90, "Q1");
    auto back = plan_charge({today()}, st, one_message("Q1", Mode::cancel), pol, 100);
    CHECK(messages_of(back.response) == 133);
    auto mine = of_sid(back.new_state.usage, 2);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].usage[Metric::messages] == 133);
    // On another server that still holds the stale 134 beside the owner's
    // 133, the larger counts: the cancel is not seen there until it goes.
    CHECK(current_total({day(2, 134), mine[0]}, "day", "2026-12-04")[Metric::messages] == 134);
}

TEST_CASE("issue 23: a reset replaces every value of the resetting server's share", "[shares][charge]") {
    StoredState st;
    st.usage = {day(1, 5), day(1, 7), day(2, 3), day(2, 4)};
    StoredState r = plan_reset(st, {today()}, "day", 1, 1000);
    auto mine = of_sid(r.usage, 1);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].reset == 1000);
    CHECK(current_total(r.usage, "day", "2026-12-04") == Usage{});
}

TEST_CASE("issue 23: two values of our own recent charge ids are folded and written back as one",
          "[shares][charge][replication]") {
    RecentCharges stale("100:A 105:B"), current("105:B 110~:C 120:D");
    RecentCharges both = merge_recent(stale, current);
    CHECK(both.raw() == "100:A 105:B 110~:C 120:D");
    CHECK(merge_recent(current, stale) == both);  // oldest first, whichever came first
    StoredState st;
    st.usage = {day(2, 134), day(2, 123)};
    st.recent = both;
    st.recent_stored = {stale, current};
    ChargePolicy pol;
    pol.own_sid = 2;
    // An id only the stale value holds is still a duplicate.
    auto dup = plan_charge({today()}, st, one_message("A"), pol, 130);
    CHECK(dup.response.verdict == Verdict::duplicate);
    CHECK_FALSE(dup.write);
    // A write carries one value; what was stored is for the overlay to delete.
    auto p = plan_charge({today()}, st, one_message("E"), pol, 130);
    REQUIRE(p.write);
    CHECK(p.new_state.recent.contains("A", 0));
    CHECK(p.new_state.recent.contains("E", 0));
    CHECK(p.new_state.recent_stored.empty());
    CHECK(plan_reset(st, {today()}, "day", 2, 140).recent_stored.empty());
}
