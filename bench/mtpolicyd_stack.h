// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* mtpolicyd_stack.h - a private mtpolicyd (Debian 2.05) with memcached and MariaDB, on loopback
 *
 * DESCRIPTION
 *   The incumbent the benchmarks compare Tally with, configured as in the
 *   case study: an Ldap connection to the same slapd as Tally,
 *   LdapUserConfig with the filter
 *     (&(uid=%s)(objectClass=mailRecipient)(objectclass=mtpolicyd)(mailUserStatus=active))
 *   and config_fields for the message and recipient limits, two Quota
 *   plugins (count threshold 500, count_rcpt threshold 5000,
 *   time_pattern "%Y-%m-%d", uc_threshold from LDAP), Accounting on
 *   sasl_username, memcached as session cache, MariaDB for the accounting
 *   table.
 *
 *   Everything lives under one mkdtemp directory: a MariaDB data directory
 *   made by mariadb-install-db and a mariadbd on a loopback port
 *   (--skip-grant-tables), a memcached on a loopback port, and mtpolicyd
 *   in the foreground (-f) with its own configuration and pid file. Each
 *   daemon runs in its own process group; on destruction exactly those
 *   groups are ended (SIGTERM, then SIGKILL) and the directory is removed
 *   (TALLY_KEEP_TMP=1 keeps it).
 *
 * BUGS
 *   mtpolicyd's Quota reads the counter, Accounting adds to it later in the
 *   same request: two requests of one account at once can both pass the
 *   check. That is the incumbent's behaviour, which the exactness
 *   workload measures; it is not a flaw of this harness.
 */
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tally::bench {

struct MtPolicydOptions {
    int ldap_port = 389;                       // slapd on 127.0.0.1
    std::string bind_dn, password;             // the LDAP connection's identity
    std::string basedn = "ou=people,dc=example,dc=com";
    int min_servers = 8, max_servers = 48;     // Net::Server prefork: one child per policy connection
};

class MtPolicydStack {
public:
    /* MtPolicydStack - start MariaDB, memcached and mtpolicyd; throws with the logs on failure */
    explicit MtPolicydStack(MtPolicydOptions o);
    ~MtPolicydStack();
    MtPolicydStack(const MtPolicydStack &) = delete;
    MtPolicydStack &operator=(const MtPolicydStack &) = delete;

    int policy_port() const { return policy_port_; }
    /* set_fsync - MariaDB's innodb_flush_log_at_trx_commit: 1 (fsync per commit) or 2 (write, sync once a second) */
    void set_fsync(bool on);
    /* sql - run statements with the mariadb client in the accounting database; its output */
    std::string sql(const std::string &statements) const;
    /* load_rows - LOAD DATA of a tab-separated file into acct_sasl_username (key, time, counts) */
    void load_rows(const std::string &tsv_path) const;
    /* restart_mtpolicyd - restart only mtpolicyd, pointed at another slapd port */
    void restart_mtpolicyd(int ldap_port);
    /* daemons - name and PID of each daemon this stack needs (their children count as theirs) */
    std::vector<std::pair<std::string, pid_t>> daemons() const;
    const std::string &dir() const { return dir_; }
    std::string log() const;

private:
    void start_mariadb();
    void start_memcached();
    void start_mtpolicyd();
    void write_config();
    void shutdown() noexcept;

    MtPolicydOptions opt_;
    std::string dir_;
    int sql_port_ = 0, memcached_port_ = 0, policy_port_ = 0;
    pid_t mariadb_pid_ = -1, memcached_pid_ = -1, mtpolicyd_pid_ = -1;
};

}  // namespace tally::bench
