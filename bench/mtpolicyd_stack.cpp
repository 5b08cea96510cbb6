// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* mtpolicyd_stack.cpp - start and stop a private mtpolicyd, memcached and MariaDB */
#include "mtpolicyd_stack.h"

#include "slapd_fixture.h"  // free_loopback_port, run_command, read_text, spawn, stop_group

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tally::test::free_loopback_port;
using tally::test::read_text;
using tally::test::run_command;

namespace tally::bench {

namespace {

/* spawn_group - argv in its own process group (stop_group ends a prefork server's children too) */
pid_t spawn_group(const std::vector<std::string> &argv, const std::string &log) {
    tally::test::SpawnOptions o;
    o.log = log;
    o.own_group = true;
    return tally::test::spawn(argv, o);
}

/* stop - stop_group, the PID forgotten */
void stop(pid_t &pid) {
    tally::test::stop_group(pid);
    pid = -1;
}

}  // namespace

MtPolicydStack::MtPolicydStack(MtPolicydOptions o) : opt_(std::move(o)) {
    char tmpl[] = "/tmp/tally-mtpolicyd-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    try {
        start_mariadb();
        start_memcached();
        start_mtpolicyd();
    } catch (...) {
        shutdown();
        throw;
    }
}

MtPolicydStack::~MtPolicydStack() { shutdown(); }

void MtPolicydStack::start_mariadb() {
    fs::create_directories(dir_ + "/mariadb");
    if (run_command({"/usr/bin/mariadb-install-db", "--no-defaults", "--datadir=" + dir_ + "/mariadb", "--user=root",
                     "--auth-root-authentication-method=normal", "--skip-test-db"},
                    dir_ + "/mariadb-install.log") != 0)
        throw std::runtime_error("mariadb-install-db failed: " + read_text(dir_ + "/mariadb-install.log"));
    sql_port_ = free_loopback_port();
    mariadb_pid_ = spawn_group({"/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + dir_ + "/mariadb",
                                "--socket=" + dir_ + "/mysql.sock", "--port=" + std::to_string(sql_port_),
                                "--bind-address=127.0.0.1", "--user=root", "--pid-file=" + dir_ + "/mariadbd.pid",
                                "--skip-grant-tables", "--skip-name-resolve", "--innodb-buffer-pool-size=256M",
                                "--max-connections=500", "--log-error=" + dir_ + "/mariadbd.err"},
                               dir_ + "/mariadbd.out");
    if (!tally::test::wait_listening(sql_port_, mariadb_pid_, 60s)) {
        stop(mariadb_pid_);  // also after a timeout: nothing outlives the stack
        throw std::runtime_error("mariadbd did not start: " + read_text(dir_ + "/mariadbd.err"));
    }
    // The table as mtpolicyd's Accounting creates it for MySQL, made here so history can be loaded first.
    sql("CREATE DATABASE IF NOT EXISTS mtpolicyd;");
    sql("CREATE TABLE IF NOT EXISTS acct_sasl_username ("
        " `id` int(11) NOT NULL AUTO_INCREMENT, `key` VARCHAR(255) NOT NULL, `time` VARCHAR(255) NOT NULL,"
        " `count` INT UNSIGNED NOT NULL, `count_rcpt` INT UNSIGNED NOT NULL, `size` INT UNSIGNED NOT NULL,"
        " `size_rcpt` INT UNSIGNED NOT NULL, PRIMARY KEY (`id`), UNIQUE KEY `time_key` (`key`, `time`),"
        " KEY(`key`), KEY(`time`)) ENGINE=InnoDB DEFAULT CHARSET=latin1;");
}

void MtPolicydStack::start_memcached() {
    memcached_port_ = free_loopback_port();
    memcached_pid_ = spawn_group({"/usr/bin/memcached", "-u", "root", "-l", "127.0.0.1", "-p",
                                  std::to_string(memcached_port_), "-U", "0", "-m", "64", "-c", "1024"},
                                 dir_ + "/memcached.log");
    if (!tally::test::wait_listening(memcached_port_, memcached_pid_, 20s)) {
        stop(memcached_pid_);  // also after a timeout: nothing outlives the stack
        throw std::runtime_error("memcached did not start: " + read_text(dir_ + "/memcached.log"));
    }
}

