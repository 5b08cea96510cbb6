// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* report.cpp - selecting, sorting and formatting report rows */
#include "report.h"

#include <algorithm>
#include <cstdio>

namespace tally {

double ReportRow::percent() const {
    if (!limit) return 0;
    if (*limit == 0) return used ? 100.0 * static_cast<double>(used) : 100.0;
    return 100.0 * static_cast<double>(used) / static_cast<double>(*limit);
}

namespace {

std::optional<ReportRow> row_of(const AccountUsage &a, const WindowReport &w, Metric m) {
    ReportRow r;
    r.dn = a.dn;
    r.window = w.window;
    r.period = w.period;
    r.metric = m;
    r.used = w.usage[m];
    r.limit = w.limits[static_cast<int>(m)];
    r.warning = w.warnings[static_cast<int>(m)];
    return r;
}

std::string csv_field(const std::string &s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace

std::vector<ReportRow> report_rows(const std::vector<AccountUsage> &accounts, const std::string &window, Metric m,
                                   SortBy sort) {
    std::vector<ReportRow> rows;
    for (const auto &a : accounts)
        for (const auto &w : a.usage.windows)
            if (w.window == window)
                if (auto r = row_of(a, w, m)) rows.push_back(*r);
    std::stable_sort(rows.begin(), rows.end(), [&](const ReportRow &x, const ReportRow &y) {
        if (sort == SortBy::percent && x.percent() != y.percent()) return x.percent() > y.percent();
        if (x.used != y.used) return x.used > y.used;
        return x.dn < y.dn;
    });
    return rows;
}

std::vector<ReportRow> top_rows(const std::vector<AccountUsage> &accounts, std::size_t n) {
    std::vector<ReportRow> rows;
    for (const auto &a : accounts) {
        std::optional<ReportRow> best;
        for (const auto &w : a.usage.windows)
            for (Metric m : kAllMetrics) {
                auto r = row_of(a, w, m);
                if (!r || !r->limit) continue;
                if (!best || r->percent() > best->percent()) best = r;
            }
        if (best) rows.push_back(*best);
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const ReportRow &x, const ReportRow &y) { return x.percent() > y.percent(); });
    if (rows.size() > n) rows.resize(n);
    return rows;
}

std::vector<ReportRow> warned_rows(const std::vector<AccountUsage> &accounts) {
    std::vector<ReportRow> rows;
    for (const auto &a : accounts)
        for (const auto &w : a.usage.windows)
            for (Metric m : kAllMetrics)
                if (auto r = row_of(a, w, m); r && r->warning && r->used >= *r->warning) rows.push_back(*r);
    std::stable_sort(rows.begin(), rows.end(), [](const ReportRow &x, const ReportRow &y) {
        if (x.percent() != y.percent()) return x.percent() > y.percent();
        return x.used > y.used;
    });
    return rows;
}

std::string format_rows(const std::vector<ReportRow> &rows, bool csv, bool with_warning) {
    std::string out;
    char line[1024];
    if (csv) out = std::string("dn,window,period,metric,used,limit,percent") + (with_warning ? ",warning" : "") + "\n";
    else {
        std::snprintf(line, sizeof line, "%-48s %-8s %-14s %-18s %14s %14s %8s", "ACCOUNT", "WINDOW", "PERIOD",
                      "METRIC", "USED", "LIMIT", "PERCENT");
        out = line;
        if (with_warning) {
            std::snprintf(line, sizeof line, " %14s", "WARNING");
            out += line;
        }
        out += "\n";
    }
    for (const auto &r : rows) {
        std::string limit = r.limit ? std::to_string(*r.limit) : "unlimited";
        std::string pct = r.limit ? std::to_string(static_cast<long long>(r.percent() + 0.5)) + "%" : "-";
        std::string warning = r.warning ? std::to_string(*r.warning) : "-";
        if (csv) {
            out += csv_field(r.dn) + "," + r.window + "," + r.period + "," + std::string(metric_name(r.metric)) + "," +
                   std::to_string(r.used) + "," + limit + "," + (r.limit ? pct.substr(0, pct.size() - 1) : "") +
                   (with_warning ? "," + (r.warning ? warning : std::string()) : std::string()) + "\n";
        } else {
            std::snprintf(line, sizeof line, "%-48s %-8s %-14s %-18s %14llu %14s %8s", r.dn.c_str(),
                          r.window.c_str(), r.period.c_str(), std::string(metric_name(r.metric)).c_str(),
                          static_cast<unsigned long long>(r.used), limit.c_str(), pct.c_str());
            out += line;
            if (with_warning) {
                std::snprintf(line, sizeof line, " %14s", warning.c_str());
                out += line;
            }
            out += "\n";
        }
    }
    return out;
}

}  // namespace tally
