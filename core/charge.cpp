// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* charge.cpp - roll-over, limit check and counter update for one charge */
#include "charge.h"

#include <algorithm>
#include <map>

namespace tally {

namespace {

/* roll_over - keep current-period values, move own stale shares into the
 * history (one value per share, however many replication left of it;
 * unless a reset made them void), drop other servers' stale values (they
 * roll their own) */
void roll_over(const std::vector<CurrentWindow> &windows, const ChargePolicy &policy,
               StoredState &st, bool &changed) {
    auto current = [&](const CounterValue &c) {
        auto w = std::find_if(windows.begin(), windows.end(),
                              [&](const CurrentWindow &cw) { return cw.name == c.window; });
        return w == windows.end() || w->period == c.period;  // unknown windows are left alone
    };
    if (std::all_of(st.usage.begin(), st.usage.end(), current)) return;  // the usual case
    changed = true;
    std::vector<CounterValue> old = std::move(st.usage);
    st.usage.clear();
    std::vector<CounterValue> ended;  // own values of ended periods
    for (CounterValue &c : old) {
        if (current(c)) st.usage.push_back(c);
        else if (c.sid == policy.own_sid && policy.history_keep > 0) ended.push_back(c);
    }
    for (CounterValue &share : merge_shares(ended)) {
        if (share.since < reset_point(old, share.window, share.period)) continue;  // void
        // Already there when a crash came between writing the history and the
        // account (the overlay writes them separately): not twice.
        if (std::find(st.history.begin(), st.history.end(), share) == st.history.end())
            st.history.push_back(std::move(share));
    }
    // Bound the history: at most history_keep values per (window, sid), oldest dropped first.
    std::map<std::pair<std::string, unsigned>, std::size_t> seen;
    std::vector<CounterValue> hist;
    for (auto it = st.history.rbegin(); it != st.history.rend(); ++it) {
        if (++seen[{it->window, it->sid}] <= policy.history_keep) hist.push_back(*it);
        else changed = true;
    }
    std::reverse(hist.begin(), hist.end());
    st.history = std::move(hist);
}

void prune_charge_ids(const ChargePolicy &policy, std::int64_t now, StoredState &st, bool &changed) {
    if (st.recent.prune(now - policy.charge_id_ttl, policy.charge_id_max)) changed = true;
}

Usage total_of(const StoredState &st, const CurrentWindow &w) { return current_total(st.usage, w.name, w.period); }

/* own_value - this server's value of window w's current period, null when
 * it has none. Should it hold several (a full refresh can copy another
 * server's stale duplicates of our share), they are folded into the one of
 * the latest since and the rest removed: the write that follows deletes
 * every one of them, here and, replicated, wherever they are. */
CounterValue *own_value(StoredState &st, const CurrentWindow &w, unsigned own_sid) {
    auto mine = [&](const CounterValue &c) { return c.sid == own_sid && c.window == w.name && c.period == w.period; };
    auto first = std::find_if(st.usage.begin(), st.usage.end(), mine);
    if (first == st.usage.end()) return nullptr;
    if (std::find_if(first + 1, st.usage.end(), mine) == st.usage.end()) return &*first;  // the usual case
    CounterValue kept = *first;
    for (auto it = first + 1; it != st.usage.end(); ++it) {
        if (!mine(*it)) continue;
        if (it->since > kept.since) kept = *it;
        else if (it->since == kept.since) merge_into(kept, *it);
    }
    std::size_t at = static_cast<std::size_t>(first - st.usage.begin());
    st.usage.erase(std::remove_if(st.usage.begin() + static_cast<std::ptrdiff_t>(at) + 1, st.usage.end(), mine),
                   st.usage.end());
    st.usage[at] = std::move(kept);
    return &st.usage[at];
}

/* own_share - this server's counter of window w's current period, created
 * empty when missing, and restarted when a reset (here or on another
 * provider) made it void */
CounterValue &own_share(StoredState &st, const CurrentWindow &w, unsigned own_sid, std::int64_t now) {
    std::int64_t r = reset_point(st.usage, w.name, w.period);
    CounterValue *own = own_value(st, w, own_sid);
    if (!own) {
        st.usage.push_back(CounterValue{w.name, w.period, own_sid, {}});
        own = &st.usage.back();
        if (r > 0) own->since = std::max(now, r);
    } else if (own->since < r) {
        *own = CounterValue{w.name, w.period, own_sid, {}};
        own->since = std::max(now, r);  // a clock behind the resetter's must not void the new share
    }
    return *own;
}

/* hit_marked - whether a valid share of any server already carries the limit mark */
bool hit_marked(const StoredState &st, const std::vector<CurrentWindow> &windows, const std::string &window) {
    for (const CurrentWindow &w : windows)
        if (w.name == window && limit_marked(st.usage, w.name, w.period)) return true;
    return false;
}

/* report_windows - every window's current total and limits, for the response */
void report_windows(const std::vector<CurrentWindow> &windows, const StoredState &st, std::vector<WindowReport> &out) {
    for (const CurrentWindow &w : windows) {
        WindowReport wr;
        wr.window = w.name;
        wr.period = w.period;
        wr.usage = total_of(st, w);
        for (Metric m : kAllMetrics) {
            wr.limits[static_cast<int>(m)] = w.limits[static_cast<int>(m)].max;
            wr.warnings[static_cast<int>(m)] = w.warnings[static_cast<int>(m)];
        }
        out.push_back(std::move(wr));
    }
}

/* first_exceeded - the first window and metric of one level that the
 * message would push over its limit */
std::optional<Exceeded> first_exceeded(const std::vector<CurrentWindow> &windows, const StoredState &st,
                                       const Usage &add, Level level) {
    for (const CurrentWindow &w : windows) {
        Usage now_total = total_of(st, w);
        for (Metric m : kAllMetrics) {
            const auto &lim = w.limits[static_cast<int>(m)].max;
            if (lim && saturating_add(now_total[m], add[m]) > *lim)
                return Exceeded{w.name, m, *lim, now_total[m], level};
        }
    }
    return std::nullopt;
}

/* mark_first_warning - after an applied charge: the first window (in
 * order) whose usage reached a warning threshold and carries no mark yet
 * gets one, and is reported; whether a mark was set */
bool mark_first_warning(const std::vector<CurrentWindow> &windows, StoredState &st, const ChargePolicy &policy,
                        std::int64_t now, ChargeResponse &resp) {
    for (const CurrentWindow &w : windows) {
        Usage total = total_of(st, w);
        for (Metric m : kAllMetrics) {
            const auto &t = w.warnings[static_cast<int>(m)];
            if (!t || total[m] < *t) continue;
            if (warning_marked(st.usage, w.name, w.period)) break;  // this window alerted already
            own_share(st, w, policy.own_sid, now).warned = now;
            resp.warning = Warning{w.name, m, *t, total[m], w.limits[static_cast<int>(m)].max};
            return true;
        }
    }
    return false;
}

/* take_back - subtract a charge counted at counted_at from this server's
 * shares; whether any share changed */
bool take_back(const std::vector<CurrentWindow> &windows, StoredState &st, const Usage &add,
               const ChargePolicy &policy, std::int64_t counted_at) {
    bool changed = false;
    for (std::size_t i = 0; i < windows.size(); ++i) {
        const CurrentWindow &w = windows[i];
        // Only from the share it was counted in: not a period that ended
        // since, nor a share restarted by a reset after it.
        if (!policy.period_at || policy.period_at(i, counted_at) != w.period) continue;
        // From this server's share as the decision reads it (the fold of
        // its values): a stale duplicate elsewhere keeps counting until it goes (shares.h).
        CounterValue *own = own_value(st, w, policy.own_sid);
        if (own && own->since <= counted_at) {
            own->usage.subtract(add);
            changed = true;
        }
    }
    return changed;
}

/* plan_cancel - take back a charge this server counted, or make sure it never counts */
ChargePlan plan_cancel(const std::vector<CurrentWindow> &windows, StoredState st, const ChargeRequest &req,
                       const Usage &add, const ChargePolicy &policy, std::int64_t now, StoredState *agg,
                       const AggregateInput *aggregate) {
    ChargePlan plan;
    if (auto counted_at = st.recent.cancel(req.charge_id, now - policy.charge_id_ttl, now)) {
        take_back(windows, st, add, policy, *counted_at);
        // The aggregate was written with the account: the account's id says
        // when, and the same periods and shares give it back.
        if (agg && take_back(aggregate->windows, *agg, add, policy, *counted_at)) {
            plan.aggregate_write = true;
            plan.aggregate_state = *agg;
        }
    }
    st.recent.prune(now - policy.charge_id_ttl, policy.charge_id_max);
    plan.response.verdict = Verdict::accepted;
    report_windows(windows, st, plan.response.windows);
    if (agg) report_windows(aggregate->windows, *agg, plan.response.aggregate_windows);
    plan.write = true;
    plan.new_state = std::move(st);
    plan.new_state.recent_stored.clear();  // the write replaces them with one value
    return plan;
}

}  // namespace

ChargePlan plan_charge(const std::vector<CurrentWindow> &windows, const StoredState &stored,
                       const ChargeRequest &req, const ChargePolicy &policy, std::int64_t now,
                       const AggregateInput *aggregate) {
    ChargePlan plan;
    StoredState st = stored;
    bool changed = false;
    roll_over(windows, policy, st, changed);
    prune_charge_ids(policy, now, st, changed);
    std::optional<StoredState> agg;
    bool agg_changed = false;
    if (aggregate) {
        agg = aggregate->stored;
        roll_over(aggregate->windows, policy, *agg, agg_changed);
    }

    const Usage add = usage_of_message(req.messages, req.recipients, req.bytes, req.external_recipients);
    if (req.mode == Mode::cancel)
        return plan_cancel(windows, std::move(st), req, add, policy, now, agg ? &*agg : nullptr, aggregate);
    // A charge id another provider accepted counts too (a milter that
    // failed over retries with the same id).
    const bool duplicate =
        !req.charge_id.empty() && req.mode != Mode::check &&
        (st.recent.contains(req.charge_id, now - policy.charge_id_ttl) ||
         std::any_of(st.recent_others.begin(), st.recent_others.end(), [&](const RecentCharges &r) {
             return r.contains(req.charge_id, now - policy.charge_id_ttl);
         }));

    // The first window and metric the message would push over its limit:
    // the account's first, then the aggregate's.
    std::optional<Exceeded> exceeded = first_exceeded(windows, st, add, Level::account);
    if (!exceeded && agg) exceeded = first_exceeded(aggregate->windows, *agg, add, Level::aggregate);

    ChargeResponse &resp = plan.response;
    bool enforce = req.mode == Mode::charge && !policy.accounting_only;
    bool apply = false;
    if (duplicate) {
        resp.verdict = Verdict::duplicate;
    } else if (req.mode == Mode::check) {
        resp.verdict = exceeded && !policy.accounting_only ? Verdict::refused : Verdict::accepted;
    } else if (exceeded && enforce) {
        resp.verdict = Verdict::refused;
    } else {
        resp.verdict = Verdict::accepted;
        apply = true;
    }
    resp.exceeded = duplicate ? std::nullopt : exceeded;

    // The first message of a period to pass a window's limit marks that
    // window's counter, so the alert goes out once, not per refusal.
    // The mark goes to the level whose limit was passed.
    const bool at_aggregate = exceeded && exceeded->level == Level::aggregate;
    StoredState &marked = at_aggregate ? *agg : st;
    const std::vector<CurrentWindow> &marked_windows = at_aggregate ? aggregate->windows : windows;
    bool mark_hit = exceeded && !duplicate && req.mode != Mode::check &&
                    !hit_marked(marked, marked_windows, exceeded->window);
    if (mark_hit) {
        own_share(marked,
                  *std::find_if(marked_windows.begin(), marked_windows.end(),
                                [&](const CurrentWindow &w) { return w.name == exceeded->window; }),
                  policy.own_sid, now)
            .limit_hit = now;
        resp.first_hit = true;
        (at_aggregate ? agg_changed : changed) = true;
    }

    if (apply) {
        for (const CurrentWindow &w : windows) own_share(st, w, policy.own_sid, now).usage.add(add);
        if (agg) {
            for (const CurrentWindow &w : aggregate->windows) own_share(*agg, w, policy.own_sid, now).usage.add(add);
            agg_changed = true;
        }
        if (!req.charge_id.empty()) {
            st.recent.add(now, req.charge_id);
            st.recent.prune(now - policy.charge_id_ttl, policy.charge_id_max);
        }
        mark_first_warning(windows, st, policy, now, resp);
        changed = true;
    }

    report_windows(windows, st, resp.windows);
    if (agg) report_windows(aggregate->windows, *agg, resp.aggregate_windows);
    // Only an applied charge or a new limit mark is written: roll-over
    // alone is redone lazily next time.
    plan.write = (apply || (mark_hit && !at_aggregate)) && changed;
    plan.new_state = std::move(st);
    if (plan.write) plan.new_state.recent_stored.clear();  // the write replaces them with one value
    if (agg) {
        plan.aggregate_write = (apply || (mark_hit && at_aggregate)) && agg_changed;
        plan.aggregate_state = std::move(*agg);
        if (plan.aggregate_write) plan.aggregate_state.recent_stored.clear();
    }
    return plan;
}

bool rolls_over(const std::vector<CurrentWindow> &windows, const StoredState &stored, unsigned own_sid) {
    for (const CounterValue &c : stored.usage) {
        if (c.sid != own_sid) continue;
        for (const CurrentWindow &w : windows)
            if (w.name == c.window && w.period != c.period) return true;
    }
    return false;
}

StoredState plan_reset(const StoredState &stored, const std::vector<CurrentWindow> &windows,
                       const std::string &window, unsigned own_sid, std::int64_t now) {
    StoredState st = stored;
    for (const CurrentWindow &w : windows) {
        if (!window.empty() && w.name != window) continue;
        // At least the latest reset already seen, so this one is never older.
        std::int64_t at = std::max(now, reset_point(st.usage, w.name, w.period));
        st.usage.erase(std::remove_if(st.usage.begin(), st.usage.end(),
                                      [&](const CounterValue &c) {
                                          return c.window == w.name && c.period == w.period && c.sid == own_sid;
                                      }),
                       st.usage.end());
        CounterValue fresh{w.name, w.period, own_sid, {}};
        fresh.since = at;
        fresh.reset = at;
        st.usage.push_back(std::move(fresh));
    }
    st.recent_stored.clear();  // the write replaces them with one value
    return st;
}

}  // namespace tally
