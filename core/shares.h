// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* shares.h - one provider's share of a counter, however many values of it replication left
 *
 * DESCRIPTION
 *   A share is what one provider (sid) counted in one window and period
 *   since one reset epoch (since): every tallyUsage value with the same
 *   (window, period, sid, since) is a value of that share. Its owner holds
 *   one value and changes it by deleting it and adding the next, and
 *   delta-syncrepl replays exactly that on the other servers.
 *
 *   Replication can leave a server holding two values of one share: a
 *   provider killed after its database commit and before its accesslog
 *   write loses the record "delete 123, add 124"; its next change "delete
 *   124, add 125" reaches the others, who skip the delete of a value they
 *   do not hold and add 125 beside their 123. A full refresh copies such
 *   an entry as it is. Summing every value would count the share twice for
 *   the rest of the period, so every reader folds the values of a share
 *   into one first and sums the shares (current_total). This file is the
 *   one place that says how.
 *
 *   The fold (merge_into), chosen so that the result depends only on the
 *   set of values a server holds, not on the order they arrived in (every
 *   server holding the same values decides the same):
 *     usage      per metric, the largest value. Every value of a share is
 *                a snapshot of one counter that only grows between
 *                cancels, so the newest snapshot is the largest in every
 *                metric and the fold is exactly it. After a cancel the
 *                owner's value is smaller than the one before; a server
 *                that still holds an older, larger duplicate counts that
 *                one: a cancel is then not seen there until the duplicate
 *                goes (the owner's value passing through it, or the end
 *                of the period). The error is toward counting more,
 *                bounded by what was cancelled.
 *     limitHit   the earliest mark: when the limit was first passed.
 *     warned     the earliest mark: when a warning threshold was first reached.
 *     reset      the latest (values of one share carry the same one).
 *
 * BUGS
 *   A stale duplicate of another provider's share is never deleted by the
 *   server that holds it (a provider writes only its own share): it goes
 *   when the owner's change deletes that exact value, otherwise it stops
 *   counting when its period ends and stays in the entry, inert.
 */
#pragma once

#include "counter.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace tally {

/* same_share - a and b are values of one share */
bool same_share(const CounterValue &a, const CounterValue &b);

/* merge_into - fold another value of into's share into it (see above) */
void merge_into(CounterValue &into, const CounterValue &other);

/* merge_shares - values folded to one per share, in the order each
 * share's first value appears */
std::vector<CounterValue> merge_shares(const std::vector<CounterValue> &values);

/* reset_point - the latest reset of window w in period p (0: none) */
std::int64_t reset_point(const std::vector<CounterValue> &values, std::string_view window, std::string_view period);

/* valid_shares - the shares of window w in period p that count: one value
 * each, leaving out those a later reset made void */
std::vector<CounterValue> valid_shares(const std::vector<CounterValue> &values, std::string_view window,
                                       std::string_view period);

/* current_total - the usage of window w in period p: the sum of the valid
 * shares, each counted once */
Usage current_total(const std::vector<CounterValue> &values, std::string_view window, std::string_view period);

/* limit_marked - a valid share of window w in period p carries limitHit */
bool limit_marked(const std::vector<CounterValue> &values, std::string_view window, std::string_view period);

/* warning_marked - a valid share of window w in period p carries warned */
bool warning_marked(const std::vector<CounterValue> &values, std::string_view window, std::string_view period);

}  // namespace tally
