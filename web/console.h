// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* console.h - the web console's handlers: (request, session) -> response
 *
 * DESCRIPTION
 *   Requests arrive parsed by the HTTP server (http_server.cpp: civetweb);
 *   Console routes them, keeps the sessions, checks the CSRF token of
 *   every POST, and answers with a page, a redirect or a clear error.
 *   Every directory operation after login goes through the LDAP connection
 *   bound as the person who logged in (client/): slapd's ACLs decide what
 *   each page shows and which change is made; the console only hides what
 *   the person cannot use, and shows slapd's answer when it refuses.
 *
 *   Routes:
 *     GET  /login, POST /login, POST /logout
 *     GET  /me                      my usage, history chart, send-as, blocked
 *     GET  /domain?d=DN&w=&q=&sort=&blocked=&hit=&page=    a domain's accounts
 *     GET  /domain.csv?d=DN         every account's usage and limits, CSV
 *     GET  /account?dn=DN           one account; POST /account/limits,
 *                                   /account/block, /account/reset
 *     GET  /policies, GET /operator
 *   Anything else: 404. A GET without a live session goes to /login; a
 *   POST without one, or without the session's token, is refused (403).
 *
 *   Each request that changed something (login, logout, limits, block,
 *   unblock, reset) logs one line: who, what, result.
 */
#pragma once

#include "ldap_client.h"
#include "login_throttle.h"
#include "pages.h"
#include "session_table.h"
#include "web_config.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tally::web {

struct Request {
    std::string method;  // GET, POST, ...
    std::string path;    // decoded, without the query
    std::map<std::string, std::string> query, form, cookies;
    std::string client;  // remote address
};

struct Response {
    int status = 200;
    std::string content_type = "text/html; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // Set-Cookie, Location, ...
};

/* LogFn - one line at a level: 'i' info (changes), 'w' warning, 'e' error */
using LogFn = std::function<void(char level, const std::string &line)>;

/* ConnectionLost - the session's LDAP connection is gone (slapd restarted):
 * the session ends and the person logs in again */
struct ConnectionLost : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Console {
public:
    /* search_password: search_bind_dn's, read by the caller from its file */
    Console(WebConfig cfg, std::string search_password, LogFn log);
    /* reload - a new configuration for requests from now on (listen is the server's) */
    void reload(WebConfig cfg, std::string search_password);
    Response handle(const Request &r);
    SessionTable &sessions() { return sessions_; }

    /* now - seconds; the tests of the HTTP layer never need to change it */
    static std::int64_t now();

private:
    struct Settings {
        WebConfig cfg;
        std::string search_password;
    };
    std::shared_ptr<const Settings> settings() const;

    Response login_page(const Request &r, const std::string &error, const std::string &login = "", int status = 200);
    Response login(const Request &r);
    /* serve - a request of a live session, its lock held */
    Response serve(const Request &r, Session &s);
    Response logout(const Request &r, Session &s);
    Response me(const Settings &st, Session &s, client::Connection &c);
    Response domain(const Settings &st, const Request &r, Session &s, client::Connection &c, bool csv);
    Response account(const Settings &st, const Request &r, Session &s, client::Connection &c);
    Response account_limits(const Settings &st, const Request &r, Session &s, client::Connection &c);
    Response account_block(const Settings &st, const Request &r, Session &s, client::Connection &c);
    Response account_reset(const Settings &st, const Request &r, Session &s, client::Connection &c);
    Response policies(const Settings &st, Session &s, client::Connection &c);
    Response operator_page(const Settings &st, Session &s, client::Connection &c);

    /* context - the frame of a page for s; takes the flash */
    PageContext context(const Settings &st, Session &s, const std::string &title) const;
    Response page(Session &s, const std::string &title, int status, const std::string &heading,
                  const std::string &text);
    /* may_administer - s administers dn's domain, or is an operator */
    bool may_administer(const Session &s, const std::string &dn) const;
    bool may_open_domain(const Session &s, const std::string &domain) const;
    /* changed - the audit line of a change, and the flash shown after the redirect */
    Response changed(Session &s, const std::string &what, const std::string &dn, const client::LdapResult &res,
                     const std::string &back);
    std::string cookie_flags(const Settings &st) const;

    mutable std::mutex settings_mu_;
    std::shared_ptr<const Settings> settings_;
    SessionTable sessions_;
    LoginThrottle throttle_;
    LogFn log_;
};

}  // namespace tally::web
