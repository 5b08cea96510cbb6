// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* web_config.cpp - tally-web's option table and its "key = value" reader */
#include "web_config.h"

#include "ldap_filter.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace tally::web {

namespace {

struct Opt {
    const char *name;
    const char *help;
    std::function<std::optional<std::string>(WebConfig &, const std::string &)> set;
    std::function<std::string(const WebConfig &)> get;
};

Opt str(const char *n, const char *h, std::string WebConfig::*f) {
    return {n, h, [f](WebConfig &c, const std::string &v) { c.*f = v; return std::optional<std::string>(); },
            [f](const WebConfig &c) { return c.*f; }};
}

/* filter - a search filter template: only the %-sequences of ldap_filter.h */
Opt filter(const char *n, const char *h, std::string WebConfig::*f) {
    return {n, h,
            [f](WebConfig &c, const std::string &v) -> std::optional<std::string> {
                if (!client::expand_filter(v, {"x", "cn=x", "127.0.0.1"}))
                    return "unknown %-sequence (use %s, %u, %d, %D, %c or %%)";
                if (v.empty() || v.front() != '(' || v.back() != ')') return "a filter is written in parentheses";
                c.*f = v;
                return std::nullopt;
            },
            [f](const WebConfig &c) { return c.*f; }};
}

Opt num(const char *n, const char *h, int WebConfig::*f, int min, int max) {
    return {n, h,
            [f, min, max](WebConfig &c, const std::string &v) -> std::optional<std::string> {
                int x = 0;
                auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
                if (v.empty() || ec != std::errc() || p != v.data() + v.size() || x < min || x > max)
                    return "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
                c.*f = x;
                return std::nullopt;
            },
            [f](const WebConfig &c) { return std::to_string(c.*f); }};
}

Opt flag(const char *n, const char *h, bool WebConfig::*f) {
    return {n, h,
            [f](WebConfig &c, const std::string &v) -> std::optional<std::string> {
                if (v == "yes" || v == "true" || v == "on") c.*f = true;
                else if (v == "no" || v == "false" || v == "off") c.*f = false;
                else return "expected yes or no";
                return std::nullopt;
            },
            [f](const WebConfig &c) { return std::string(c.*f ? "yes" : "no"); }};
}

const std::vector<Opt> &options() {
    static const std::vector<Opt> table = {
        str("listen", "ADDRESS:PORT the console serves on; keep it on loopback behind a reverse proxy", &WebConfig::listen),
        str("tls_certificate", "PEM file with the private key and certificate chain: serve HTTPS itself (empty: HTTP)",
            &WebConfig::tls_certificate),
        flag("behind_tls_proxy", "a TLS reverse proxy serves the console: cookies are marked Secure",
             &WebConfig::behind_tls_proxy),
        num("threads", "HTTP worker threads", &WebConfig::threads, 1, 256),
        num("request_timeout_ms", "how long a request may take to arrive and be answered", &WebConfig::request_timeout_ms,
            100, 600000),
        str("pid_file", "write the process id here (empty: none)", &WebConfig::pid_file),
        str("log_target", "stderr, syslog (daemon facility) or a file", &WebConfig::log_target),
        str("ldap_uri", "the directory (ldap://, ldaps://, ldapi://)", &WebConfig::ldap_uri),
        flag("ldap_starttls", "StartTLS on ldap:// (the server certificate is verified)", &WebConfig::ldap_starttls),
        str("ldap_ca_file", "CA certificates for the directory's TLS (empty: ldap.conf's)", &WebConfig::ldap_ca_file),
        num("ldap_timeout_ms", "per LDAP operation", &WebConfig::ldap_timeout_ms, 100, 600000),
        str("search_bind_dn", "identity that searches the DN of a login (reads only; empty: anonymous)",
            &WebConfig::search_bind_dn),
        str("search_password_file", "its password, first line of the file", &WebConfig::search_password_file),
        str("login_base", "where logins are searched", &WebConfig::login_base),
        filter("login_filter", "finds the login's entry: %s the login typed, %u before '@', %d after; escaped",
               &WebConfig::login_filter),
        str("operator_group", "DN of the group whose members are operators (every domain, cn=Monitor)",
            &WebConfig::operator_group),
        str("domain_base", "where domains (the containers of accounts) and their admin groups are", &WebConfig::domain_base),
        filter("domain_filter", "what a domain entry is (one level below domain_base)", &WebConfig::domain_filter),
        filter("domain_admin_filter", "groups holding %D (the person's DN), searched under domain_base",
               &WebConfig::domain_admin_filter),
        str("domain_admin_group", "the RDN of a domain's admins group: a member administers the entry above it",
            &WebConfig::domain_admin_group),
        filter("account_filter", "what an account is", &WebConfig::account_filter),
        str("policy_base", "where policies (classes of service) are; empty: no policies page", &WebConfig::policy_base),
        filter("policy_filter", "what a policy entry is", &WebConfig::policy_filter),
        str("monitor_base", "slapd's monitor database (the overlay's counters)", &WebConfig::monitor_base),
        num("max_sessions", "sessions at most; logins beyond are refused", &WebConfig::max_sessions, 1, 1000000),
        num("session_idle", "seconds without a request that end a session", &WebConfig::session_idle, 1, 86400),
        num("session_lifetime", "seconds after login that end a session", &WebConfig::session_lifetime, 1, 604800),
        num("login_free_failures", "failed logins (per login, per address) before attempts are slowed",
            &WebConfig::login_free_failures, 0, 1000),
        num("login_max_delay", "longest wait (seconds) imposed after failed logins", &WebConfig::login_max_delay, 1,
            86400),
        num("page_size", "accounts per page of the domain page", &WebConfig::page_size, 5, 1000),
    };
    return table;
}

std::string trimmed(const std::string &s) {
    auto a = s.find_first_not_of(" \t\r");
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

}  // namespace

std::vector<std::string> parse_web_config(const std::string &text, WebConfig &out) {
    WebConfig c;
    std::vector<std::string> errors;
    std::set<std::string> seen;
    std::istringstream in(text);
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        std::string t = trimmed(line);
        if (t.empty() || t[0] == '#') continue;
        auto eq = t.find('=');
        if (eq == std::string::npos) {
            errors.push_back(std::to_string(n) + ": expected key = value");
            continue;
        }
        std::string key = trimmed(t.substr(0, eq)), value = trimmed(t.substr(eq + 1));
        const Opt *o = nullptr;
        for (const auto &x : options())
            if (key == x.name) o = &x;
        if (!o) {
            errors.push_back(std::to_string(n) + ": unknown option " + key);
            continue;
        }
        if (!seen.insert(key).second) errors.push_back(std::to_string(n) + ": " + key + " given twice");
        if (auto e = o->set(c, value)) errors.push_back(std::to_string(n) + ": " + key + ": " + *e);
    }
    if (c.login_base.empty()) errors.push_back("0: login_base is required");
    if (c.session_idle > c.session_lifetime) errors.push_back("0: session_idle is longer than session_lifetime");
    if (!c.search_bind_dn.empty() && c.search_password_file.empty())
        errors.push_back("0: search_bind_dn needs search_password_file");
    if (errors.empty()) out = c;
    return errors;
}

std::optional<WebConfig> load_web_config(const std::string &path, std::vector<std::string> &errors) {
    std::ifstream f(path);
    if (!f) {
        errors.push_back(path + ": cannot read");
        return std::nullopt;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    WebConfig c;
    auto errs = parse_web_config(ss.str(), c);
    for (auto &e : errs) {
        if (e.rfind("0: ", 0) == 0) errors.push_back(path + ": " + e.substr(3));
        else errors.push_back(path + ":" + e);
    }
    if (!errs.empty()) return std::nullopt;
    return c;
}

std::vector<OptionInfo> web_option_table(const WebConfig &c) {
    std::vector<OptionInfo> out;
    for (const auto &o : options()) out.push_back({o.name, o.get(c), o.help});
    return out;
}

}  // namespace tally::web
