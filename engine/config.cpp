// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* milter_config.cpp - the option table and the key = value parser */
#include "config.h"

#include "ldap_filter.h"
#include "listen_address.h"

#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace tally::engine {

namespace {

using Setter = std::function<std::optional<std::string>(Config &, const std::string &)>;
using Getter = std::function<std::string(const Config &)>;

struct Option {
    const char *name;
    const char *help;
    Setter set;
    Getter get;
};

std::string trim(std::string_view s) {
    std::size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return std::string(s.substr(a, b - a));
}

std::vector<std::string> words(const std::string &v) {
    std::vector<std::string> out;
    std::istringstream in(v);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

template <typename T>
using Field = T Config::*;

Option text(const char *name, const char *help, Field<std::string> f) {
    return {name, help,
            [f](Config &c, const std::string &v) -> std::optional<std::string> {
                c.*f = v;
                return std::nullopt;
            },
            [f](const Config &c) { return c.*f; }};
}

Option integer(const char *name, const char *help, Field<int> f, int min, int max) {
    return {name, help,
            [f, min, max](Config &c, const std::string &v) -> std::optional<std::string> {
                int n = 0;
                auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
                    return "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
                c.*f = n;
                return std::nullopt;
            },
            [f](const Config &c) { return std::to_string(c.*f); }};
}

/* millis - "250ms", "2s" or a plain number of seconds */
Option millis(const char *name, const char *help, Field<int> f) {
    return {name, help,
            [f](Config &c, const std::string &v) -> std::optional<std::string> {
                std::string num = v;
                int scale = 1000;
                if (num.size() > 2 && num.ends_with("ms")) {
                    num.resize(num.size() - 2);
                    scale = 1;
                } else if (num.size() > 1 && num.back() == 's') {
                    num.pop_back();
                }
                int n = 0;
                auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
                if (num.empty() || ec != std::errc() || p != num.data() + num.size() || n <= 0 ||
                    static_cast<long>(n) * scale > 60000)
                    return "expected a duration such as 500ms or 2s (at most 60s)";
                c.*f = n * scale;
                return std::nullopt;
            },
            [f](const Config &c) { return std::to_string(c.*f) + "ms"; }};
}

Option boolean(const char *name, const char *help, Field<bool> f) {
    return {name, help,
            [f](Config &c, const std::string &v) -> std::optional<std::string> {
                if (v == "yes" || v == "true" || v == "on") c.*f = true;
                else if (v == "no" || v == "false" || v == "off") c.*f = false;
                else return "expected yes or no";
                return std::nullopt;
            },
            [f](const Config &c) { return std::string(c.*f ? "yes" : "no"); }};
}

Option list(const char *name, const char *help, Field<std::vector<std::string>> f) {
    return {name, help,
            [f](Config &c, const std::string &v) -> std::optional<std::string> {
                auto w = words(v);
                if (w.empty()) return "expected one or more values";
                c.*f = w;
                return std::nullopt;
            },
            [f](const Config &c) {
                std::string s;
                for (const auto &w : c.*f) s += (s.empty() ? "" : " ") + w;
                return s;
            }};
}

Option fail_action(const char *name, const char *help, Field<FailAction> f) {
    return {name, help,
            [f](Config &c, const std::string &v) -> std::optional<std::string> {
                if (v == "accept") c.*f = FailAction::accept;
                else if (v == "tempfail") c.*f = FailAction::tempfail;
                else if (v == "reject") c.*f = FailAction::reject;
                else return "expected accept, tempfail or reject";
                return std::nullopt;
            },
            [f](const Config &c) {
                switch (c.*f) {
                case FailAction::accept: return std::string("accept");
                case FailAction::reject: return std::string("reject");
                case FailAction::tempfail: break;
                }
                return std::string("tempfail");
            }};
}

/* reply - "CODE X.Y.Z text": a 4xx or 5xx code and a matching enhanced code */
Option reply(const char *name, const char *help, Field<std::string> f) {
    return {name, help,
            [f](Config &c, const std::string &v) -> std::optional<std::string> {
                auto w = words(v);
                bool ok = w.size() >= 3 && w[0].size() == 3 && (w[0][0] == '4' || w[0][0] == '5') &&
                          std::isdigit(static_cast<unsigned char>(w[0][1])) &&
                          std::isdigit(static_cast<unsigned char>(w[0][2])) && w[1].size() >= 5 &&
                          w[1][0] == w[0][0] && w[1][1] == '.';
                if (!ok) return "expected \"CODE X.Y.Z text\" with a 4xx or 5xx code, e.g. \"550 5.7.1 refused\"";
                c.*f = v;
                return std::nullopt;
            },
            [f](const Config &c) { return c.*f; }};
}

const std::vector<Option> &options() {
    static const std::vector<Option> table = {
        text("socket", "milter socket: inet:PORT@ADDRESS or unix:PATH; none: no milter", &Config::socket),
        text("policy_listen", "Postfix policy protocol listener: inet:ADDRESS:PORT or unix:PATH; empty: off",
             &Config::policy_listen),
        integer("policy_max_connections", "policy connections served at once; more are closed at once",
                &Config::policy_max_connections, 1, 10000),
        integer("policy_idle_timeout", "seconds a policy connection may wait for its next request (Postfix keeps them 300 s)",
                &Config::policy_idle_timeout, 1, 86400),
        integer("policy_request_timeout", "seconds a started policy request has to arrive whole",
                &Config::policy_request_timeout, 1, 3600),
        text("metrics_listen",
             "Prometheus metrics over HTTP (GET /metrics) on ADDRESS:PORT, e.g. 127.0.0.1:9479; empty: off. "
             "Any host that reaches the address reads the counters: keep it on loopback unless a firewall guards it",
             &Config::metrics_listen),
        text("pid_file", "write the daemon's PID here", &Config::pid_file),
        text("user", "drop privileges to this user after opening the socket", &Config::user),
        boolean("foreground", "stay in the foreground (do not daemonize)", &Config::foreground),
        {"log_target", "syslog (mail facility), stderr, or the absolute path of a file",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             if (v != "syslog" && v != "stderr" && !v.starts_with("/")) return "expected syslog, stderr or /path/to/file";
             c.log_target = v;
             return std::nullopt;
         },
         [](const Config &c) { return c.log_target; }},
        {"log_fallback", "where lines go when log_target = syslog but no syslog daemon listens (/dev/log): stderr or a file",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             if (v != "stderr" && !v.starts_with("/")) return "expected stderr or /path/to/file";
             c.log_fallback = v;
             return std::nullopt;
         },
         [](const Config &c) { return c.log_fallback; }},
        {"log_level", "debug, info, warning or error",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             static const std::set<std::string> ok = {"debug", "info", "warning", "error"};
             if (!ok.count(v)) return "expected debug, info, warning or error";
             c.log_level = v;
             return std::nullopt;
         },
         [](const Config &c) { return c.log_level; }},
        list("ldap_uri", "LDAP servers, tried in order (failover)", &Config::ldap_uri),
        text("ldap_bind_dn", "DN of the milter's service identity (simple bind)", &Config::ldap_bind_dn),
        text("ldap_password_file", "file holding the bind password (first line)", &Config::ldap_password_file),
        boolean("ldap_sasl_external", "bind with SASL EXTERNAL (ldapi:// or a client certificate)",
                &Config::ldap_sasl_external),
        boolean("ldap_starttls", "StartTLS on ldap:// URIs (ldaps:// is TLS already)", &Config::ldap_starttls),
        text("ldap_ca_file", "CA certificates for TLS (default: ldap.conf's); server certificates are always verified", &Config::ldap_ca_file),
        millis("ldap_connect_timeout", "give up connecting after this long", &Config::ldap_connect_timeout_ms),
        millis("ldap_timeout", "give up waiting for an answer after this long", &Config::ldap_timeout_ms),
        integer("ldap_pool_size", "LDAP connections shared by the milter's threads", &Config::ldap_pool_size, 1,
                256),
        integer("ldap_failback", "seconds after which connections to a later URI are retired, so the first is used again",
                &Config::ldap_failback, 1, 3600),
        text("search_base", "where accounts live", &Config::search_base),
        text("search_filter", "finds the account; %s the login, %u its part before @ (Cyrus user@realm), %d the part after (all escaped)",
             &Config::search_filter),
        list("sender_attributes", "attributes holding addresses the account may send as",
             &Config::sender_attributes),
        text("alias_search_base", "where alias entries live; empty: no alias search", &Config::alias_search_base),
        text("alias_search_filter", "finds aliases delivering to the account; %s %u %d as above, %D the account DN",
             &Config::alias_search_filter),
        text("alias_attribute", "the address attribute of an alias entry", &Config::alias_attribute),
        text("blocked_attribute", "TRUE here blocks the account", &Config::blocked_attribute),
        text("blocked_text_attribute", "the account's own rejection text", &Config::blocked_text_attribute),
        text("status_attribute", "an account status attribute (e.g. mailUserStatus); empty: unused",
             &Config::status_attribute),
        text("status_active_value", "the status value that allows sending", &Config::status_active_value),
        integer("cache_size", "accounts kept in the lookup cache", &Config::cache_size, 0, 10000000),
        integer("cache_ttl", "seconds an account stays cached (a newly blocked account may send this long)",
                &Config::cache_ttl, 0, 86400),
        {"unauthenticated", "mail without SASL login: pass, lookup (refuse a blocked sender account) or refuse-hosted",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             if (v == "pass") c.unauthenticated = Unauthenticated::pass;
             else if (v == "lookup") c.unauthenticated = Unauthenticated::lookup;
             else if (v == "refuse-hosted") c.unauthenticated = Unauthenticated::refuse_hosted;
             else return "expected pass, lookup or refuse-hosted";
             return std::nullopt;
         },
         [](const Config &c) {
             switch (c.unauthenticated) {
             case Unauthenticated::lookup: return std::string("lookup");
             case Unauthenticated::refuse_hosted: return std::string("refuse-hosted");
             case Unauthenticated::pass: break;
             }
             return std::string("pass");
         }},
        text("sender_search_filter", "finds the account of a sender address (unauthenticated = lookup); %s the address",
             &Config::sender_search_filter),
        {"hosted_domains", "domains whose senders must authenticate (unauthenticated = refuse-hosted)",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             c.hosted_domains = words(v);
             for (auto &d : c.hosted_domains)
                 for (auto &ch : d) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
             return std::nullopt;
         },
         [](const Config &c) {
             std::string s;
             for (const auto &w : c.hosted_domains) s += (s.empty() ? "" : " ") + w;
             return s;
         }},
        text("relay_search_base", "where relay-host entries live; empty: relay hosts are not accounted",
             &Config::relay_search_base),
        text("relay_search_filter", "finds the entry of one client address; %c the address",
             &Config::relay_search_filter),
        text("relay_network_filter", "network entries (ipNetworkNumber, ipNetmaskNumber) holding client addresses; empty: off",
             &Config::relay_network_filter),
        text("deny_search_base", "where deny lists (tallyDenyList entries) live; empty: off",
             &Config::deny_search_base),
        text("deny_filter", "selects the deny-list entries", &Config::deny_filter),
        text("hosted_domain_search_base",
             "where the hosted domains are read from; recipients elsewhere count as externalRecipients; empty: off",
             &Config::hosted_domain_search_base),
        text("hosted_domain_filter", "selects the entries naming hosted domains", &Config::hosted_domain_filter),
        text("hosted_domain_attribute", "the attribute of those entries holding the domain names (associatedDomain, dc)",
             &Config::hosted_domain_attribute),
        integer("hosted_domain_ttl", "seconds the hosted domains read are used before they are read again",
                &Config::hosted_domain_ttl, 1, 86400),
        integer("hosted_domain_stale_max",
                "seconds the last hosted domains read are still used while the directory fails; then the failure policy",
                &Config::hosted_domain_stale_max, 0, 604800),
        text("exempt_search_base", "where exemption lists (tallyExemptList entries) live; empty: off",
             &Config::exempt_search_base),
        text("exempt_filter", "selects the exemption-list entries", &Config::exempt_filter),
        boolean("exempt_null_sender", "bounces (null sender <>) are never charged", &Config::exempt_null_sender),
        {"stage", "where sender restrictions apply: mail (MAIL FROM) or eom (end of data)",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             if (v == "mail") c.stage = Stage::mail;
             else if (v == "eom") c.stage = Stage::eom;
             else return "expected mail or eom";
             return std::nullopt;
         },
         [](const Config &c) { return std::string(c.stage == Stage::mail ? "mail" : "eom"); }},
        {"detail_delimiter", "user+detail@domain counts as user@domain; none: off",
         [](Config &c, const std::string &v) -> std::optional<std::string> {
             if (v == "none") c.detail_delimiter.clear();
             else if (v.size() == 1 && std::ispunct(static_cast<unsigned char>(v[0])) && v != "@") c.detail_delimiter = v;
             else return "expected one punctuation character such as + or -, or none";
             return std::nullopt;
         },
         [](const Config &c) { return c.detail_delimiter.empty() ? std::string("none") : c.detail_delimiter; }},
        boolean("null_sender_allowed", "authenticated mail may use the null sender <>",
                &Config::null_sender_allowed),
        reply("reply_blocked", "reply to a blocked or disabled account", &Config::reply_blocked),
        reply("reply_foreign_sender", "reply to a sender address the login does not own; %{sender} %{login}",
              &Config::reply_foreign_sender),
        reply("reply_quota", "reply when a limit is reached; %{window} %{adjective} %{metric} %{limit} %{usage}",
              &Config::reply_quota),
        reply("reply_quota_relay", "reply when a relay host reaches a limit (defer by default); placeholders as reply_quota",
              &Config::reply_quota_relay),
        reply("reply_quota_aggregate",
              "reply when the limit of the account's aggregate (domain) is reached; placeholders as reply_quota, "
              "and %{aggregate} (its DN)",
              &Config::reply_quota_aggregate),
        reply("reply_denied", "reply to a sender domain or client network on a deny list; %{what}",
              &Config::reply_denied),
        reply("reply_unauthenticated", "reply to an unauthenticated sender in a hosted domain; %{sender}",
              &Config::reply_unauthenticated),
        reply("reply_tempfail", "reply when a failure policy says tempfail", &Config::reply_tempfail),
        reply("reply_reject", "reply when a failure policy says reject", &Config::reply_reject),
        boolean("usage_header", "add an X-Tally-Usage header to accepted messages", &Config::usage_header),
        text("alert_mail_to", "mail this address when an account first hits a limit in a window's period; empty: no mail",
             &Config::alert_mail_to),
        text("alert_mail_from", "envelope sender and From of alert mail; empty: sendmail's default",
             &Config::alert_mail_from),
        text("alert_sendmail", "the local MTA's sendmail program (and options) used for alert mail",
             &Config::alert_sendmail),
        text("alert_command", "run with /bin/sh -c when an account first hits a limit; details in TALLY_* variables; empty: none",
             &Config::alert_command),
        integer("alert_timeout", "seconds an alert mail or command may run before it is killed", &Config::alert_timeout,
                1, 3600),
        integer("charge_id_ttl", "the overlay's tally-charge-id-ttl: seconds a cancel of a lost charge is worth sending",
                &Config::charge_id_ttl, 1, 86400),
        fail_action("on_directory_unavailable", "no LDAP server answers, or it refuses the service identity's bind",
                    &Config::on_directory_unavailable),
        fail_action("on_unknown_account", "the login matches no account", &Config::on_unknown_account),
        fail_action("on_charge_error", "the charge operation fails", &Config::on_charge_error),
    };
    return table;
}

