// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* charge.h - the check-and-charge decision, free of slapd
 *
 * DESCRIPTION
 *   plan_charge() takes what is stored on an account entry (its counters,
 *   their history, the charge ids it accepted recently), the current period
 *   of every configured window, the resolved limits and one request, and
 *   returns the reply and the new stored state. The caller (the overlay)
 *   holds a lock around read, plan and write, which makes the decision and
 *   the write atomic with respect to every other charge.
 *
 *   A message passes only if, after adding it, every metric of every
 *   window stays within its limit. A refused message changes nothing.
 *   Counters of an ended period are rolled over lazily: moved to the
 *   history (newest last, at most history_keep per window) the next time
 *   the account is charged.
 *
 *   Each server writes only its own share (own_sid) of every counter and
 *   of the recent charge ids; decisions, the reply's usage, roll-over,
 *   limit marks and cancel read every share folded to one value
 *   (shares.h), then sum the shares (current_total), so replicated
 *   providers never overwrite each other and a share that replication
 *   left twice is counted once. A write of our share replaces every value
 *   of it this server holds (healing a duplicate a full refresh copied).
 */
#pragma once

#include "counter.h"
#include "shares.h"
#include "exop.h"
#include "limit_rules.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tally {

/* The state kept on one account entry. */
struct StoredState {
    std::vector<CounterValue> usage;     // tallyUsage
    std::vector<CounterValue> history;   // tallyHistory
    RecentCharges recent;                // tallyRecentCharge: this server's value
    /* this server's values as stored when there are several (recent is
     * their fold, merge_recent): the next write deletes each of them */
    std::vector<RecentCharges> recent_stored;
    std::vector<RecentCharges> recent_others;  // other servers' values, read only
    bool operator==(const StoredState &) const = default;
};

struct CurrentWindow {
    std::string name;
    std::string period;
    std::array<ResolvedLimit, kMetricCount> limits{};
    /* warning thresholds (soft limits: resolve_warning); nullopt: none */
    std::array<std::optional<std::uint64_t>, kMetricCount> warnings{};
};

struct ChargePolicy {
    unsigned own_sid = 0;
    /* count, never refuse: tally-accounting-only, or tallyAccountingOnly
     * on the account or its policies (resolve_accounting_only); a check
     * answers accepted too, so tallyctl check says what the doors will do */
    bool accounting_only = false;
    std::size_t history_keep = 0;       // past periods kept per window
    std::int64_t charge_id_ttl = 600;   // seconds a charge id is remembered
    std::size_t charge_id_max = 16;     // charge ids remembered per account
    /* cancel only: the period window i had at time t (the overlay's time
     * zone and patterns); a cancelled charge is taken back only from the
     * period it was counted in */
    std::function<std::string(std::size_t window, std::int64_t t)> period_at;
};

/* AggregateInput - the aggregate (domain) entry an account's charges also
 * count in: what it stores and its own limits (CurrentWindow::limits).
 * It keeps no charge ids: the account's decide duplicates and cancels,
 * and the account and its aggregate are written together. */
struct AggregateInput {
    std::vector<CurrentWindow> windows;
    StoredState stored;
};

struct ChargePlan {
    ChargeResponse response;
    bool write = false;  // new_state differs and must be stored
    StoredState new_state;
    bool aggregate_write = false;  // aggregate_state differs and must be stored (with new_state)
    StoredState aggregate_state;
};

/* plan_charge - decide one request at time now. With an aggregate, the
 * message passes only if both the account's and the aggregate's limits
 * hold (the account's are checked first); an applied charge is added to
 * both, a refused one to neither; the response reports the aggregate's
 * windows too (aggregate_windows; the caller fills in aggregate_dn) and
 * exceeded->level says whose limit was passed. A limit mark goes to the
 * level passed, so an aggregate alerts once per window and period
 * whichever of its accounts passes it.
 *
 * An applied charge that brings the account's usage of a window to one of
 * its warning thresholds, in a period whose counters carry no warning mark
 * yet, marks the window (warned=now) and reports it in response.warning:
 * one alert per account, window and period, whichever server or client
 * charges. One reply names one window; a second window reaching its
 * threshold with the same message is marked, and reported, by the next
 * applied charge. */
ChargePlan plan_charge(const std::vector<CurrentWindow> &windows, const StoredState &stored,
                       const ChargeRequest &req, const ChargePolicy &policy, std::int64_t now,
                       const AggregateInput *aggregate = nullptr);

/* rolls_over - whether a charge now moves counters of ours into the
 * history (then the caller must supply the stored history) */
bool rolls_over(const std::vector<CurrentWindow> &windows, const StoredState &stored, unsigned own_sid);

/* plan_reset - the state after resetting one window (or all when window is
 * empty) at time now: this server's share of the current period restarts
 * at zero and carries reset=now, which voids every older share of the
 * period, also those other providers wrote and replicate later; history
 * stays */
StoredState plan_reset(const StoredState &stored, const std::vector<CurrentWindow> &windows,
                       const std::string &window, unsigned own_sid, std::int64_t now);

}  // namespace tally
