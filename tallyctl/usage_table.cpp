// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* usage_table.cpp - fixed-width text table of usage per window and metric */
#include "usage_table.h"

#include <cstdio>

namespace tally {

namespace {

/* rows - the header and one row per window and metric */
std::string rows(const std::vector<WindowReport> &windows) {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "%-8s %-16s %-18s %20s %20s %20s\n", "WINDOW", "PERIOD", "METRIC", "USED",
                  "LIMIT", "LEFT");
    out += line;
    for (const WindowReport &w : windows) {
        for (Metric m : kAllMetrics) {
            const auto &lim = w.limits[static_cast<int>(m)];
            std::uint64_t used = w.usage[m];
            std::string limit = lim ? std::to_string(*lim) : "unlimited";
            std::string left = !lim ? "-" : (used >= *lim ? "0" : std::to_string(*lim - used));
            std::snprintf(line, sizeof line, "%-8s %-16s %-18s %20llu %20s %20s\n", w.window.c_str(),
                          w.period.c_str(), std::string(metric_name(m)).c_str(),
                          static_cast<unsigned long long>(used), limit.c_str(), left.c_str());
            out += line;
        }
    }
    // Soft limits, where set: below the table, so its columns stay as scripts read them.
    for (const WindowReport &w : windows)
        for (Metric m : kAllMetrics)
            if (const auto &t = w.warnings[static_cast<int>(m)])
                out += "warning: " + w.window + " " + std::string(metric_name(m)) + " at " + std::to_string(*t) +
                       (w.usage[m] >= *t ? " (reached)" : "") + "\n";
    return out;
}

}  // namespace

std::string format_usage_table(const std::string &account, const ChargeResponse &r) {
    std::string out = "account: " + account + "\n" + rows(r.windows);
    // The aggregate (domain) the account counts in: the sum of all its accounts.
    if (!r.aggregate_dn.empty())
        out += "aggregate: " + r.aggregate_dn + " (all its accounts)\n" + rows(r.aggregate_windows);
    return out;
}

}  // namespace tally