/* check_whole - consistency checks across options */
void check_whole(const Config &c, std::vector<ConfigError> &errors) {
    const std::pair<const char *, const std::string *> templates[] = {
        {"search_filter", &c.search_filter},         {"sender_search_filter", &c.sender_search_filter},
        {"alias_search_filter", &c.alias_search_filter}, {"relay_search_filter", &c.relay_search_filter},
        {"relay_network_filter", &c.relay_network_filter}, {"deny_filter", &c.deny_filter},
        {"hosted_domain_filter", &c.hosted_domain_filter}, {"exempt_filter", &c.exempt_filter}};
    for (auto [name, value] : templates)
        if (!client::expand_filter(*value, {"login@realm", "cn=dn", "192.0.2.1"}))
            errors.push_back({0, std::string(name) + " has an unknown %-sequence (use %s %u %d %D %c %%)"});
    if (c.search_base.empty()) errors.push_back({0, "search_base is required"});
    if (c.search_filter.find('%') == std::string::npos)
        errors.push_back({0, "search_filter must use the login (%s, %u or %d)"});
    if (c.unauthenticated == Unauthenticated::refuse_hosted && c.hosted_domains.empty())
        errors.push_back({0, "unauthenticated = refuse-hosted needs hosted_domains"});
    if (!c.hosted_domain_search_base.empty() && c.hosted_domain_attribute.empty())
        errors.push_back({0, "hosted_domain_search_base needs hosted_domain_attribute"});
    if (!c.relay_search_base.empty() && c.relay_search_filter.find("%c") == std::string::npos)
        errors.push_back({0, "relay_search_filter must use the client address (%c)"});
    if (!c.alias_search_base.empty() && c.alias_search_filter.empty())
        errors.push_back({0, "alias_search_base needs alias_search_filter"});
    if (c.socket != "none" &&
        !(c.socket.starts_with("inet:") || c.socket.starts_with("unix:") || c.socket.starts_with("local:")))
        errors.push_back({0, "socket must be inet:PORT@ADDRESS, unix:PATH or none"});
    if (!c.policy_listen.empty() && !parse_listen_address(c.policy_listen))
        errors.push_back({0, "policy_listen must be inet:ADDRESS:PORT (inet:[ADDRESS]:PORT for IPv6) or unix:PATH"});
    if (!c.metrics_listen.empty()) {
        auto m = parse_http_listen_address(c.metrics_listen);
        if (!m) {
            errors.push_back({0, "metrics_listen must be ADDRESS:PORT with a numeric address, such as 127.0.0.1:9479 "
                                 "([::1]:9479 for IPv6)"});
        } else {
            // Two listeners on one port: the second would fail at startup, after the fork.
            const std::pair<const char *, const std::string *> others[] = {{"policy_listen", &c.policy_listen},
                                                                            {"socket", &c.socket}};
            auto any = [](const std::string &h) { return h == "0.0.0.0" || h == "::"; };
            for (auto [name, value] : others) {
                auto other = parse_listen_address(*value);
                if (other && !other->unix_socket && other->port == m->port &&
                    (other->host == m->host || any(other->host) || any(m->host)))
                    errors.push_back({0, std::string("metrics_listen uses the port of ") + name});
            }
        }
    }
    if (c.socket == "none" && c.policy_listen.empty())
        errors.push_back({0, "socket = none needs policy_listen: the daemon would serve nothing"});
    auto plain_address = [](const std::string &a) {
        if (a.empty() || a.front() == '-') return false;
        for (unsigned char ch : a)
            if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>') return false;
        return true;
    };
    if (!c.alert_mail_to.empty() && (!plain_address(c.alert_mail_to) || c.alert_mail_to.find('@') == std::string::npos))
        errors.push_back({0, "alert_mail_to must be one address such as postmaster@example.com"});
    if (!c.alert_mail_from.empty() && !plain_address(c.alert_mail_from))
        errors.push_back({0, "alert_mail_from must be one address"});
    if (!c.alert_mail_to.empty() && (c.alert_sendmail.empty() || c.alert_sendmail.front() != '/'))
        errors.push_back({0, "alert_sendmail must be an absolute path (e.g. /usr/sbin/sendmail)"});
    if (!c.ldap_bind_dn.empty() && c.ldap_password_file.empty() && !c.ldap_sasl_external)
        errors.push_back({0, "ldap_bind_dn needs ldap_password_file"});
}

}  // namespace

