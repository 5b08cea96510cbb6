// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* pages.h - the console's HTML: mustache templates over the views
 *
 * DESCRIPTION
 *   Every page is a template (pages.cpp) rendered with kainjow::mustache,
 *   whose {{value}} escapes HTML; the only unescaped insertions are the
 *   page body into the layout and the SVG charts, which views.cpp builds
 *   with every text in them escaped. Nothing here knows LDAP or HTTP:
 *   the handlers fill these structs.
 */
#pragma once

#include "views.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tally::web {

/* PageContext - what every page's frame shows */
struct PageContext {
    std::string title;
    std::string who;      // the bound DN
    std::string csrf;     // for the logout form and every other form
    bool domain_admin = false, operator_ = false, policies = false;
    std::vector<std::pair<std::string, std::string>> domains;  // (DN, link) the person administers
    std::string notice;   // "limits saved"
    std::string error;    // slapd's refusal, as it came
};

struct LoginView {
    std::string token;   // the login form's CSRF token (also in a cookie)
    std::string login;   // what was typed, shown again
    std::string error;
};

struct ChartView {
    std::string svg;
};

struct MeView {
    std::string dn, name, mail;
    std::vector<std::string> send_as;
    bool blocked = false;
    std::string blocked_text;
    std::vector<UsageRow> usage;
    std::vector<ChartView> charts;
    std::string usage_error;  // the overlay's refusal to show usage
};

struct DomainLine {
    DomainRow row;
    std::string used, limit;  // formatted
    int percent = 0;
    bool over = false;
};

struct DomainView {
    std::string domain, window, metric, text, sort;
    bool only_blocked = false, only_limit_hit = false;
    std::vector<std::string> windows;
    std::vector<DomainLine> lines;
    std::vector<DomainRow> top;
    std::size_t total = 0, page = 0, pages = 0, blocked = 0, limit_hit = 0, warned = 0, accounts = 0;
    std::string usage_error;
};

struct LimitField {
    std::string window, metric, attribute, value;  // value: as stored ("" = not set: inherit)
    std::string effective;                          // what the overlay resolves now
};

struct AccountView {
    std::string dn, name, mail;
    bool blocked = false;
    std::string blocked_text;
    std::vector<UsageRow> usage;
    std::vector<ChartView> charts;
    std::vector<LimitField> limits;
    std::vector<std::string> generic_limits;  // tallyLimit values
    std::string policy;
    std::vector<std::string> windows;
    bool can_edit = false, can_reset = false;
    std::string usage_error;
};

struct PolicyView {
    std::string dn, name, description;
    std::vector<std::pair<std::string, std::string>> limits;  // attribute, value
    std::vector<std::string> accounts;
    std::size_t more = 0;  // accounts not listed
};

struct MonitorCounter {
    std::string label, value;
};
struct MonitorDatabase {
    std::string suffix;
    std::vector<MonitorCounter> counters;
};
struct DomainSummary {
    std::string dn;
    std::size_t accounts = 0;
};
struct OperatorView {
    std::vector<DomainSummary> domains;
    std::vector<MonitorDatabase> databases;
    std::string monitor_error;
};

std::string render_login(const LoginView &v);
std::string render_me(const PageContext &c, const MeView &v);
std::string render_domain(const PageContext &c, const DomainView &v);
std::string render_account(const PageContext &c, const AccountView &v);
std::string render_policies(const PageContext &c, const std::vector<PolicyView> &v, const std::string &error);
std::string render_operator(const PageContext &c, const OperatorView &v);
/* render_message - a page with a heading and a text: errors, 403, 404 (c.who empty: no menu) */
std::string render_message(const PageContext &c, const std::string &heading, const std::string &text);

/* url_encode - a query value (RFC 3986 unreserved kept) */
std::string url_encode(const std::string &s);

}  // namespace tally::web
