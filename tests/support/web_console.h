// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* web_console.h - run the built tally-web against a test slapd, and talk to it like a browser
 *
 * DESCRIPTION
 *   web_directory() is the sample directory with what the console's tests
 *   need: a hosted domain ou=example.org whose admins group (cn=admins)
 *   holds orgadmin, its accounts oliver and olga, mallory (ou=example.org,
 *   whose cn is an HTML script), the read-only search identity kWebSearchDn,
 *   windows hour and day with a history, and cn=Monitor readable by the
 *   operator. WebConsole writes a tally-web.conf for a Slapd (plus any
 *   extra lines), starts tally-web on a free loopback port, waits until it
 *   accepts connections, and ends exactly that process on destruction.
 *   WebClient keeps cookies like a browser and sends requests through
 *   http_raw (one connection per request).
 */
#pragma once

#include "slapd_fixture.h"

#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tally::test {

inline constexpr const char *kWebSearchDn = "cn=tally-web,ou=services,dc=example,dc=com";
inline constexpr const char *kOrgAdminDn = "uid=orgadmin,ou=example.org,dc=example,dc=com";
inline constexpr const char *kOrgDomain = "ou=example.org,dc=example,dc=com";
inline const std::string kOliver = "uid=oliver,ou=example.org,dc=example,dc=com";
inline const std::string kOlga = "uid=olga,ou=example.org,dc=example,dc=com";
inline const std::string kMallory = "uid=mallory,ou=example.org,dc=example,dc=com";

/* web_identity_ldif - the console's search identity kWebSearchDn */
std::string web_identity_ldif();
/* web_domain_admin_ldif - uid (under ou=DOMAIN) and the group cn=admins,ou=DOMAIN holding it */
std::string web_domain_admin_ldif(const std::string &domain, const std::string &uid);
/* web_directory_ldif - the domain, its admins and accounts, the search identity (appended to a directory) */
std::string web_directory_ldif();
/* web_monitor_database - a cn=Monitor the operator (kAdminDn) reads */
std::string web_monitor_database();
/* web_directory - SlapdOptions with all of the above */
SlapdOptions web_directory();

class WebConsole {
public:
    explicit WebConsole(const Slapd &slapd, const std::string &extra_config = "");
    ~WebConsole();
    WebConsole(const WebConsole &) = delete;
    WebConsole &operator=(const WebConsole &) = delete;

    void set(const std::string &key, const std::string &value);  // before start()
    void start();
    void stop();
    void reload();  // SIGHUP
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    pid_t pid() const { return process_.pid(); }
    bool running() { return process_.running(); }
    std::string log() const;
    std::string log_path() const { return dir_ + "/web.log"; }
    const std::string &config_path() const { return conf_; }
    static std::string binary();

private:
    std::string dir_, conf_;
    int port_ = 0;
    Process process_;
};

/* WebAnswer - one HTTP answer */
struct WebAnswer {
    int status = 0;
    std::string raw, body;
    /* header - the first value of a header (case-insensitive name), or "" */
    std::string header(const std::string &name) const;
};

class WebClient {
public:
    explicit WebClient(int port) : port_(port) {}
    WebAnswer get(const std::string &path);
    WebAnswer post(const std::string &path, const std::vector<std::pair<std::string, std::string>> &fields);
    /* login - GET /login then POST it; the answer to the POST */
    WebAnswer login(const std::string &login, const std::string &password);
    /* csrf - the session's token, from the last page that had a form */
    const std::string &csrf() const { return csrf_; }
    std::map<std::string, std::string> &cookies() { return cookies_; }

private:
    WebAnswer send(const std::string &raw);
    int port_;
    std::map<std::string, std::string> cookies_;
    std::string csrf_, login_token_;
};

/* form_encode - application/x-www-form-urlencoded */
std::string form_encode(const std::vector<std::pair<std::string, std::string>> &fields);

}  // namespace tally::test
