// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* console.cpp - routing, login and logout, sessions, CSRF
 *
 * DESCRIPTION
 *   Login: the login typed is checked (length, no control characters),
 *   the throttle is asked (per login and per client address), the entry is
 *   searched with login_filter (values escaped, client/ldap_filter.h) as
 *   search_bind_dn, and exactly one entry must match; then a connection is
 *   opened bound as that DN with the password typed. That connection is
 *   the session's: the password is not kept. An empty password is refused
 *   before anything is sent (it would be an anonymous bind). The answer to
 *   a wrong login and to a wrong password is the same.
 *   The login form carries its own CSRF token, also set as a cookie
 *   (double submit): a page elsewhere cannot log a browser in as somebody.
 *
 * DIAGNOSTICS
 *   Log lines: "login dn=... from=ADDR result=ok|refused|...",
 *   "logout dn=...", and the changes of console_pages.cpp.
 */
#include "console.h"

#include "ldap_filter.h"
#include "ldap_ops.h"
#include "pages.h"
#include "views.h"

#include <ctime>

namespace tally::web {

namespace {

constexpr const char *kSessionCookie = "tally_session";
constexpr const char *kLoginCookie = "tally_login";
constexpr std::size_t kMaxLogin = 256;
constexpr std::size_t kMaxPassword = 1024;

SessionLimits session_limits(const WebConfig &c) {
    return {static_cast<std::size_t>(c.max_sessions), c.session_idle, c.session_lifetime};
}

ThrottleLimits throttle_limits(const WebConfig &c) {
    ThrottleLimits t;
    t.free_failures = c.login_free_failures;
    t.max_delay = c.login_max_delay;
    return t;
}

Response redirect(const std::string &to) {
    Response r;
    r.status = 303;
    r.headers.push_back({"Location", to});
    return r;
}

std::string field(const std::map<std::string, std::string> &m, const std::string &k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
}

bool printable(const std::string &s) {
    for (unsigned char ch : s)
        if (ch < 0x20 || ch == 0x7f) return false;
    return true;
}

}  // namespace

std::int64_t Console::now() { return static_cast<std::int64_t>(std::time(nullptr)); }

Console::Console(WebConfig cfg, std::string search_password, LogFn log)
    : sessions_(session_limits(cfg)), throttle_(throttle_limits(cfg)), log_(std::move(log)) {
    settings_ = std::make_shared<const Settings>(Settings{std::move(cfg), std::move(search_password)});
}

void Console::reload(WebConfig cfg, std::string search_password) {
    sessions_.set_limits(session_limits(cfg));
    throttle_.set_limits(throttle_limits(cfg));
    auto s = std::make_shared<const Settings>(Settings{std::move(cfg), std::move(search_password)});
    std::lock_guard g(settings_mu_);
    settings_ = std::move(s);
}

std::shared_ptr<const Console::Settings> Console::settings() const {
    std::lock_guard g(settings_mu_);
    return settings_;
}

std::string Console::cookie_flags(const Settings &st) const {
    bool secure = st.cfg.behind_tls_proxy || !st.cfg.tls_certificate.empty();
    return std::string("; Path=/; HttpOnly; SameSite=Strict") + (secure ? "; Secure" : "");
}

Response Console::login_page(const Request &r, const std::string &error, const std::string &login, int status) {
    auto st = settings();
    std::string token = random_token();
    Response out;
    out.status = status;
    out.headers.push_back({"Set-Cookie", std::string(kLoginCookie) + "=" + token + cookie_flags(*st)});
    out.body = render_login({token, login, error});
    return out;
}

Response Console::page(Session &s, const std::string &title, int status, const std::string &heading,
                       const std::string &text) {
    PageContext c;
    c.title = title;
    c.who = s.dn;
    c.csrf = s.csrf;
    c.operator_ = s.role == Role::operator_;
    Response r;
    r.status = status;
    r.body = render_message(c, heading, text);
    return r;
}

Response Console::login(const Request &r) {
    auto st = settings();
    const WebConfig &cfg = st->cfg;
    std::string login = field(r.form, "login"), password = field(r.form, "password");
    if (!tokens_equal(field(r.form, "token"), field(r.cookies, kLoginCookie)))
        return login_page(r, "The login form had expired or did not come from this console; please try again.", "",
                          403);
    if (login.empty() || password.empty())
        return login_page(r, "Type your login (uid or mail) and your password.", login, 400);
    if (login.size() > kMaxLogin || password.size() > kMaxPassword || !printable(login))
        return login_page(r, "That login is not valid: at most 256 printable characters.", "", 400);
    std::int64_t t = now();
    std::string login_key = "login:" + login, addr_key = "addr:" + r.client;
    std::int64_t wait = std::max(throttle_.wait_seconds(login_key, t), throttle_.wait_seconds(addr_key, t));
    if (wait > 0) {
        log_('w', "login login=\"" + login + "\" from=" + r.client + " result=throttled wait=" + std::to_string(wait));
        return login_page(r, "Too many failed logins: try again in " + std::to_string(wait) + " seconds.", login,
                          429);
    }
    auto refuse = [&](const std::string &why) {
        throttle_.failed(login_key, t);
        throttle_.failed(addr_key, t);
        log_('i', "login login=\"" + login + "\" from=" + r.client + " result=refused (" + why + ")");
        return login_page(r, "Wrong login or password.", login, 401);
    };
    client::ConnectOptions o;
    o.uri = cfg.ldap_uri;
    o.start_tls = cfg.ldap_starttls;
    o.ca_file = cfg.ldap_ca_file;
    o.operation_timeout_ms = cfg.ldap_timeout_ms;
    o.bind_dn = cfg.search_bind_dn;
    o.password = st->search_password;
    std::string err;
    auto searcher = client::Connection::open(o, &err);
    if (!searcher) {
        log_('e', "login search connection: " + err);
        return login_page(r, "The directory is not answering; please try again later.", login, 503);
    }
    auto filter = client::expand_filter(cfg.login_filter, {login, "", r.client});
    if (!filter) return login_page(r, "The console's login_filter is not valid.", login, 500);
    client::Search q;
    q.base = cfg.login_base;
    q.filter = *filter;
    q.attributes = {"1.1"};
    q.size_limit = 2;
    auto found = client::search(*searcher, q);
    if (found.result.transport_error()) {
        log_('e', "login search: " + found.result.describe());
        return login_page(r, "The directory is not answering; please try again later.", login, 503);
    }
    if (found.entries.size() != 1)
        return refuse(found.entries.empty() ? "no such login" : "login matches several entries");
    std::string dn = found.entries[0].dn;
    o.bind_dn = dn;
    o.password = password;
    bool bind_refused = false;
    auto conn = client::Connection::open(o, &err, &bind_refused);
    password.assign(password.size(), '\0');
    if (!conn) {
        if (bind_refused) return refuse("bind " + dn + ": " + err);
        log_('e', "login bind " + dn + ": " + err);
        return login_page(r, "The directory is not answering; please try again later.", login, 503);
    }
    throttle_.succeeded(login_key);
    // roles, read as the person
    Role role = Role::user;
    std::vector<std::string> domains;
    if (!cfg.operator_group.empty()) {
        client::Search g;
        g.base = cfg.operator_group;
        g.scope = LDAP_SCOPE_BASE;
        g.filter = "(member=" + client::escape_filter_value(dn) + ")";
        g.attributes = {"1.1"};
        if (!client::search(*conn, g).entries.empty()) role = Role::operator_;
    }
    if (!cfg.domain_base.empty()) {
        if (auto f = client::expand_filter(cfg.domain_admin_filter, {login, dn, r.client})) {
            client::Search g;
            g.base = cfg.domain_base;
            g.filter = *f;
            g.attributes = {"1.1"};
            for (const auto &e : client::search(*conn, g).entries) {
                std::string d = parent_dn(e.dn);
                std::string rdn = e.dn.substr(0, e.dn.size() - d.size() - (d.empty() ? 0 : 1));
                if (!d.empty() && strcasecmp(rdn.c_str(), cfg.domain_admin_group.c_str()) == 0) domains.push_back(d);
            }
        }
        if (!domains.empty() && role == Role::user) role = Role::domain_admin;
    }
    std::shared_ptr<client::Connection> shared(std::move(conn));
    auto s = sessions_.create(dn, login, role, domains, shared, t);
    if (!s) {
        log_('w', "login dn=\"" + dn + "\" from=" + r.client + " result=refused (session table full)");
        return login_page(r, "Too many people are logged in; please try again later.", login, 503);
    }
    log_('i', "login dn=\"" + dn + "\" from=" + r.client + " result=ok role=" +
                  (role == Role::operator_ ? "operator" : role == Role::domain_admin ? "domain-admin" : "user"));
    Response out = redirect("/me");
    out.headers.push_back({"Set-Cookie", std::string(kSessionCookie) + "=" + s->id + cookie_flags(*st)});
    out.headers.push_back({"Set-Cookie", std::string(kLoginCookie) + "=; Max-Age=0" + cookie_flags(*st)});
    return out;
}

Response Console::logout(const Request &r, Session &s) {
    sessions_.end(s.id);
    log_('i', "logout dn=\"" + s.dn + "\" from=" + r.client + " result=ok");
    Response out = redirect("/login");
    out.headers.push_back({"Set-Cookie", std::string(kSessionCookie) + "=; Max-Age=0" + cookie_flags(*settings())});
    return out;
}

bool Console::may_administer(const Session &s, const std::string &dn) const {
    if (s.role == Role::operator_) return true;
    for (const auto &d : s.domains)
        if (dn != d && dn_within(dn, d)) return true;
    return false;
}

bool Console::may_open_domain(const Session &s, const std::string &domain) const {
    if (s.role == Role::operator_) return true;
    for (const auto &d : s.domains)
        if (strcasecmp(d.c_str(), domain.c_str()) == 0) return true;
    return false;
}

Response Console::changed(Session &s, const std::string &what, const std::string &dn, const client::LdapResult &res,
                          const std::string &back) {
    if (res.transport_error()) throw ConnectionLost(res.describe());
    log_('i', what + " by=\"" + s.dn + "\" account=\"" + dn + "\" result=" +
                  (res.ok() ? std::string("ok") : "refused (" + res.describe() + ")"));
    if (res.ok()) s.flash_notice = what + ": done.";
    else s.flash_error = what + " refused by the directory: " + res.describe();
    return redirect(back);
}

Response Console::handle(const Request &r) {
    try {
        if (r.path == "/login") {
            if (r.method == "GET") return login_page(r, r.query.count("expired") ? "Your session ended; please log in again." : "");
            if (r.method == "POST") return login(r);
        }
        static const char *known[] = {"/", "/login", "/logout", "/me", "/domain", "/domain.csv", "/account",
                                      "/account/limits", "/account/block", "/account/reset", "/policies",
                                      "/operator"};
        bool is_known = false;
        for (const char *k : known) is_known = is_known || r.path == k;
        if (!is_known) {
            Response out;
            out.status = 404;
            PageContext c;
            c.title = "Not found";
            out.body = render_message(c, "Not found", "There is no page " + r.path + " here.");
            return out;
        }
        if (r.method != "GET" && r.method != "POST") {
            Response out;
            out.status = 405;
            out.headers.push_back({"Allow", "GET, POST"});
            out.content_type = "text/plain; charset=utf-8";
            out.body = "method not allowed\n";
            return out;
        }
        auto s = sessions_.find(field(r.cookies, kSessionCookie), now());
        if (!s) {
            if (r.method == "GET") return redirect(field(r.cookies, kSessionCookie).empty() ? "/login" : "/login?expired=1");
            Response out = login_page(r, "Your session ended (or never began); please log in again.", "", 403);
            return out;
        }
        std::lock_guard g(s->lock);
        try {
            return serve(r, *s);
        } catch (const ConnectionLost &e) {
            sessions_.end(s->id);
            log_('w', "session of \"" + s->dn + "\" ended: the directory connection was lost (" + e.what() + ")");
            return redirect("/login?expired=1");
        }
    } catch (const std::exception &e) {
        log_('e', "request " + r.method + " " + r.path + ": " + e.what());
        Response out;
        out.status = 500;
        out.content_type = "text/plain; charset=utf-8";
        out.body = "internal error\n";
        return out;
    }
}

Response Console::serve(const Request &r, Session &session) {
    {
        Session *s = &session;
        if (r.method == "POST" && !tokens_equal(field(r.form, "csrf"), s->csrf))
            return page(*s, "Refused", 403, "Refused",
                        "This form did not carry this session's token (a forged or outdated form). Nothing was changed.");
        auto conn = std::static_pointer_cast<client::Connection>(s->state);
        auto st = settings();
        if (r.path == "/logout" && r.method == "POST") return logout(r, *s);
        if (r.method == "GET") {
            if (r.path == "/" ) return redirect("/me");
            if (r.path == "/me") return me(*st, *s, *conn);
            if (r.path == "/domain") return domain(*st, r, *s, *conn, false);
            if (r.path == "/domain.csv") return domain(*st, r, *s, *conn, true);
            if (r.path == "/account") return account(*st, r, *s, *conn);
            if (r.path == "/policies") return policies(*st, *s, *conn);
            if (r.path == "/operator") return operator_page(*st, *s, *conn);
        } else {
            if (r.path == "/account/limits") return account_limits(*st, r, *s, *conn);
            if (r.path == "/account/block") return account_block(*st, r, *s, *conn);
            if (r.path == "/account/reset") return account_reset(*st, r, *s, *conn);
        }
        return page(*s, "Not allowed", 405, "Not allowed", r.method + " is not used on " + r.path + ".");
    }
}

}  // namespace tally::web
