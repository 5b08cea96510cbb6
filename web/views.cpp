// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* views.cpp - rows, totals, charts and pages of the console */
#include "views.h"

#include "counter.h"
#include "shares.h"

#include <kainjow/mustache.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <strings.h>

namespace tally::web {

std::string html_escape(const std::string &s) { return kainjow::mustache::html_escape(s); }

std::string format_amount(Metric m, std::uint64_t v) {
    if (m != Metric::bytes && m != Metric::byteRecipients) return std::to_string(v);
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    double d = static_cast<double>(v);
    int u = 0;
    while (d >= 1000 && u < 6) {
        d /= 1000;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(v));
    else std::snprintf(buf, sizeof buf, "%.1f %s", d, units[u]);
    return buf;
}

std::vector<UsageRow> usage_rows(const ChargeResponse &r) {
    std::vector<UsageRow> out;
    for (const WindowReport &w : r.windows) {
        for (Metric m : kAllMetrics) {
            ReportRow rr;
            rr.used = w.usage[m];
            rr.limit = w.limits[static_cast<int>(m)];
            UsageRow u;
            u.window = w.window;
            u.period = w.period;
            u.metric = std::string(metric_name(m));
            u.used = format_amount(m, rr.used);
            u.limit = rr.limit ? format_amount(m, *rr.limit) : "unlimited";
            u.left = !rr.limit ? "-" : format_amount(m, rr.used >= *rr.limit ? 0 : *rr.limit - rr.used);
            u.over = rr.limit && rr.used >= *rr.limit;
            u.percent = static_cast<int>(std::min(100.0, rr.percent()));
            out.push_back(std::move(u));
        }
    }
    return out;
}

std::vector<PeriodTotal> history_totals(const std::vector<std::string> &history_values, const std::string &window,
                                        const WindowReport *current) {
    std::vector<CounterValue> values;
    std::map<std::string, bool> periods;  // sorted: period texts of one window sort by time
    for (const auto &text : history_values) {
        auto v = decode_counter(text);
        if (!v || v->window != window) continue;
        if (current && v->period == current->period) continue;
        periods[v->period] = true;
        values.push_back(std::move(*v));
    }
    std::vector<PeriodTotal> out;
    for (const auto &[p, _] : periods) out.push_back({p, current_total(values, window, p), false});
    if (current) out.push_back({current->period, current->usage, true});
    return out;
}

std::string bar_chart_svg(const std::string &title, const std::vector<PeriodTotal> &periods, Metric m,
                          std::optional<std::uint64_t> limit) {
    const int width = 520, height = 200, left = 70, bottom = 40, top = 24;
    const int plot_h = height - bottom - top, plot_w = width - left - 10;
    std::uint64_t max = limit.value_or(0);
    for (const auto &p : periods) max = std::max(max, p.usage[m]);
    if (max == 0) max = 1;
    auto y_of = [&](std::uint64_t v) {
        return top + plot_h - static_cast<int>(static_cast<double>(plot_h) * static_cast<double>(v) /
                                               static_cast<double>(max));
    };
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" + std::to_string(width) +
                      "\" height=\"" + std::to_string(height) + "\" role=\"img\" aria-label=\"" + html_escape(title) +
                      "\">";
    svg += "<text x=\"" + std::to_string(left) + "\" y=\"16\" class=\"title\">" + html_escape(title) + "</text>";
    svg += "<line x1=\"" + std::to_string(left) + "\" y1=\"" + std::to_string(top + plot_h) + "\" x2=\"" +
           std::to_string(width - 10) + "\" y2=\"" + std::to_string(top + plot_h) + "\" class=\"axis\"/>";
    svg += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" + std::to_string(top + 10) +
           "\" text-anchor=\"end\" class=\"tick\">" + html_escape(format_amount(m, max)) + "</text>";
    if (periods.empty())
        svg += "<text x=\"" + std::to_string(left + 10) + "\" y=\"" + std::to_string(top + plot_h / 2) +
               "\" class=\"tick\">no history yet</text>";
    std::size_t n = std::max<std::size_t>(periods.size(), 1);
    int slot = plot_w / static_cast<int>(n);
    int bar_w = std::max(4, slot * 2 / 3);
    for (std::size_t i = 0; i < periods.size(); ++i) {
        const auto &p = periods[i];
        int x = left + static_cast<int>(i) * slot + (slot - bar_w) / 2;
        int y = y_of(p.usage[m]);
        if (p.usage[m] > 0) y = std::min(y, top + plot_h - 2);  // a little use stays visible
        bool over = limit && p.usage[m] >= *limit;
        svg += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
               std::to_string(bar_w) + "\" height=\"" + std::to_string(top + plot_h - y) + "\" class=\"col" +
               (p.current ? " current" : "") + (over ? " over" : "") + "\"><title>" +
               html_escape(p.period + ": " + format_amount(m, p.usage[m])) + "</title></rect>";
        svg += "<text x=\"" + std::to_string(x + bar_w / 2) + "\" y=\"" + std::to_string(top + plot_h + 14) +
               "\" text-anchor=\"middle\" class=\"tick\">" + html_escape(p.period) + "</text>";
    }
    if (limit) {
        int y = y_of(*limit);
        svg += "<line x1=\"" + std::to_string(left) + "\" y1=\"" + std::to_string(y) + "\" x2=\"" +
               std::to_string(width - 10) + "\" y2=\"" + std::to_string(y) + "\" class=\"limit\"/>";
        svg += "<text x=\"" + std::to_string(width - 12) + "\" y=\"" + std::to_string(y - 3) +
               "\" text-anchor=\"end\" class=\"tick\">limit " + html_escape(format_amount(m, *limit)) + "</text>";
    }
    return svg + "</svg>";
}

namespace {

bool is_true(const std::string &v) { return strcasecmp(v.c_str(), "TRUE") == 0; }

bool contains_nocase(const std::string &hay, const std::string &needle) {
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                          [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                      std::tolower(static_cast<unsigned char>(b)); });
    return it != hay.end();
}

}  // namespace

