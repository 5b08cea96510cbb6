/* shares.cpp - folding the values of one share, summing shares */
#include "shares.h"

#include <algorithm>

namespace tally {

namespace {

bool in_period(const CounterValue &c, std::string_view window, std::string_view period) {
    return c.window == window && c.period == period;
}

/* for_each_share - f(share) once per share of values that keep(value)
 * selects, folded; a charge reads the totals of every window, so a share
 * with a single value (the usual case) is passed as it is, not copied */
template <typename Keep, typename F>
void for_each_share(const std::vector<CounterValue> &values, Keep keep, F f) {
    for (std::size_t i = 0; i < values.size(); ++i) {
        const CounterValue &c = values[i];
        if (!keep(c)) continue;
        auto same = [&](const CounterValue &o) { return same_share(o, c); };
        if (std::any_of(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(i), same))
            continue;  // folded where the share's first value was
        auto next = std::find_if(values.begin() + static_cast<std::ptrdiff_t>(i) + 1, values.end(), same);
        if (next == values.end()) {
            f(c);
            continue;
        }
        CounterValue folded = c;
        for (; next != values.end(); next = std::find_if(next + 1, values.end(), same)) merge_into(folded, *next);
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
    const std::int64_t r = reset_point(values, window, period);
    for_each_share(values, [&](const CounterValue &c) { return in_period(c, window, period) && c.since >= r; }, f);
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

}  // namespace tally
