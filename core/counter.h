// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* counter.h - the text form of the counters kept as operational attributes
 *
 * DESCRIPTION
 *   One attribute value per window, per period and per server, readable
 *   with ldapsearch ... +:
 *
 *     tallyUsage: day 2026-11-22 sid=0 messages=12 recipients=30 bytes=48211 byteRecipients=120933
 *
 *   sid is the serverID of the provider that wrote the value: each provider
 *   writes only its own share and readers sum the shares of the current
 *   period, so replicated providers never overwrite each other's counts
 *   (shares.h: a share's values are folded into one before the sum).
 *   Optional fields follow, each only when set: " externalRecipients=N"
 *   (recipients outside the hosted domains; absent means 0, so values
 *   written before the metric existed read unchanged), " limitHit=EPOCH" (the
 *   time a limit of the window was first passed in this period),
 *   " warned=EPOCH" (the time a warning threshold of the window was first
 *   reached in this period: warning_rules.h),
 *   " since=EPOCH" and " reset=EPOCH" (see CounterValue).
 *   tallyHistory holds values of the same form for past periods.
 *
 *   tallyRecentCharge remembers accepted charge ids for a bounded time so a
 *   repeated charge is not counted twice, oldest first, in one value (one
 *   value is far cheaper for back-mdb to rewrite than dozens); a cancelled
 *   charge is kept as "EPOCH~:ID" so it can never count again:
 *
 *     tallyRecentCharge: 1795000000:4XbT2c1NqVz 1795000003:4XbT2c1NqW0
 */
#pragma once

#include "metric.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

struct CounterValue {
    std::string window;
    std::string period;
    unsigned sid = 0;
    Usage usage;
    /* when a limit of this window was first passed in this period (epoch
     * seconds; 0: not yet). Alerts go out once per account per window:
     * whoever sets this mark sends the alert. */
    std::int64_t limit_hit = 0;
    /* when a warning threshold (soft limit) of this window was first
     * reached in this period; the same once-per-period rule as limit_hit */
    std::int64_t warned = 0;
    /* Replication (several providers, each writing only its own share):
     * reset is set on the share of the provider where an administrator
     * reset the window, at that time; every share of the period whose
     * since is older is void from then on, wherever it was written. A
     * share restarted after a reset carries the time it started in since.
     * Both are 0 (not written) on a server that never saw a reset. */
    std::int64_t since = 0;
    std::int64_t reset = 0;
    bool operator==(const CounterValue &) const = default;
};

/* encode_counter - the attribute value of a counter */
std::string encode_counter(const CounterValue &c);

/* decode_counter - nullopt for a value not in the form above */
std::optional<CounterValue> decode_counter(std::string_view text);

/* valid_charge_id - 1..128 printable ASCII characters, no spaces */
bool valid_charge_id(std::string_view id);

/* RecentCharges - the tallyRecentCharge value, worked on in place: a charge
 * only asks "seen?" and appends, so the value is scanned, not decoded */
class RecentCharges {
public:
    RecentCharges() = default;
    explicit RecentCharges(std::string raw) : raw_(std::move(raw)) {}
    const std::string &raw() const { return raw_; }
    bool empty() const { return raw_.empty(); }
    std::size_t size() const;
    /* contains - id was accepted at or after since */
    bool contains(std::string_view id, std::int64_t since) const;
    /* prune - drop records older than since, then the oldest beyond max; true if any went */
    bool prune(std::int64_t since, std::size_t max);
    /* cancel - id must not count: a counted record of id at or after since
     * becomes cancelled ("EPOCH~:ID"; returned: when it was counted, so the
     * caller takes its counts back from that period), otherwise a cancelled record is added at now, so that the
     * charge, should it still arrive, is a duplicate. contains() sees
     * cancelled records too. */
    std::optional<std::int64_t> cancel(std::string_view id, std::int64_t since, std::int64_t now);
    /* add - append one record (the caller prunes) */
    void add(std::int64_t when, std::string_view id);
    bool operator==(const RecentCharges &) const = default;

private:
    std::string raw_;  // "EPOCH:ID EPOCH:ID ...", oldest first
};

/* merge_recent - the records of a and b, oldest first, each once: a server
 * holding two values of its own (a full refresh copied another server's
 * stale one) sees every id of both, and writes one value back */
RecentCharges merge_recent(const RecentCharges &a, const RecentCharges &b);

/* The tallyRecentCharge value of one server: "sid=N " before the records
 * for N > 0, so that each provider replaces only its own value. */
std::string encode_recent(unsigned sid, const RecentCharges &r);
/* decode_recent - nullopt for a malformed sid prefix */
std::optional<std::pair<unsigned, RecentCharges>> decode_recent(std::string_view text);


}  // namespace tally
