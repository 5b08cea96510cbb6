// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* milter_process.cpp - start and stop tallyd for tests */
#include "milter_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef TALLY_MILTER_PATH
#error "TALLY_MILTER_PATH must be defined"
#endif

namespace tally::test {

namespace {

/* unix_socket_open - the configuration names a unix: socket (set("socket", "unix:PATH"))
 * and something accepts connections on it */
bool unix_socket_open(const std::string &conf) {
    std::istringstream in(read_text(conf));
    std::string path;
    for (std::string line; std::getline(in, line);)
        if (line.rfind("socket = unix:", 0) == 0) path = line.substr(14);
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) return false;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

}  // namespace

SlapdOptions milter_test_directory() {
    SlapdOptions o;
    o.overlay_config = "tally-window day\ntally-timezone UTC\n";
    o.data_ldif = R"(
dn: uid=dora,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: tallyAccount
uid: dora
cn: Dora
sn: Dora
mail: dora@example.com
tallySendAs: info@example.com
tallyBlocked: TRUE
tallyBlockedText: Account suspended, call 555-0100
userPassword: secret
)";
    return o;
}

SlapdOptions hosted_test_directory() {
    SlapdOptions o = milter_test_directory();
    o.data_ldif += R"(
dn: ou=domains,dc=example,dc=com
objectClass: organizationalUnit
ou: domains

dn: ou=example.com,ou=domains,dc=example,dc=com
objectClass: organizationalUnit
objectClass: domainRelatedObject
ou: example.com
associatedDomain: example.com

dn: ou=example.net,ou=domains,dc=example,dc=com
objectClass: organizationalUnit
objectClass: domainRelatedObject
ou: example.net
associatedDomain: EXAMPLE.NET

dn: cn=exempt,dc=example,dc=com
objectClass: tallyExemptList
cn: exempt
tallyExemptRecipient: postmaster@
tallyExemptRecipient: abuse@
tallyExemptRecipient: *@elsewhere.org
tallyExemptRecipient: )(objectClass=*
)";
    return o;
}

std::string MilterProcess::binary() { return TALLY_MILTER_PATH; }

MilterProcess::MilterProcess(const Slapd &slapd, const std::string &extra_config) {
    char tmpl[] = "/tmp/tallyd-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = free_loopback_port();
    policy_port_ = free_loopback_port();
    std::ofstream(dir_ + "/password") << kPassword << "\n";
    conf_ = dir_ + "/tallyd.conf";
    std::ofstream(conf_) << "socket = " << socket() << "\n"
                         << "foreground = yes\n"
                         << "log_target = stderr\n"
                         << "log_level = debug\n"
                         << "ldap_uri = " << slapd.uri() << "\n"
                         << "ldap_bind_dn = " << kServiceDn << "\n"
                         << "ldap_password_file = " << dir_ << "/password\n"
                         << "ldap_timeout = 1s\n"
                         << "ldap_connect_timeout = 500ms\n"
                         << "search_base = ou=people,dc=example,dc=com\n"
                         << extra_config;
}

MilterProcess::~MilterProcess() {
    stop();
    const char *keep = std::getenv("TALLY_KEEP_TMP");
    if (!keep || std::string(keep) != "1") {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

void MilterProcess::set(const std::string &key, const std::string &value) { set_config_option(conf_, key, value); }

void MilterProcess::start() {
    if (process_.pid() > 0) return;
    SpawnOptions so;
    so.log = dir_ + "/milter.log";
    auto listening = [this] {
        return loopback_port_open(port_) || unix_socket_open(conf_) || loopback_port_open(policy_port_);
    };
    process_ = Process::adopt(
        start_server("tallyd", {binary_, "-c", conf_, "-f"}, so, std::chrono::seconds(5), listening));
}

void MilterProcess::stop() { process_.stop(std::chrono::seconds(15)); }

void MilterProcess::kill_hard() { process_.kill_hard(); }

void MilterProcess::reload() {
    if (process_.pid() > 0) kill(process_.pid(), SIGUSR1);
}

std::string MilterProcess::log() const { return read_text(dir_ + "/milter.log"); }

}  // namespace tally::test
