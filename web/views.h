// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* views.h - what the console's pages show, computed from what the directory returned
 *
 * DESCRIPTION
 *   No LDAP and no HTTP here: the handlers (console.cpp) fetch entries and
 *   check-mode charge responses as the logged-in person, and these
 *   functions turn them into rows, chart bars and pages of a list, ready
 *   for the templates (pages.h). Numbers are formatted here once.
 *
 *   Usage of many accounts (the domain page) is read from their tallyUsage
 *   values in one search and summed per share (core/shares.h: the same
 *   rule the overlay uses), for the period the overlay reports as current;
 *   a value of an older period no longer counts, as in the overlay. The
 *   limits of the rows on screen come from check-mode charges.
 */
#pragma once

#include "exop.h"
#include "ldap_ops.h"
#include "report.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tally::web {

/* format_amount - "1234" for counts, "1.2 MB" style for byte metrics */
std::string format_amount(Metric m, std::uint64_t v);

struct UsageRow {
    std::string window, period, metric;
    std::string used, limit, left;  // formatted; limit "unlimited", left "-" without a limit
    int percent = 0;                // of the limit, capped at 100 for bars; 0 unlimited
    bool over = false;              // at or past the limit
};

/* usage_rows - one row per window and metric of a check-mode charge */
std::vector<UsageRow> usage_rows(const ChargeResponse &r);

/* PeriodTotal - the usage of one past or current period of a window */
struct PeriodTotal {
    std::string period;
    Usage usage;
    bool current = false;
};

/* history_totals - tallyHistory values of window (every share summed),
 * oldest first, then the current period from r; malformed values skipped */
std::vector<PeriodTotal> history_totals(const std::vector<std::string> &history_values, const std::string &window,
                                        const WindowReport *current);

/* bar_chart_svg - an inline SVG bar chart of one metric over periods, with
 * the limit as a line; every text in it is escaped */
std::string bar_chart_svg(const std::string &title, const std::vector<PeriodTotal> &periods, Metric m,
                          std::optional<std::uint64_t> limit);

/* html_escape - &, <, >, " and ' as entities (what the templates do) */
std::string html_escape(const std::string &s);

/* DomainRow - one account on the domain page */
struct DomainRow {
    std::string dn, uid, name, mail;
    bool blocked = false;
    std::string blocked_text;
    std::uint64_t used = 0;       // of the chosen window and metric, current period
    bool limit_hit = false;       // a limit of any window was passed this period
    bool warned = false;          // a warning threshold (soft limit) of any window was reached this period
};

/* domain_rows - entries (uid, cn, mail, tallyBlocked, tallyBlockedText,
 * tallyUsage) to rows for window w whose current period is period (of
 * every window: periods[i] is the current period of windows[i]) */
std::vector<DomainRow> domain_rows(const std::vector<client::Entry> &entries, const std::string &window,
                                   Metric m, const std::vector<WindowReport> &current);

enum class DomainSort { usage, name, blocked };

struct DomainQuery {
    std::string text;        // substring of uid, name or mail (case-insensitive); empty: all
    DomainSort sort = DomainSort::usage;
    bool only_blocked = false, only_limit_hit = false;  // only_limit_hit: a limit or a warning reached
    std::size_t page = 0, page_size = 50;
};

/* parse_domain_sort - "usage", "name", "blocked"; usage for anything else */
DomainSort parse_domain_sort(const std::string &s);

struct DomainPage {
    std::vector<DomainRow> rows;  // this page's
    std::size_t total = 0;        // matching the query
    std::size_t pages = 0;
    std::vector<DomainRow> top;   // top senders (highest use, above zero), at most 10
    std::size_t blocked = 0, limit_hit = 0, warned = 0;
};

/* domain_page - filter, sort and cut one page of rows */
DomainPage domain_page(std::vector<DomainRow> rows, const DomainQuery &q);

/* domain_csv - rows of a report as CSV (tallyctl report -c's format) */
std::string domain_csv(const std::vector<AccountUsage> &accounts);

/* parent_dn - the DN without its first RDN ("" for a one-RDN DN) */
std::string parent_dn(const std::string &dn);

/* dn_within - dn is base or below it (case-insensitive, no normalisation
 * beyond that: callers pass DNs as the directory returned them) */
bool dn_within(const std::string &dn, const std::string &base);

}  // namespace tally::web