std::vector<ConfigError> parse_config_text(const std::string &text, Config &out) {
    std::vector<ConfigError> errors;
    Config c;
    std::set<std::string> seen;
    std::istringstream in(text);
    std::string raw;
    int line = 0;
    while (std::getline(in, raw)) {
        ++line;
        std::string l = trim(raw);
        if (l.empty() || l[0] == '#') continue;
        auto eq = l.find('=');
        if (eq == std::string::npos) {
            errors.push_back({line, "expected \"key = value\""});
            continue;
        }
        std::string key = trim(l.substr(0, eq)), value = trim(l.substr(eq + 1));
        const Option *opt = nullptr;
        for (const Option &o : options())
            if (key == o.name) opt = &o;
        if (!opt) {
            errors.push_back({line, "unknown option \"" + key + "\""});
            continue;
        }
        if (!seen.insert(key).second) {
            errors.push_back({line, "\"" + key + "\" is set twice"});
            continue;
        }
        if (auto err = opt->set(c, value)) errors.push_back({line, key + ": " + *err});
    }
    check_whole(c, errors);
    if (errors.empty()) out = std::move(c);
    return errors;
}

std::optional<Config> load_config(const std::string &path, std::vector<std::string> &errors) {
    std::ifstream f(path);
    if (!f) {
        errors.push_back(path + ": cannot read the file");
        return std::nullopt;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    Config c;
    auto errs = parse_config_text(ss.str(), c);
    for (const auto &e : errs)
        errors.push_back(path + (e.line ? ":" + std::to_string(e.line) : "") + ": " + e.message);
    if (!errs.empty()) return std::nullopt;
    return c;
}

std::vector<OptionInfo> option_table(const Config &c) {
    std::vector<OptionInfo> out;
    for (const Option &o : options()) out.push_back({o.name, o.get(c), o.help});
    return out;
}

}  // namespace tally::engine