std::vector<DomainRow> domain_rows(const std::vector<client::Entry> &entries, const std::string &window, Metric m,
                                   const std::vector<WindowReport> &current) {
    std::vector<DomainRow> out;
    out.reserve(entries.size());
    std::string period;
    for (const auto &w : current)
        if (w.window == window) period = w.period;
    for (const auto &e : entries) {
        DomainRow r;
        r.dn = e.dn;
        r.uid = e.first("uid");
        r.name = e.first("cn");
        r.mail = e.first("mail");
        r.blocked = is_true(e.first("tallyBlocked"));
        r.blocked_text = e.first("tallyBlockedText");
        std::vector<CounterValue> values;
        for (const auto &t : e.values("tallyUsage"))
            if (auto v = decode_counter(t)) values.push_back(std::move(*v));
        if (!period.empty()) r.used = current_total(values, window, period)[m];
        for (const auto &w : current) {
            if (limit_marked(values, w.window, w.period)) r.limit_hit = true;
            if (warning_marked(values, w.window, w.period)) r.warned = true;
        }
        out.push_back(std::move(r));
    }
    return out;
}

DomainSort parse_domain_sort(const std::string &s) {
    if (s == "name") return DomainSort::name;
    if (s == "blocked") return DomainSort::blocked;
    return DomainSort::usage;
}

DomainPage domain_page(std::vector<DomainRow> rows, const DomainQuery &q) {
    DomainPage p;
    for (const auto &r : rows) {
        if (r.blocked) ++p.blocked;
        if (r.limit_hit) ++p.limit_hit;
        if (r.warned) ++p.warned;
    }
    std::vector<DomainRow> top;
    for (const auto &r : rows)
        if (r.used > 0) top.push_back(r);
    std::size_t ntop = std::min<std::size_t>(10, top.size());
    std::partial_sort(top.begin(), top.begin() + static_cast<long>(ntop), top.end(),
                      [](const DomainRow &a, const DomainRow &b) { return a.used > b.used; });
    top.resize(ntop);
    p.top = std::move(top);
    std::erase_if(rows, [&](const DomainRow &r) {
        if (q.only_blocked && !r.blocked) return true;
        if (q.only_limit_hit && !r.limit_hit && !r.warned) return true;
        return !q.text.empty() && !contains_nocase(r.uid, q.text) && !contains_nocase(r.name, q.text) &&
               !contains_nocase(r.mail, q.text);
    });
    auto by_name = [](const DomainRow &a, const DomainRow &b) {
        return a.uid != b.uid ? a.uid < b.uid : a.dn < b.dn;
    };
    switch (q.sort) {
    case DomainSort::usage:
        std::sort(rows.begin(), rows.end(), [&](const DomainRow &a, const DomainRow &b) {
            return a.used != b.used ? a.used > b.used : by_name(a, b);
        });
        break;
    case DomainSort::blocked:
        std::sort(rows.begin(), rows.end(), [&](const DomainRow &a, const DomainRow &b) {
            return a.blocked != b.blocked ? a.blocked : by_name(a, b);
        });
        break;
    case DomainSort::name: std::sort(rows.begin(), rows.end(), by_name); break;
    }
    p.total = rows.size();
    std::size_t size = std::max<std::size_t>(q.page_size, 1);
    p.pages = (p.total + size - 1) / size;
    std::size_t from = std::min(p.total, q.page * size), to = std::min(p.total, from + size);
    p.rows.assign(std::make_move_iterator(rows.begin() + static_cast<long>(from)),
                  std::make_move_iterator(rows.begin() + static_cast<long>(to)));
    return p;
}

std::string domain_csv(const std::vector<AccountUsage> &accounts) {
    std::vector<ReportRow> rows;
    if (!accounts.empty())
        for (const auto &w : accounts[0].usage.windows)
            for (Metric m : kAllMetrics) {
                auto part = report_rows(accounts, w.window, m, SortBy::usage);
                rows.insert(rows.end(), part.begin(), part.end());
            }
    return format_rows(rows, true);
}

std::string parent_dn(const std::string &dn) {
    for (std::size_t i = 0; i < dn.size(); ++i) {
        if (dn[i] == '\\') {
            ++i;
            continue;
        }
        if (dn[i] == ',') return dn.substr(i + 1);
    }
    return "";
}

bool dn_within(const std::string &dn, const std::string &base) {
    if (base.empty()) return true;
    if (dn.size() < base.size()) return false;
    std::string tail = dn.substr(dn.size() - base.size());
    if (strcasecmp(tail.c_str(), base.c_str()) != 0) return false;
    if (dn.size() == base.size()) return true;
    std::size_t comma = dn.size() - base.size() - 1;
    std::size_t slashes = 0;  // an escaped comma ("\,") is part of a value
    while (comma > slashes && dn[comma - 1 - slashes] == '\\') ++slashes;
    return dn[comma] == ',' && slashes % 2 == 0;
}

}  // namespace tally::web
