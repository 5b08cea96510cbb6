// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// A replicated change (a full refresh from a provider that charged the
// account last) never takes this server's own counter values away
// (issue 23: a refresh after a crash forgot answered charges everywhere).
#include "counter.h"
#include "own_values.h"
#include "shares.h"

#include <catch2/catch.hpp>

using namespace tally;

namespace {

std::string day(unsigned sid, std::uint64_t messages) {
    CounterValue c{"day", "2026-12-04", sid, {}};
    c.usage[Metric::messages] = messages;
    return encode_counter(c);
}

std::optional<AttributeChange> apply(ValueChange kind, std::vector<std::string> values,
                                     const std::vector<std::string> &current, unsigned own = 2) {
    return keep_own_values({kind, std::move(values)}, current, own, usage_owner);
}

}  // namespace

TEST_CASE("own values: the owner of a value is its sid", "[unit][own_values]") {
    CHECK(usage_owner(day(2, 5)) == 2u);
    CHECK(usage_owner("day 2026-12-04 messages=oops") == std::nullopt);
    CHECK(recent_owner(encode_recent(7, RecentCharges{})) == 7u);
    CHECK(recent_owner("1795000000:abc") == 0u);  // written before serverIDs: sid 0's
    CHECK(recent_owner("sid=x 1795000000:abc") == std::nullopt);
}

TEST_CASE("own values: a refresh's replace keeps our newer share beside the other provider's stale copy",
          "[unit][own_values]") {
    // We (sid 2) counted 103; the other provider, which charged last, still holds our 95.
    std::vector<std::string> ours = {day(1, 200), day(2, 103)};
    auto out = apply(ValueChange::replace, {day(1, 201), day(2, 95)}, ours);
    REQUIRE(out);
    CHECK(out->kind == ValueChange::replace);
    CHECK(out->values == std::vector<std::string>{day(1, 201), day(2, 95), day(2, 103)});
    // ... and every reader counts our share once, as 103.
    std::vector<CounterValue> decoded;
    for (const auto &v : out->values) decoded.push_back(*decode_counter(v));
    CHECK(current_total(decoded, "day", "2026-12-04")[Metric::messages] == 201 + 103);
}

TEST_CASE("own values: a delete of our values is left out, of the others' goes through", "[unit][own_values]") {
    std::vector<std::string> current = {day(1, 200), day(2, 103)};
    auto mixed = apply(ValueChange::remove, {day(1, 200), day(2, 103)}, current);
    REQUIRE(mixed);
    CHECK(mixed->kind == ValueChange::remove);
    CHECK(mixed->values == std::vector<std::string>{day(1, 200)});
    // Only ours: nothing is left to do.
    CHECK(apply(ValueChange::remove, {day(2, 103)}, current) == std::nullopt);
}

TEST_CASE("own values: removing the attribute keeps ours, or removes it when we hold none", "[unit][own_values]") {
    auto kept = apply(ValueChange::remove, {}, {day(1, 200), day(2, 103)});
    REQUIRE(kept);
    CHECK(kept->kind == ValueChange::replace);
    CHECK(kept->values == std::vector<std::string>{day(2, 103)});
    auto gone = apply(ValueChange::remove, {}, {day(1, 200)});
    REQUIRE(gone);
    CHECK(gone->kind == ValueChange::remove);
    CHECK(gone->values.empty());
}

TEST_CASE("own values: adds pass, and malformed values are nobody's", "[unit][own_values]") {
    CHECK(apply(ValueChange::add, {day(2, 90)}, {day(2, 103)}) ==
          AttributeChange{ValueChange::add, {day(2, 90)}});
    // A value whose sid cannot be read is not protected: replication may remove it.
    auto out = apply(ValueChange::remove, {"not a counter"}, {"not a counter", day(2, 103)});
    REQUIRE(out);
    CHECK(out->values == std::vector<std::string>{"not a counter"});
    // Another server's view: sid 1 protects its own, not ours.
    CHECK(apply(ValueChange::remove, {day(2, 103)}, {day(2, 103)}, 1) ==
          AttributeChange{ValueChange::remove, {day(2, 103)}});
}