void MtPolicydStack::write_config() {
    std::ostringstream c;
    c << "# mtpolicyd.conf - the case study's submission policy, written by bench/mtpolicyd_stack\n"
      << "pid_file=\"" << dir_ << "/mtpolicyd.pid\"\n"
      << "log_level=" << (std::getenv("TALLY_BENCH_MTPOLICYD_LOGLEVEL") ? std::getenv("TALLY_BENCH_MTPOLICYD_LOGLEVEL") : "1") << "\n"
      << "host=127.0.0.1\n"
      << "port=\"127.0.0.1:" << policy_port_ << "\"\n"
      << "min_servers=" << opt_.min_servers << "\nmin_spare_servers=4\nmax_spare_servers=" << opt_.max_servers - 1
      << "\nmax_servers=" << opt_.max_servers << "\nmax_requests=1000\n"
      << "keepalive_timeout=60\nmax_keepalive=0\nrequest_timeout=20\n\n"
      << "<Connection ldap>\n  module = \"Ldap\"\n  host = \"127.0.0.1\"\n  port = " << opt_.ldap_port
      << "\n  starttls = 0\n"
      << (opt_.bind_dn.empty() ? "" : "  binddn = \"" + opt_.bind_dn + "\"\n  password = \"" + opt_.password + "\"\n")
      << "</Connection>\n"
      << "<Connection memcached>\n  module = \"Memcached\"\n  servers = \"127.0.0.1:" << memcached_port_
      << "\"\n</Connection>\n"
      << "<Connection db>\n  module = \"Sql\"\n  dsn = \"dbi:mysql:database=mtpolicyd;host=127.0.0.1;port="
      << sql_port_ << "\"\n  user = \"mtpolicyd\"\n  password = \"secret\"\n</Connection>\n"
      << "<SessionCache>\n  module = \"Memcached\"\n  expire = \"300\"\n  lock_wait=50\n  lock_max_retry=50\n"
         "  lock_timeout=10\n</SessionCache>\n\n"
      << "<VirtualHost " << policy_port_ << ">\n  name=\"submission\"\n"
      << "  <Plugin user-config>\n    module = \"LdapUserConfig\"\n    basedn = \"" << opt_.basedn << "\"\n"
      << "    filter = \"(&(uid=%s)(objectClass=mailRecipient)(objectclass=mtpolicyd)(mailUserStatus=active))\"\n"
      << "    filter_field = \"sasl_username\"\n"
      << "    config_fields = \"mtpolicydMailMessageLimit,mtpolicydMailRecipientLimit\"\n  </Plugin>\n"
      << "  <Plugin quota-count>\n    module = \"Quota\"\n    field = \"sasl_username\"\n    metric = \"count\"\n"
      << "    threshold = 500\n    uc_threshold = \"mtpolicydMailMessageLimit\"\n    time_pattern = \"%Y-%m-%d\"\n"
      << "    action = \"reject daily message limit reached\"\n  </Plugin>\n"
      << "  <Plugin quota-count-rcpt>\n    module = \"Quota\"\n    field = \"sasl_username\"\n"
      << "    metric = \"count_rcpt\"\n    threshold = 5000\n    uc_threshold = \"mtpolicydMailRecipientLimit\"\n"
      << "    time_pattern = \"%Y-%m-%d\"\n    action = \"reject daily recipient limit reached\"\n  </Plugin>\n"
      << "  <Plugin accounting>\n    module = \"Accounting\"\n    fields = \"sasl_username\"\n"
      << "    time_pattern = \"%Y-%m-%d\"\n  </Plugin>\n</VirtualHost>\n";
    std::ofstream(dir_ + "/mtpolicyd.conf") << c.str();
}

void MtPolicydStack::start_mtpolicyd() {
    policy_port_ = free_loopback_port();
    write_config();
    // TZ=UTC: the time_pattern keys follow the same calendar as the overlay's tally-timezone UTC.
    mtpolicyd_pid_ = spawn_group({"/usr/bin/env", "TZ=UTC", "/usr/bin/mtpolicyd", "-f", "-c", dir_ + "/mtpolicyd.conf"},
                                 dir_ + "/mtpolicyd.log");
    if (!tally::test::wait_listening(policy_port_, mtpolicyd_pid_, 60s)) {
        stop(mtpolicyd_pid_);  // also after a timeout: nothing outlives the stack
        throw std::runtime_error("mtpolicyd did not start: " + read_text(dir_ + "/mtpolicyd.log"));
    }
}

void MtPolicydStack::restart_mtpolicyd(int ldap_port) {
    stop(mtpolicyd_pid_);
    std::error_code ec;
    fs::remove(dir_ + "/mtpolicyd.pid", ec);
    opt_.ldap_port = ldap_port;
    start_mtpolicyd();
}

void MtPolicydStack::set_fsync(bool on) {
    sql(std::string("SET GLOBAL innodb_flush_log_at_trx_commit = ") + (on ? "1" : "2") + ";");
}

std::string MtPolicydStack::sql(const std::string &statements) const {
    std::string out = dir_ + "/sql.out";
    std::error_code ec;
    fs::remove(out, ec);
    if (run_command({"/usr/bin/mariadb", "--no-defaults", "-S", dir_ + "/mysql.sock", "-N", "-B", "-e",
                     "CREATE DATABASE IF NOT EXISTS mtpolicyd; USE mtpolicyd; " + statements},
                    out) != 0)
        throw std::runtime_error("mariadb: " + read_text(out));
    return read_text(out);
}

void MtPolicydStack::load_rows(const std::string &tsv_path) const {
    sql("SET unique_checks=0; LOAD DATA INFILE '" + tsv_path +
        "' INTO TABLE acct_sasl_username (`key`, `time`, `count`, `count_rcpt`, `size`, `size_rcpt`);");
}

std::vector<std::pair<std::string, pid_t>> MtPolicydStack::daemons() const {
    return {{"mtpolicyd", mtpolicyd_pid_}, {"memcached", memcached_pid_}, {"mariadbd", mariadb_pid_}};
}

std::string MtPolicydStack::log() const {
    return read_text(dir_ + "/mtpolicyd.log") + read_text(dir_ + "/mariadbd.err");
}

void MtPolicydStack::shutdown() noexcept {
    try {
        stop(mtpolicyd_pid_);
        stop(memcached_pid_);
        stop(mariadb_pid_);
    } catch (...) {
    }
    const char *keep = std::getenv("TALLY_KEEP_TMP");
    if (!dir_.empty() && (!keep || std::string(keep) != "1")) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

}  // namespace tally::bench
