// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* web_console.cpp - the tally-web fixture and a cookie-keeping HTTP client */
#include "web_console.h"

#include "http_raw.h"

#include <signal.h>
#include <strings.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tally::test {

std::string web_identity_ldif() {
    return R"(
dn: cn=tally-web,ou=services,dc=example,dc=com
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: tally-web
description: tally-web: finds the DN of a login (reads only)
userPassword: secret
)";
}

std::string web_domain_admin_ldif(const std::string &domain, const std::string &uid) {
    std::string ou = "ou=" + domain + "," + kSuffix;
    return "\ndn: uid=" + uid + "," + ou + "\nobjectClass: inetOrgPerson\nuid: " + uid + "\ncn: " + uid +
           " (admin of " + domain + ")\nsn: " + uid + "\nmail: postmaster@" + domain +
           "\nuserPassword: secret\n\ndn: cn=admins," + ou + "\nobjectClass: groupOfNames\ncn: admins\nmember: uid=" +
           uid + "," + ou + "\n";
}

std::string web_directory_ldif() {
    std::string s = web_identity_ldif() + R"(
dn: ou=example.org,dc=example,dc=com
objectClass: organizationalUnit
ou: example.org
)" + web_domain_admin_ldif("example.org", "orgadmin");
    for (const char *uid : {"oliver", "olga"})
        s += std::string("\ndn: uid=") + uid + ",ou=example.org,dc=example,dc=com\nobjectClass: inetOrgPerson\n"
             "objectClass: tallyAccount\nuid: " + uid + "\ncn: " + uid + "\nsn: " + uid + "\nmail: " + uid +
             "@example.org\nuserPassword: secret\n";
    s += R"(
dn: uid=mallory,ou=example.org,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: mallory
cn: <script>alert("mallory")</script>
sn: mallory
mail: mallory@example.org
userPassword: secret
)";
    return s;
}

std::string web_monitor_database() {
    return std::string("database monitor\naccess to dn.subtree=\"cn=Monitor\"\n    by dn.exact=\"") + kAdminDn +
           "\" read\n    by * none\n";
}

SlapdOptions web_directory() {
    SlapdOptions o;
    o.overlay_config = "tally-window hour\ntally-window day\ntally-timezone UTC\ntally-history 5\n"
                       "tally-default-limit day messages 100\n";
    o.data_ldif = web_directory_ldif();
    o.extra_databases = web_monitor_database();
    return o;
}

std::string WebConsole::binary() { return TALLY_WEB_PATH; }

WebConsole::WebConsole(const Slapd &slapd, const std::string &extra_config) {
    char tmpl[] = "/tmp/tally-web-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = free_loopback_port();
    std::ofstream(dir_ + "/password") << kPassword << "\n";
    conf_ = dir_ + "/tally-web.conf";
    std::ofstream(conf_) << "listen = 127.0.0.1:" << port_ << "\n"
                         << "log_target = stderr\n"
                         << "ldap_uri = " << slapd.uri() << "\n"
                         << "ldap_timeout_ms = 3000\n"
                         << "search_bind_dn = " << kWebSearchDn << "\n"
                         << "search_password_file = " << dir_ << "/password\n"
                         << "login_base = " << kSuffix << "\n"
                         << "operator_group = cn=tally-admins,ou=groups," << kSuffix << "\n"
                         << "domain_base = " << kSuffix << "\n"
                         << "policy_base = ou=policies," << kSuffix << "\n"
                         << extra_config;
}

WebConsole::~WebConsole() {
    stop();
    const char *keep = std::getenv("TALLY_KEEP_TMP");
    if (!keep || std::string(keep) != "1") {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

void WebConsole::set(const std::string &key, const std::string &value) { set_config_option(conf_, key, value); }

void WebConsole::start() {
    if (process_.pid() > 0) return;
    SpawnOptions so;
    so.log = dir_ + "/web.log";
    process_ = Process::adopt(start_server("tally-web", {binary(), "-c", conf_}, so, std::chrono::seconds(10),
                                           [this] { return loopback_port_open(port_); }));
}

void WebConsole::stop() { process_.stop(std::chrono::seconds(15)); }

void WebConsole::reload() {
    if (process_.pid() > 0) kill(process_.pid(), SIGHUP);
}

std::string WebConsole::log() const { return read_text(dir_ + "/web.log"); }

std::string WebAnswer::header(const std::string &name) const {
    std::size_t end = raw.find("\r\n\r\n");
    std::size_t pos = raw.find("\r\n");
    while (pos != std::string::npos && pos < end) {
        std::size_t next = raw.find("\r\n", pos + 2);
        std::string line = raw.substr(pos + 2, next - pos - 2);
        auto colon = line.find(':');
        if (colon != std::string::npos && strcasecmp(line.substr(0, colon).c_str(), name.c_str()) == 0) {
            std::string v = line.substr(colon + 1);
            return v.substr(v.find_first_not_of(' ') == std::string::npos ? v.size() : v.find_first_not_of(' '));
        }
        pos = next;
    }
    return "";
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>> &fields) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const auto &[k, v] : fields) {
        if (!out.empty()) out += '&';
        for (const std::string *s : {&k, &v}) {
            for (unsigned char ch : *s) {
                if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.') out += static_cast<char>(ch);
                else {
                    out += '%';
                    out += hex[ch >> 4];
                    out += hex[ch & 15];
                }
            }
            if (s == &k) out += '=';
        }
    }
    return out;
}

WebAnswer WebClient::send(const std::string &raw) {
    WebAnswer a;
    a.raw = http_raw(port_, raw);
    a.status = http_status(a.raw);
    a.body = http_body(a.raw);
    // cookies: every Set-Cookie line
    std::size_t end = a.raw.find("\r\n\r\n"), pos = 0;
    while ((pos = a.raw.find("\r\nSet-Cookie: ", pos)) != std::string::npos && pos < end) {
        pos += 14;
        std::string c = a.raw.substr(pos, a.raw.find("\r\n", pos) - pos);
        auto eq = c.find('='), semi = c.find(';');
        std::string name = c.substr(0, eq), value = c.substr(eq + 1, semi - eq - 1);
        if (value.empty() || c.find("Max-Age=0") != std::string::npos) cookies_.erase(name);
        else cookies_[name] = value;
    }
    auto token = [&](const std::string &field) -> std::string {
        std::string marker = "name=\"" + field + "\" value=\"";
        auto at = a.body.find(marker);
        if (at == std::string::npos) return "";
        at += marker.size();
        return a.body.substr(at, a.body.find('"', at) - at);
    };
    if (auto t = token("csrf"); !t.empty()) csrf_ = t;
    if (auto t = token("token"); !t.empty()) login_token_ = t;
    return a;
}

namespace {
std::string cookie_header(const std::map<std::string, std::string> &cookies) {
    if (cookies.empty()) return "";
    std::string h = "Cookie: ";
    bool first = true;
    for (const auto &[k, v] : cookies) {
        h += (first ? "" : "; ") + k + "=" + v;
        first = false;
    }
    return h + "\r\n";
}
}  // namespace

WebAnswer WebClient::get(const std::string &path) {
    return send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + cookie_header(cookies_) +
                "\r\n");
}

WebAnswer WebClient::post(const std::string &path, const std::vector<std::pair<std::string, std::string>> &fields) {
    std::string body = form_encode(fields);
    return send("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + cookie_header(cookies_) +
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n\r\n" + body);
}

WebAnswer WebClient::login(const std::string &login, const std::string &password) {
    get("/login");
    return post("/login", {{"token", login_token_}, {"login", login}, {"password", password}});
}

}  // namespace tally::test
