// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* report.h - usage reports over many accounts (tallyctl report, tallyctl top)
 *
 * DESCRIPTION
 *   The rows come from check-mode charges (the overlay resolves every
 *   account's limits); this file only selects, sorts and formats them.
 */
#pragma once

#include "exop.h"

#include <optional>
#include <string>
#include <vector>

namespace tally {

struct AccountUsage {
    std::string dn;
    ChargeResponse usage;  // the windows of a check-mode charge
};

struct ReportRow {
    std::string dn, window, period;
    Metric metric = Metric::messages;
    std::uint64_t used = 0;
    std::optional<std::uint64_t> limit;  // nullopt: unlimited
    std::optional<std::uint64_t> warning;  // the warning threshold (soft limit); nullopt: none
    double percent() const;              // of the limit; 0 when unlimited
};

enum class SortBy { usage, percent };

/* report_rows - one row per account for a window and metric, sorted, highest first */
std::vector<ReportRow> report_rows(const std::vector<AccountUsage> &accounts, const std::string &window, Metric m,
                                   SortBy sort);

/* top_rows - per account its row closest to (or over) a limit, over every
 * window and metric that has one; the n highest percentages */
std::vector<ReportRow> top_rows(const std::vector<AccountUsage> &accounts, std::size_t n);

/* warned_rows - every window and metric whose usage reached its warning
 * threshold, of every account, highest percentage of the limit first */
std::vector<ReportRow> warned_rows(const std::vector<AccountUsage> &accounts);

/* format_rows - a fixed-width table, or CSV (RFC 4180 quoting); with_warning
 * adds the WARNING column (the threshold) */
std::string format_rows(const std::vector<ReportRow> &rows, bool csv, bool with_warning = false);

}  // namespace tally
