// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* monitor_stats.h - the overlay's cn=Monitor counters as tallyctl stats prints them
 *
 * DESCRIPTION
 *   When slapd has a monitor database, each database carrying the tally
 *   overlay has its back-monitor entry (cn=Database N,cn=Databases,
 *   cn=Monitor) extended with the auxiliary class tallyMonitor and one
 *   INTEGER attribute per counter (notes: the contract, README "Seeing what
 *   it does"). tallyctl stats searches cn=Monitor for
 *   (objectClass=tallyMonitor) with stats_attributes(); this file turns the
 *   entries into DatabaseStats and formats them: a readable block per
 *   database, or Prometheus's text exposition for node_exporter's textfile
 *   collector. No LDAP here: tallyctl.cpp does the search and its errors.
 *
 *   Prometheus names: every series carries database="<suffix>";
 *     tally_overlay_charges_total{outcome=accepted|refused|duplicate|
 *       checked|counted|cancelled}    charge extended operations by outcome
 *     tally_overlay_resets_total
 *     tally_overlay_errors_total{class=bad_request|not_authorized|
 *       write_failed|other}
 *     tally_overlay_commits_total, tally_overlay_committed_writes_total
 *                                     (mean group-commit batch: the ratio
 *                                     of their rates)
 *     tally_overlay_first_limit_hits_total
 *   all counters: they restart at 0 with slapd, which rate() handles.
 *
 * DIAGNOSTICS
 *   A value that is not a decimal number is reported as a problem and left
 *   out, never printed as 0.
 */
#pragma once

#include "monitor_counters.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tally {

/* StatsCounter - how one of the overlay's counters is shown; its
 * attribute is the overlay's own (core/monitor_counters.h: the same
 * order, so kStatsCounters[i] shows monitor_attributes()[i]) */
struct StatsCounter {
    const char *label;        // "charges accepted"
    const char *family;       // tally_overlay_charges_total
    const char *label_name;   // "outcome", or nullptr: no label but database
    const char *label_value;  // "accepted"
};

inline constexpr std::size_t kStatsCounterCount = kMonitorCounters;
extern const std::array<StatsCounter, kStatsCounterCount> kStatsCounters;

/* stats_attributes - what tallyctl stats asks for: namingContexts and every counter */
std::vector<std::string> stats_attributes();

/* DatabaseStats - one database's counters; nullopt: the entry did not carry it */
struct DatabaseStats {
    std::string dn;      // the monitor entry
    std::string suffix;  // its namingContexts
    std::array<std::optional<std::uint64_t>, kStatsCounterCount> values{};
    /* value - the counter named attribute (case-insensitive); nullopt when absent or unknown */
    std::optional<std::uint64_t> value(const std::string &attribute) const;
    /* has_any - at least one counter came */
    bool has_any() const;
};

using StatsEntryAttributes = std::vector<std::pair<std::string, std::vector<std::string>>>;

/* parse_database_stats - one search result entry; a malformed value is left
 * out and described in *problems */
DatabaseStats parse_database_stats(const std::string &dn, const StatsEntryAttributes &attributes,
                                   std::vector<std::string> *problems);

/* mean_batch - committed writes per commit, nullopt without commits */
std::optional<double> mean_batch(const DatabaseStats &s);

/* format_stats_text - a block per database: its suffix, then label and value per counter */
std::string format_stats_text(const std::vector<DatabaseStats> &dbs);

/* format_stats_prometheus - the text exposition (HELP, TYPE counter, one
 * series per database), families in kStatsCounters order */
std::string format_stats_prometheus(const std::vector<DatabaseStats> &dbs);

/* prometheus_label_value - a label value escaped for the text exposition */
std::string prometheus_label_value(const std::string &v);

}  // namespace tally
