// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* slapd_fixture.h - a real slapd with tally.so, on loopback, in a temp dir
 *
 * DESCRIPTION
 *   Integration tests (and later issues' tests) start their own slapd
 *   through this fixture: it writes slapd.conf, loads the data with
 *   slapadd, starts slapd (openldap_install.h: Debian's, or the release the
 *   test run names) in the foreground on a free loopback
 *   port, waits until it answers, and on destruction ends exactly that
 *   process (by PID) and removes the directory, even when a test fails.
 *   Time is controllable: set_clock() writes the file the overlay reads
 *   through TALLY_CLOCK_FILE. TALLY_KEEP_TMP=1 keeps the directory.
 */
#pragma once

#include "ldap_client.h"
#include "openldap_install.h"
#include "process.h"
#include "sample_directory.h"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tally::test {

struct SlapdOptions {
    std::string overlay_config;            // lines after "overlay tally"
    std::vector<std::string> schema_files; // further schema files to include
    std::string data_ldif;                 // appended to the sample directory
    bool with_overlay = true;
    bool nosync = true;
    std::string mdb_envflags;              // back-mdb envflags, e.g. "writemap"; empty: LMDB's default
    bool sample_acl = true;                // slapd-conf/acl-example.conf's rules
    std::string module_path;               // default: the built tally.so
    std::string extra_database_config;     // more lines for the mdb database
    bool controllable_clock = true;        // set TALLY_CLOCK_FILE (benchmarks turn it off)
    bool config_dir = false;               // convert to cn=config (slapd.d) and start with -F
    std::string extra_modules;             // e.g. "moduleload syncprov\n"
    bool load_sample = true;               // false: an empty database (a replica filled by syncrepl)
    bool ldapi = false;                    // also listen on ldapi:// (a socket in the temp dir)
    std::string extra_global_config;       // e.g. authz-regexp lines, before the databases
    /* extra_databases: more database sections after the main one, "@DIR@"
     * standing for the instance's directory (the directories they name are
     * created) */
    std::string extra_databases;
    bool tls = false;                      // a test CA and a certificate for 127.0.0.1: StartTLS and ldaps://
    /* config_template: a whole slapd.conf instead of the one built from the
     * options above, "@DIR@" standing for the instance's directory (every
     * "directory" it names is created); with_overlay, module_path and the
     * database options are then the template's business */
    std::string config_template;
    /* debug_level: slapd's -d (it logs to slapd.log in the instance's
     * directory). 256 (stats) lets tests read what slapd did; benchmarks may
     * run at "0", Debian's default olcLogLevel (none) */
    std::string debug_level = "256";
    /* openldap: which slapd, tools, schema and tally.so; default: the test
     * run's (openldap()) */
    std::optional<OpenLdapInstall> openldap;
};

/* source_path - a path inside the source tree */
std::string source_path(const std::string &relative);

/* read_text - a whole file */
std::string read_text(const std::string &path);

/* wait_for_text - the file's text once it has some, polled for up to timeout_ms
 * (what a process writes after it answered, e.g. an alert command's output);
 * empty if it stayed empty */
std::string wait_for_text(const std::string &path, int timeout_ms = 10000);

/* set_config_option - give a key of a "key = value" file a value (the line
 * replaced, or appended); the file is rewritten in place, so its owner and
 * mode stay */
void set_config_option(const std::string &path, const std::string &key, const std::string &value);

/* TempDir - a fresh directory under /tmp, removed at scope exit */
struct TempDir {
    std::string path;
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
};

class Slapd {
public:
    explicit Slapd(SlapdOptions o = {});
    /* Slapd(port, o) - on a given port, e.g. one a consumer's syncrepl already names */
    Slapd(int port, SlapdOptions o);
    ~Slapd();
    Slapd(const Slapd &) = delete;
    Slapd &operator=(const Slapd &) = delete;

    void start();
    void stop();          // SIGTERM, wait
    void kill_hard();     // SIGKILL, wait
    void set_clock(std::int64_t epoch_seconds);
    std::string uri() const { return "ldap://127.0.0.1:" + std::to_string(port_) + "/"; }
    /* ldapi_uri - the ldapi:// URL of the socket (with SlapdOptions::ldapi) */
    std::string ldapi_uri() const;
    /* ldaps_uri, ca_file - with SlapdOptions::tls */
    std::string ldaps_uri() const { return "ldaps://127.0.0.1:" + std::to_string(tls_port_) + "/"; }
    std::string ca_file() const { return dir_ + "/tls/ca.pem"; }
    const std::string &dir() const { return dir_; }
    /* keep_dir - leave the directory behind at the end (a test that caught
     * something rare keeps the evidence, as TALLY_KEEP_TMP=1 keeps all) */
    void keep_dir() { keep_dir_ = true; }
    const OpenLdapInstall &install() const { return *opt_.openldap; }
    std::string log() const;
    pid_t pid() const { return process_.pid(); }
    int port() const { return port_; }

    /* connect - a bound connection (dn empty: anonymous) */
    std::unique_ptr<client::Connection> connect(const std::string &dn = kRootDn,
                                                const std::string &pw = kRootPw) const;

private:
    SlapdOptions opt_;
    std::string dir_;
    bool keep_dir_ = false;
    int port_ = 0;
    int tls_port_ = 0;
    Process process_;
};

/* make_test_ca - a CA and a server certificate for 127.0.0.1 under dir
 * (ca.pem, server.pem, server.key), made with openssl */
void make_test_ca(const std::string &dir, const std::string &name = "Tally Test CA");

/* sample_ldif - the base directory every fixture starts with: the suffix,
 * ou=people, ou=policies, ou=services (the milter's identity), ou=groups
 * (tally-admins with the operator), and alice, bob, carol as accounts. */
std::string sample_ldif();

/* Small synchronous helpers over a connection. */
int ldap_modify(client::Connection &c, const std::string &dn, int op, const std::string &attr,
                const std::vector<std::string> &values, std::string *text = nullptr, bool relax = false);
int ldap_add(client::Connection &c, const std::string &dn,
             const std::vector<std::pair<std::string, std::vector<std::string>>> &attrs, std::string *text = nullptr);
std::vector<std::string> ldap_values(client::Connection &c, const std::string &dn, const std::string &attr);
/* joined - the values, one per line, for Contains checks */
std::string joined(const std::vector<std::string> &values);

/* charge_one - one charge; throws on transport errors */
client::ChargeOutcome charge_one(client::Connection &c, const std::string &dn, std::uint64_t rcpts = 1,
                                 std::uint64_t bytes = 100, const std::string &id = "", Mode mode = Mode::charge);

/* messages_used - the current usage of one window and metric as the overlay reports it */
std::uint64_t used(const ChargeResponse &r, const std::string &window, Metric m = Metric::messages);

}  // namespace tally::test
