// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* milter_process.h - run the built tallyd against a test slapd
 *
 * DESCRIPTION
 *   Writes a tallyd.conf for a Slapd fixture (service identity,
 *   sample accounts under ou=people) plus any extra lines, starts
 *   tallyd in the foreground on a free loopback port (and, when the
 *   test sets policy_listen = policy_address(), a second one for the policy
 *   protocol), waits until it accepts connections, and ends exactly that
 *   process on destruction.
 */
#pragma once

#include "slapd_fixture.h"

#include <sys/types.h>

#include <string>

namespace tally::test {

/* milter_test_directory - the sample directory with windows (day, UTC) and
 * dora: blocked, with her own rejection text and an extra sender address */
SlapdOptions milter_test_directory();

/* hosted_test_directory - milter_test_directory with example.com and
 * example.net hosted (associatedDomain entries under ou=domains) and an
 * exemption list (cn=exempt) holding postmaster@, abuse@ and two values
 * that must never match: "*@elsewhere.org" and ")(objectClass=*" */
SlapdOptions hosted_test_directory();
/* kHostedOptions - tallyd's options for that directory */
inline constexpr const char *kHostedOptions =
    "hosted_domain_search_base = ou=domains,dc=example,dc=com\n"
    "exempt_search_base = dc=example,dc=com\n";

class MilterProcess {
public:
    MilterProcess(const Slapd &slapd, const std::string &extra_config = "");
    ~MilterProcess();
    MilterProcess(const MilterProcess &) = delete;
    MilterProcess &operator=(const MilterProcess &) = delete;

    /* set - give an option of the configuration file a value (replacing the
     * fixture's own line for it, or adding one); before start() */
    void set(const std::string &key, const std::string &value);

    /* set_binary - run this tallyd instead of the build's (an A/B benchmark); before start() */
    void set_binary(const std::string &path) { binary_ = path; }
    void start();
    void stop();                 // SIGTERM and wait
    void kill_hard();            // SIGKILL and wait
    void reload();               // SIGUSR1
    int port() const { return port_; }
    /* policy_address - a free loopback address for policy_listen (set it to use it) */
    std::string policy_address() const { return "inet:127.0.0.1:" + std::to_string(policy_port_); }
    int policy_port() const { return policy_port_; }
    pid_t pid() const { return process_.pid(); }  // -1 when not running
    std::string socket() const { return "inet:" + std::to_string(port_) + "@127.0.0.1"; }
    std::string log() const;
    const std::string &dir() const { return dir_; }
    const std::string &config_path() const { return conf_; }
    static std::string binary();

private:
    std::string dir_, conf_;
    int port_ = 0;
    int policy_port_ = 0;
    std::string binary_ = binary();
    Process process_;
};

}  // namespace tally::test
