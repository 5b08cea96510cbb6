// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* console_pages.cpp - the pages and the changes, each made as the logged-in person
 *
 * DESCRIPTION
 *   Usage comes from a check-mode charge (what tallyctl usage sends): the
 *   overlay resolves the limits and answers only when the ACLs give the
 *   person read access to the account's tallyUsage. Limits, blocking and
 *   send-as addresses are read and written as attributes; resets use the
 *   reset extended operation (tallyctl reset). Limit values are checked
 *   with core/limit_rules before anything is sent (the overlay's own rule),
 *   and slapd's refusal of a change is shown as it came.
 *
 * BUGS
 *   The limit fields are the built-in attributes of each window
 *   (tallyMessagesPerDay, ...); an overlay configured with
 *   tally-limit-attribute mappings or windows without a built-in attribute
 *   is edited through tallyLimit values with ldapmodify. The usage sort of
 *   the domain page uses the messages of the chosen window.
 */
#include "console.h"

#include "ldap_filter.h"
#include "ldap_ops.h"
#include "limit_rules.h"
#include "monitor_stats.h"
#include "overlay_config.h"
#include "pages.h"
#include "views.h"

#include <algorithm>
#include <set>

namespace tally::web {

namespace {

std::string field(const std::map<std::string, std::string> &m, const std::string &k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
}

client::ChargeOutcome check_usage(client::Connection &c, const std::string &dn) {
    ChargeRequest req;
    req.account = dn;
    req.messages = 0;
    req.mode = Mode::check;
    auto out = client::charge(c, req);
    if (out.ldap.transport_error()) throw ConnectionLost(out.ldap.describe());
    return out;
}

client::SearchResult run(client::Connection &c, const client::Search &q) {
    auto r = client::search(c, q);
    if (r.result.transport_error()) throw ConnectionLost(r.result.describe());
    return r;
}

std::optional<client::Entry> read_entry(client::Connection &c, const std::string &dn,
                                        std::vector<std::string> attrs) {
    client::Search q;
    q.base = dn;
    q.scope = LDAP_SCOPE_BASE;
    q.attributes = std::move(attrs);
    auto r = run(c, q);
    if (r.entries.empty()) return std::nullopt;
    return r.entries[0];
}

Response redirect(const std::string &to) {
    Response r;
    r.status = 303;
    r.headers.push_back({"Location", to});
    return r;
}

std::vector<ChartView> charts_of(const client::Entry &e, const ChargeResponse &r) {
    std::vector<ChartView> out;
    for (const auto &w : r.windows) {
        auto totals = history_totals(e.values("tallyHistory"), w.window, &w);
        out.push_back({bar_chart_svg("messages per " + w.window, totals, Metric::messages,
                                     w.limits[static_cast<int>(Metric::messages)])});
    }
    return out;
}

std::string refusal(const client::LdapResult &r, const std::string &what) {
    return "The directory did not let you " + what + ": " + r.describe();
}

Response html(std::string body, int status = 200) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

/* known_limit_attributes - the limit attributes of the windows the overlay reported */
std::vector<std::pair<std::string, Metric>> limit_fields(const std::string &window) {
    std::vector<std::pair<std::string, Metric>> out;
    static const OverlayConfig plain;
    for (Metric m : kAllMetrics) {
        std::string a = limit_attribute_name(plain, window, m);
        if (!a.empty()) out.push_back({a, m});
    }
    return out;
}

}  // namespace

PageContext Console::context(const Settings &st, Session &s, const std::string &title) const {
    PageContext c;
    c.title = title;
    c.who = s.dn;
    c.csrf = s.csrf;
    c.domain_admin = s.role == Role::domain_admin;
    c.operator_ = s.role == Role::operator_;
    c.policies = !st.cfg.policy_base.empty();
    for (const auto &d : s.domains) c.domains.push_back({d, "/domain?d=" + url_encode(d)});
    c.notice = std::move(s.flash_notice);
    c.error = std::move(s.flash_error);
    s.flash_notice.clear();
    s.flash_error.clear();
    return c;
}

Response Console::me(const Settings &st, Session &s, client::Connection &c) {
    MeView v;
    v.dn = s.dn;
    auto e = read_entry(c, s.dn, {"cn", "mail", "tallySendAs", "tallyBlocked", "tallyBlockedText", "tallyHistory"});
    if (e) {
        v.name = e->first("cn");
        v.mail = e->first("mail");
        v.send_as = e->values("tallySendAs");
        v.blocked = strcasecmp(e->first("tallyBlocked").c_str(), "TRUE") == 0;
        v.blocked_text = e->first("tallyBlockedText");
    }
    auto u = check_usage(c, s.dn);
    if (u.ldap.ok()) {
        v.usage = usage_rows(u.response);
        if (e) v.charts = charts_of(*e, u.response);
    } else {
        v.usage_error = "Your usage cannot be shown: " + u.ldap.describe();
    }
    return html(render_me(context(st, s, "My usage"), v));
}

Response Console::domain(const Settings &st, const Request &r, Session &s, client::Connection &c, bool csv) {
    std::string d = field(r.query, "d");
    if (d.empty() && s.domains.size() == 1) d = s.domains[0];
    if (d.empty() || !may_open_domain(s, d))
        return page(s, "Not yours", 403, "Not yours", "You do not administer the domain " + d + ".");
    client::Search q;
    q.base = d;
    q.filter = st.cfg.account_filter;
    q.attributes = {"uid", "cn", "mail", "tallyBlocked", "tallyBlockedText", "tallyUsage"};
    q.timeout_ms = -1;
    auto found = run(c, q);
    // the domain's own entry may carry tallyAccount too (a policy for the domain): not an account
    std::erase_if(found.entries, [&](const client::Entry &e) { return strcasecmp(e.dn.c_str(), d.c_str()) == 0; });
    if (!found.result.ok() && found.entries.empty())
        return page(s, "Domain", found.result.code == LDAP_NO_SUCH_OBJECT ? 404 : 403, "Domain " + d,
                    refusal(found.result, "list the accounts of this domain"));
    if (csv) {
        std::vector<AccountUsage> all;
        for (const auto &e : found.entries) {
            auto u = check_usage(c, e.dn);
            if (u.ldap.ok()) all.push_back({e.dn, u.response});
        }
        Response out;
        out.content_type = "text/csv; charset=utf-8";
        out.headers.push_back({"Content-Disposition", "attachment; filename=\"tally-usage.csv\""});
        out.body = domain_csv(all);
        log_('i', "export by=\"" + s.dn + "\" domain=\"" + d + "\" accounts=" + std::to_string(all.size()) + " result=ok");
        return out;
    }
    DomainView v;
    v.domain = d;
    v.accounts = found.entries.size();
    // the current periods: from the overlay, through the first account it lets us read
    std::vector<WindowReport> current;
    client::LdapResult usage_refusal;
    for (std::size_t i = 0; i < found.entries.size() && i < 3 && current.empty(); ++i) {
        auto u = check_usage(c, found.entries[i].dn);
        if (u.ldap.ok()) current = u.response.windows;
        else usage_refusal = u.ldap;
    }
    if (current.empty() && !found.entries.empty())
        v.usage_error = "Usage cannot be shown: " + usage_refusal.describe();
    for (const auto &w : current) v.windows.push_back(w.window);
    v.window = field(r.query, "w");
    if (std::find(v.windows.begin(), v.windows.end(), v.window) == v.windows.end())
        v.window = v.windows.empty() ? "" : v.windows[0];
    DomainQuery dq;
    dq.text = field(r.query, "q");
    v.text = dq.text;
    v.sort = field(r.query, "sort");
    dq.sort = parse_domain_sort(v.sort);
    v.sort = dq.sort == DomainSort::name ? "name" : dq.sort == DomainSort::blocked ? "blocked" : "usage";
    dq.only_blocked = v.only_blocked = field(r.query, "blocked") == "1";
    dq.only_limit_hit = v.only_limit_hit = field(r.query, "hit") == "1";
    dq.page_size = static_cast<std::size_t>(st.cfg.page_size);
    try {
        dq.page = static_cast<std::size_t>(std::stoul(field(r.query, "page")));
    } catch (...) {
        dq.page = 0;
    }
    auto p = domain_page(domain_rows(found.entries, v.window, Metric::messages, current), dq);
    if (p.pages && dq.page >= p.pages) {
        dq.page = p.pages - 1;
        p = domain_page(domain_rows(found.entries, v.window, Metric::messages, current), dq);
    }
    v.page = dq.page;
    v.pages = p.pages;
    v.total = p.total;
    v.blocked = p.blocked;
    v.limit_hit = p.limit_hit;
    v.warned = p.warned;
    v.top = p.top;
    for (auto &row : p.rows) {
        DomainLine l;
        l.used = format_amount(Metric::messages, row.used);
        l.limit = "-";
        auto u = current.empty() ? client::ChargeOutcome{} : check_usage(c, row.dn);
        if (u.ldap.ok()) {
            for (const auto &w : u.response.windows) {
                if (w.window != v.window) continue;
                ReportRow rr;
                rr.used = w.usage[Metric::messages];
                rr.limit = w.limits[static_cast<int>(Metric::messages)];
                l.used = format_amount(Metric::messages, rr.used);
                l.limit = rr.limit ? format_amount(Metric::messages, *rr.limit) : "unlimited";
                l.percent = static_cast<int>(std::min(100.0, rr.percent()));
                l.over = rr.limit && rr.used >= *rr.limit;
            }
        }
        l.row = std::move(row);
        v.lines.push_back(std::move(l));
    }
    return html(render_domain(context(st, s, "Domain"), v));
}

Response Console::account(const Settings &st, const Request &r, Session &s, client::Connection &c) {
    std::string dn = field(r.query, "dn");
    if (dn.empty()) return page(s, "Account", 400, "Which account?", "The address names no account (dn=...).");
    bool own = strcasecmp(dn.c_str(), s.dn.c_str()) == 0;
    if (own) return redirect("/me");
    if (!may_administer(s, dn))
        return page(s, "Not yours", 403, "Not yours", "You may not open the account " + dn + ".");
    AccountView v;
    v.dn = dn;
    std::vector<std::string> attrs = {"cn", "uid", "mail", "tallyBlocked", "tallyBlockedText", "tallyPolicyDN", "tallyLimit",
                                      "tallyHistory"};
    auto u = check_usage(c, dn);
    if (u.ldap.ok())
        for (const auto &w : u.response.windows)
            for (const auto &[a, m] : limit_fields(w.window)) attrs.push_back(a);
    auto e = read_entry(c, dn, attrs);
    if (!e) return page(s, "Account", 404, "No such account", "The directory shows you no entry " + dn + ".");
    v.name = e->first("cn").empty() ? e->first("uid") : e->first("cn");  // cn may be unreadable to a domain admin
    v.mail = e->first("mail");
    v.blocked = strcasecmp(e->first("tallyBlocked").c_str(), "TRUE") == 0;
    v.blocked_text = e->first("tallyBlockedText");
    v.policy = e->first("tallyPolicyDN");
    v.generic_limits = e->values("tallyLimit");
    if (u.ldap.ok()) {
        v.usage = usage_rows(u.response);
        v.charts = charts_of(*e, u.response);
        for (const auto &w : u.response.windows) {
            v.windows.push_back(w.window);
            for (const auto &[a, m] : limit_fields(w.window)) {
                const auto &lim = w.limits[static_cast<int>(m)];
                v.limits.push_back({w.window, std::string(metric_name(m)), a, e->first(a),
                                    lim ? format_amount(m, *lim) : "unlimited"});
            }
        }
    } else {
        v.usage_error = "Usage cannot be shown: " + u.ldap.describe();
    }
    v.can_edit = v.can_reset = may_administer(s, dn);
    return html(render_account(context(st, s, "Account"), v));
}

Response Console::account_limits(const Settings &st, const Request &r, Session &s, client::Connection &c) {
    std::string dn = field(r.form, "dn");
    std::string back = "/account?dn=" + url_encode(dn);
    if (dn.empty() || !may_administer(s, dn))
        return page(s, "Not yours", 403, "Not yours", "You may not change the account " + dn + ".");
    auto u = check_usage(c, dn);
    if (!u.ldap.ok()) {
        s.flash_error = "The limits were not changed: " + u.ldap.describe();
        return redirect(back);
    }
    std::vector<std::string> attrs;
    for (const auto &w : u.response.windows)
        for (const auto &[a, m] : limit_fields(w.window)) attrs.push_back(a);
    auto e = read_entry(c, dn, attrs);
    std::vector<client::Modification> mods;
    std::vector<std::string> problems;
    for (const auto &a : attrs) {
        auto it = r.form.find("limit." + a);
        if (it == r.form.end()) continue;
        std::string value = it->second;
        std::string was = e ? e->first(a) : "";
        if (value == was) continue;
        if (!value.empty() && !parse_limit_value(value)) {
            problems.push_back(a + ": \"" + value + "\" is not a whole number, unlimited or inherit");
            continue;
        }
        client::Modification m;
        m.op = LDAP_MOD_REPLACE;
        m.attribute = a;
        if (!value.empty()) m.values = {value};
        mods.push_back(std::move(m));
    }
    for (const auto &[k, _] : r.form)
        if (k.rfind("limit.", 0) == 0 && std::find(attrs.begin(), attrs.end(), k.substr(6)) == attrs.end())
            problems.push_back(k.substr(6) + " is not a limit of this account's windows");
    if (!problems.empty()) {
        std::string text = "Nothing was changed: ";
        for (std::size_t i = 0; i < problems.size(); ++i) text += (i ? "; " : "") + problems[i];
        s.flash_error = text;
        log_('i', "limits by=\"" + s.dn + "\" account=\"" + dn + "\" result=invalid (" + text + ")");
        return redirect(back);
    }
    if (mods.empty()) {
        s.flash_notice = "No limit was changed.";
        return redirect(back);
    }
    std::string what = "limits";
    for (const auto &m : mods) what += " " + m.attribute + "=" + (m.values.empty() ? "inherit" : m.values[0]);
    return changed(s, what, dn, client::modify(c, dn, mods), back);
}

Response Console::account_block(const Settings &st, const Request &r, Session &s, client::Connection &c) {
    std::string dn = field(r.form, "dn");
    std::string back = "/account?dn=" + url_encode(dn);
    if (dn.empty() || !may_administer(s, dn))
        return page(s, "Not yours", 403, "Not yours", "You may not change the account " + dn + ".");
    std::string action = field(r.form, "action"), text = field(r.form, "text");
    std::vector<client::Modification> mods;
    if (action == "block") {
        if (text.size() > 1000) {
            s.flash_error = "The block text is too long (at most 1000 characters); nothing was changed.";
            return redirect(back);
        }
        mods.push_back({LDAP_MOD_REPLACE, "tallyBlocked", {"TRUE"}});
        client::Modification t{LDAP_MOD_REPLACE, "tallyBlockedText", {}};
        if (!text.empty()) t.values = {text};
        mods.push_back(t);
    } else if (action == "unblock") {
        mods.push_back({LDAP_MOD_REPLACE, "tallyBlocked", {}});
        mods.push_back({LDAP_MOD_REPLACE, "tallyBlockedText", {}});
    } else {
        return page(s, "Block", 400, "Block or unblock?", "The form said neither.");
    }
    return changed(s, action + (text.empty() || action != "block" ? "" : " text=\"" + text + "\""), dn,
                   client::modify(c, dn, mods), back);
}

Response Console::account_reset(const Settings &st, const Request &r, Session &s, client::Connection &c) {
    std::string dn = field(r.form, "dn");
    std::string back = "/account?dn=" + url_encode(dn);
    if (dn.empty() || !may_administer(s, dn))
        return page(s, "Not yours", 403, "Not yours", "You may not reset the account " + dn + ".");
    ResetRequest req;
    req.account = dn;
    req.window = field(r.form, "window");
    if (!req.window.empty()) {
        auto u = check_usage(c, dn);
        bool known = false;
        for (const auto &w : u.response.windows) known = known || w.window == req.window;
        if (u.ldap.ok() && !known) {
            s.flash_error = "There is no window " + req.window + "; nothing was reset.";
            return redirect(back);
        }
    }
    auto res = client::reset(c, req);
    if (res.transport_error()) throw ConnectionLost(res.describe());
    return changed(s, "reset " + (req.window.empty() ? std::string("every window") : "window " + req.window), dn, res,
                   back);
}

Response Console::policies(const Settings &st, Session &s, client::Connection &c) {
    if (st.cfg.policy_base.empty()) return page(s, "Policies", 404, "Policies", "No policy_base is configured.");
    client::Search q;
    q.base = st.cfg.policy_base;
    q.filter = st.cfg.policy_filter;
    auto found = run(c, q);
    std::vector<PolicyView> out;
    // where this person's accounts are: every domain (operator), their domains, or their own entry
    std::vector<std::pair<std::string, int>> scopes;
    if (s.role == Role::operator_) scopes.push_back({st.cfg.domain_base.empty() ? st.cfg.login_base : st.cfg.domain_base, LDAP_SCOPE_SUBTREE});
    for (const auto &d : s.domains) scopes.push_back({d, LDAP_SCOPE_SUBTREE});
    if (scopes.empty()) scopes.push_back({s.dn, LDAP_SCOPE_BASE});
    for (const auto &e : found.entries) {
        PolicyView p;
        p.dn = e.dn;
        p.name = e.first("cn");
        p.description = e.first("description");
        for (const auto &[a, vals] : e.attributes) {
            if (strncasecmp(a.c_str(), "tally", 5) != 0) continue;
            for (const auto &val : vals) p.limits.push_back({a, val});
        }
        for (const auto &[base, scope] : scopes) {
            client::Search users;
            users.base = base;
            users.scope = scope;
            users.filter = "(&" + st.cfg.account_filter + "(tallyPolicyDN=" + client::escape_filter_value(e.dn) + "))";
            users.attributes = {"1.1"};
            for (const auto &u : run(c, users).entries) {
                if (p.accounts.size() < 20) p.accounts.push_back(u.dn);
                else ++p.more;
            }
        }
        out.push_back(std::move(p));
    }
    std::string error = found.result.ok() ? "" : refusal(found.result, "read the policies");
    return html(render_policies(context(st, s, "Policies"), out, error));
}

Response Console::operator_page(const Settings &st, Session &s, client::Connection &c) {
    if (s.role != Role::operator_)
        return page(s, "Operators only", 403, "Operators only", "This page is for the members of the operator group.");
    OperatorView v;
    if (!st.cfg.domain_base.empty()) {
        client::Search q;
        q.base = st.cfg.domain_base;
        q.scope = LDAP_SCOPE_ONELEVEL;
        q.filter = st.cfg.domain_filter;
        q.attributes = {"1.1"};
        for (const auto &d : run(c, q).entries) {
            client::Search a;
            a.base = d.dn;
            a.filter = st.cfg.account_filter;
            a.attributes = {"1.1"};
            a.timeout_ms = -1;
            std::size_t n = 0;
            for (const auto &e : run(c, a).entries) n += strcasecmp(e.dn.c_str(), d.dn.c_str()) != 0;
            if (n) v.domains.push_back({d.dn, n});
        }
    }
    client::Search m;
    m.base = st.cfg.monitor_base;
    m.filter = "(objectClass=tallyMonitor)";
    m.attributes = stats_attributes();
    auto mon = run(c, m);
    if (!mon.result.ok())
        v.monitor_error = refusal(mon.result, "read the overlay's counters under " + st.cfg.monitor_base);
    else if (mon.entries.empty())
        v.monitor_error = "No database under " + st.cfg.monitor_base + " carries the tally overlay's counters.";
    for (const auto &e : mon.entries) {
        std::vector<std::string> problems;
        auto db = parse_database_stats(e.dn, e.attributes, &problems);
        MonitorDatabase md;
        md.suffix = db.suffix.empty() ? db.dn : db.suffix;
        for (std::size_t i = 0; i < kStatsCounterCount; ++i)
            md.counters.push_back({kStatsCounters[i].label, db.values[i] ? std::to_string(*db.values[i]) : "-"});
        v.databases.push_back(std::move(md));
    }
    return html(render_operator(context(st, s, "Operator"), v));
}

}  // namespace tally::web
