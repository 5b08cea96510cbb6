// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* shares.cpp - folding the values of one share, summing shares */
#include "shares.h"

#include <algorithm>
#include <array>

namespace tally {

namespace {

bool in_period(const CounterValue &c, std::string_view window, std::string_view period) {
    return c.window == window && c.period == period;
}

/* for_each_share - f(share) once per share of values that keep(value)
 * selects, folded. A charge reads the totals of every window twice, so
 * this is on its path: the selected values (one per provider, usually) are
 * gathered first, on the stack, and only they are compared with each other;
 * a share with a single value (the usual case) is passed as it is. */
template <typename Keep, typename F>
void for_each_share(const std::vector<CounterValue> &values, Keep keep, F f) {
    constexpr std::size_t kOnStack = 16;
    std::array<const CounterValue *, kOnStack> on_stack;
    std::vector<const CounterValue *> on_heap;  // only beyond kOnStack selected values
    std::size_t n = 0;
    for (const CounterValue &c : values) {
        if (!keep(c)) continue;
        if (n == kOnStack) on_heap.assign(on_stack.begin(), on_stack.end());
        if (n < kOnStack) on_stack[n] = &c;
        else on_heap.push_back(&c);
        ++n;
    }
    const CounterValue *const *kept = n <= kOnStack ? on_stack.data() : on_heap.data();
    for (std::size_t i = 0; i < n; ++i) {
        const CounterValue &c = *kept[i];
        bool folded_before = false;  // into the share's first value
        for (std::size_t j = 0; j < i && !folded_before; ++j) folded_before = same_share(*kept[j], c);
        if (folded_before) continue;
        std::size_t next = i + 1;
        while (next < n && !same_share(*kept[next], c)) ++next;
        if (next == n) {
            f(c);
            continue;
        }
        CounterValue folded = c;
        for (; next < n; ++next)
            if (same_share(*kept[next], c)) merge_into(folded, *kept[next]);
        f(folded);
    }
}

}  // namespace

bool same_share(const CounterValue &a, const CounterValue &b) {
    return a.sid == b.sid && a.since == b.since && a.window == b.window && a.period == b.period;
}

void merge_into(CounterValue &into, const CounterValue &other) {
    for (Metric m : kAllMetrics) into.usage[m] = std::max(into.usage[m], other.usage[m]);
    if (other.limit_hit > 0 && (into.limit_hit == 0 || other.limit_hit < into.limit_hit))
        into.limit_hit = other.limit_hit;
    if (other.warned > 0 && (into.warned == 0 || other.warned < into.warned)) into.warned = other.warned;
    into.reset = std::max(into.reset, other.reset);
}

std::vector<CounterValue> merge_shares(const std::vector<CounterValue> &values) {
    std::vector<CounterValue> out;
    for_each_share(values, [](const CounterValue &) { return true; },
                   [&](const CounterValue &share) { out.push_back(share); });
    return out;
}

std::int64_t reset_point(const std::vector<CounterValue> &values, std::string_view window, std::string_view period) {
    std::int64_t r = 0;
    for (const CounterValue &c : values)
        if (in_period(c, window, period) && c.reset > r) r = c.reset;
    return r;
}

namespace {
/* for_each_valid_share - f(share) for every share of window w in period p that no later reset voided */
template <typename F>
void for_each_valid_share(const std::vector<CounterValue> &values, std::string_view window, std::string_view period,
                          F f) {
    // The reset point is found in the same pass that gathers the period's
    // values; shares are passed on only after it, so it is complete.
    std::int64_t r = 0;
    auto keep = [&](const CounterValue &c) {
        if (!in_period(c, window, period)) return false;
        r = std::max(r, c.reset);
        return true;
    };
    for_each_share(values, keep, [&](const CounterValue &share) {
        if (share.since >= r) f(share);
    });
}
}  // namespace

std::vector<CounterValue> valid_shares(const std::vector<CounterValue> &values, std::string_view window,
                                       std::string_view period) {
    std::vector<CounterValue> out;
    for_each_valid_share(values, window, period, [&](const CounterValue &share) { out.push_back(share); });
    return out;
}

Usage current_total(const std::vector<CounterValue> &values, std::string_view window, std::string_view period) {
    Usage total;
    for_each_valid_share(values, window, period, [&](const CounterValue &share) { total.add(share.usage); });
    return total;
}

bool limit_marked(const std::vector<CounterValue> &values, std::string_view window, std::string_view period) {
    bool marked = false;
    for_each_valid_share(values, window, period, [&](const CounterValue &share) { marked |= share.limit_hit > 0; });
    return marked;
}

bool warning_marked(const std::vector<CounterValue> &values, std::string_view window, std::string_view period) {
    bool marked = false;
    for_each_valid_share(values, window, period, [&](const CounterValue &share) { marked |= share.warned > 0; });
    return marked;
}

}  // namespace tally
