// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* web_config.h - tally-web's configuration file: every option declared once, in one table
 *
 * DESCRIPTION
 *   "key = value" lines, '#' comments, as tallyd.conf. Unknown keys and bad
 *   values are errors naming the file and line; "tally-web -n" checks a
 *   file and exits; option_table() lists every key with its default and
 *   meaning (tally-web -h, tally-web(8)).
 */
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tally::web {

struct WebConfig {
    // HTTP
    std::string listen = "127.0.0.1:8480";  // ADDRESS:PORT (civetweb's listening_ports)
    std::string tls_certificate;             // PEM with key and certificate: serve HTTPS itself
    bool behind_tls_proxy = false;           // a TLS reverse proxy in front: Secure cookies
    int threads = 8;
    int request_timeout_ms = 10000;
    std::string pid_file;
    std::string log_target = "stderr";       // stderr | syslog | /path/to/file

    // the directory
    std::string ldap_uri = "ldapi:///";
    bool ldap_starttls = false;
    std::string ldap_ca_file;
    int ldap_timeout_ms = 5000;

    // finding the person who logs in (a search; then a bind as the DN found)
    std::string search_bind_dn;              // empty: search anonymously
    std::string search_password_file;
    std::string login_base;
    std::string login_filter = "(&(objectClass=inetOrgPerson)(|(uid=%s)(mail=%s)))";

    // roles: read as the person, with their own rights
    std::string operator_group;              // DN of a groupOfNames; members see every domain
    std::string domain_base;                 // where domains (account containers) and their admin groups live
    std::string domain_filter = "(objectClass=organizationalUnit)";
    std::string domain_admin_filter = "(&(objectClass=groupOfNames)(member=%D))";
    std::string domain_admin_group = "cn=admins";  // the RDN of a domain's admins group (a group found, named otherwise, is not one)
    std::string account_filter = "(objectClass=tallyAccount)";
    std::string policy_base;                 // empty: no policies page
    std::string policy_filter = "(objectClass=tallyPolicy)";
    std::string monitor_base = "cn=Monitor";

    // sessions and logins
    int max_sessions = 10000;
    int session_idle = 900;           // seconds
    int session_lifetime = 28800;     // seconds
    int login_free_failures = 3;
    int login_max_delay = 60;         // seconds
    int page_size = 50;
};

struct OptionInfo {
    std::string name, default_value, help;
};

/* parse_web_config - errors "LINE: message"; empty on success (out set) */
std::vector<std::string> parse_web_config(const std::string &text, WebConfig &out);

/* load_web_config - a file; errors "FILE:LINE: message" */
std::optional<WebConfig> load_web_config(const std::string &path, std::vector<std::string> &errors);

/* web_option_table - every option, its value in c, and its meaning */
std::vector<OptionInfo> web_option_table(const WebConfig &c = WebConfig{});

}  // namespace tally::web
