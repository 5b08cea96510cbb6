// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* monitor_counters.cpp - the monitor attribute table and the outcome mapping */
#include "monitor_counters.h"

namespace tally {

const std::array<MonitorAttribute, kMonitorCounters> &monitor_attributes() {
    using C = MonitorCounter;
    static const std::array<MonitorAttribute, kMonitorCounters> table = {{
        {C::charges_accepted, "tallyMonChargesAccepted", 50, "charges accepted"},
        {C::charges_refused, "tallyMonChargesRefused", 51, "charges refused over a limit"},
        {C::charges_duplicate, "tallyMonChargesDuplicate", 52, "charges and counts whose charge id was counted already"},
        {C::checks, "tallyMonChecks", 53, "check-only requests answered"},
        {C::counts, "tallyMonCounts", 54, "count-only requests counted"},
        {C::cancels, "tallyMonCancels", 55, "cancel requests answered"},
        {C::resets, "tallyMonResets", 56, "resets done"},
        {C::errors_bad_request, "tallyMonErrorsBadRequest", 57,
         "requests refused as malformed, for an account that does not exist or an unknown window"},
        {C::errors_not_authorized, "tallyMonErrorsNotAuthorized", 58, "requests the ACLs refused"},
        {C::errors_write_failed, "tallyMonErrorsWriteFailed", 59, "requests whose counter or history write failed"},
        {C::errors_other, "tallyMonErrorsOther", 60, "requests refused otherwise (busy, a replica, ...)"},
        {C::commits, "tallyMonCommits", 61, "database commits of counter writes; a group commit is one"},
        {C::committed_writes, "tallyMonCommittedWrites", 62,
         "charge and reset writes those commits carried (mean group-commit batch: this / tallyMonCommits)"},
        {C::first_limit_hits, "tallyMonFirstLimitHits", 63,
         "limits passed for the first time in their period by an account (what tallyd alerts on)"},
    }};
    return table;
}

MonitorCounter counter_of(Mode mode, Verdict verdict) {
    switch (mode) {
        case Mode::check:
            return MonitorCounter::checks;
        case Mode::cancel:
            return MonitorCounter::cancels;
        case Mode::count:
            return verdict == Verdict::duplicate ? MonitorCounter::charges_duplicate : MonitorCounter::counts;
        case Mode::charge:
            break;
    }
    switch (verdict) {
        case Verdict::refused:
            return MonitorCounter::charges_refused;
        case Verdict::duplicate:
            return MonitorCounter::charges_duplicate;
        case Verdict::accepted:
            break;
    }
    return MonitorCounter::charges_accepted;
}

MonitorCounter counter_of(ErrorClass error) {
    switch (error) {
        case ErrorClass::bad_request:
            return MonitorCounter::errors_bad_request;
        case ErrorClass::not_authorized:
            return MonitorCounter::errors_not_authorized;
        case ErrorClass::write_failed:
            return MonitorCounter::errors_write_failed;
        case ErrorClass::other:
            break;
    }
    return MonitorCounter::errors_other;
}

}  // namespace tally
