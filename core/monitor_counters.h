// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* monitor_counters.h - what the overlay counts for cn=Monitor
 *
 * DESCRIPTION
 *   One MonitorCounters per database carrying the overlay: charges by
 *   outcome, resets, errors by class, commits and the writes they carried,
 *   first limit hits. The overlay bumps them on every operation (relaxed
 *   atomics: no lock on the charge path) and back-monitor reads them when
 *   someone searches cn=Monitor (overlay/tally_monitor.cpp). The attribute
 *   table (names, OIDs, descriptions) lives here once, for the schema the
 *   overlay registers and for what tallyctl reads; the mapping from an
 *   operation's mode and verdict to its counter is pure and unit-tested.
 *   Values count from the start of slapd, like monitorCounter.
 */
#pragma once

#include "exop.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tally {

enum class MonitorCounter : int {
    charges_accepted,
    charges_refused,
    charges_duplicate,
    checks,
    counts,
    cancels,
    resets,
    errors_bad_request,
    errors_not_authorized,
    errors_write_failed,
    errors_other,
    commits,
    committed_writes,
    first_limit_hits,
};
inline constexpr std::size_t kMonitorCounters = 14;

/* MonitorAttribute - one counter as an attribute of the monitor entry:
 * OID TALLY_OID_ARC.1.<oid>, INTEGER, single-valued, dSAOperation */
struct MonitorAttribute {
    MonitorCounter counter;
    const char *name;
    int oid;
    const char *description;
};
/* monitor_attributes - every counter, in the order of MonitorCounter */
const std::array<MonitorAttribute, kMonitorCounters> &monitor_attributes();
/* kMonitorClassOid - the auxiliary class tallyMonitor: TALLY_OID_ARC.2.<this> */
inline constexpr int kMonitorClassOid = 6;
inline constexpr const char *kMonitorClassName = "tallyMonitor";

/* counter_of - which counter an answered request moves: by mode (check,
 * count, cancel), and for a charge by its verdict; a duplicate charge id
 * is a duplicate in charge and count mode alike */
MonitorCounter counter_of(Mode mode, Verdict verdict);

/* ErrorClass - why a request that reached the database was not answered */
enum class ErrorClass { bad_request, not_authorized, write_failed, other };
MonitorCounter counter_of(ErrorClass error);

class MonitorCounters {
public:
    void add(MonitorCounter c, std::uint64_t n = 1) {
        values_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
    }
    std::uint64_t get(MonitorCounter c) const {
        return values_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
    }

private:
    std::array<std::atomic<std::uint64_t>, kMonitorCounters> values_{};
};

}  // namespace tally
