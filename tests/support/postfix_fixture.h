// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* postfix_fixture.h - a private Postfix on loopback, and an SMTP client, for end-to-end tests
 *
 * DESCRIPTION
 *   Postfix writes a complete configuration (main.cf, master.cf, Cyrus
 *   sasldb SASL) under a fresh mkdtemp directory, starts smtp-sink as the
 *   relay host that captures every delivered message to a file, starts the
 *   instance with `postfix -c DIR/etc start` and waits until its smtpd
 *   greets with 220. Instances are independent (own queue, data, log and
 *   ports), so several may run at once. On destruction it ends exactly the
 *   processes it started (the master's process group by the PID in the
 *   master's pid file, smtp-sink by PID), reaps them and removes the
 *   directory, even when a test fails. TALLY_KEEP_TMP=1 keeps the directory.
 *
 *   The daemonized master is re-parented when its launcher exits. So that
 *   it and its children can be reaped (and not linger as zombies under an
 *   init that does not reap, as on the test VM), the first Postfix makes
 *   the test process a child subreaper (prctl PR_SET_CHILD_SUBREAPER).
 *
 *   SASL users live in a sasldb under realm "example.com" (kSaslRealm),
 *   with smtpd_sasl_local_domain = example.com: clients log in as "alice"
 *   or "alice@example.com"; a milter sees {auth_authen} as "alice@example.com".
 *   Relaying is allowed to SASL-authenticated clients only (mynetworks
 *   holds no loopback address); extra_main_cf may override any of this.
 *
 *   smtp_send() is a plain-socket SMTP client: EHLO, AUTH PLAIN, MAIL,
 *   RCPT, DATA, QUIT, stopping at the first refusal.
 */
#pragma once

#include "process.h"

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace tally::test {

inline constexpr const char *kSaslRealm = "example.com";
inline constexpr const char *kPostfixHostname = "tally-test.localdomain";

struct PostfixOptions {
    std::string milter;                       // e.g. "inet:127.0.0.1:12345"; empty: no smtpd_milters
    std::string milter_default_action = "tempfail";
    int milter_command_timeout = 30;          // seconds: milter_command_timeout and milter_content_timeout
    std::vector<std::pair<std::string, std::string>> users;  // SASL (login, password), realm kSaslRealm
    std::string extra_main_cf;                // appended to main.cf (later lines win)
};

class Postfix {
public:
    /* Postfix - write the configuration, start smtp-sink and Postfix, wait for the 220 greeting;
     * throws std::runtime_error with the log tails when anything fails (and cleans up) */
    explicit Postfix(PostfixOptions o);
    /* ~Postfix - stop Postfix and smtp-sink, reap them, remove the directory */
    ~Postfix();
    Postfix(const Postfix &) = delete;
    Postfix &operator=(const Postfix &) = delete;

    int smtp_port() const { return smtp_port_; }
    int sink_port() const { return sink_port_; }
    std::string dir() const { return dir_; }
    pid_t master_pid() const { return master_pid_; }  // -1 once stopped
    /* maillog - the instance's log text (maillog_file) */
    std::string maillog() const;
    /* delivered_count - messages smtp-sink has received completely so far */
    int delivered_count() const;
    /* delivered_messages - those messages as smtp-sink dumped them (its X-* and Received
     * lines, then header and body as Postfix relayed them), oldest first */
    std::vector<std::string> delivered_messages() const;
    /* wait_delivered - poll until smtp-sink has >= n messages; false on timeout */
    bool wait_delivered(int n, int timeout_ms) const;

private:
    void write_config();
    void create_users();
    void start_sink();
    void start_postfix();
    void wait_smtpd();
    void shutdown() noexcept;
    std::vector<std::string> complete_dumps() const;
    std::string failure(const std::string &what) const;

    PostfixOptions opt_;
    std::string dir_;
    int smtp_port_ = 0;
    int sink_port_ = 0;
    pid_t sink_pid_ = -1;
    pid_t master_pid_ = -1;
};

struct SmtpResult {
    int code = 0;           // final reply code: 250 after end of data, or the refusing reply's code; 0: no reply
    std::string reply;      // that reply's full text (lines joined by "\n"), or the I/O error
    std::string stage;      // where it ended: "connect","ehlo","xclient","auth","mail","rcpt","data","eom"
    std::vector<std::string> rcpt_replies;  // one reply per RCPT sent, in order
    std::string transcript; // "C: ..." / "S: ..." lines of the whole session, for failure messages
};

struct SmtpMessage {
    std::string login, password;  // empty login: no AUTH
    std::string from;
    std::vector<std::string> to;
    std::string body;             // header + body ("\n" or "\r\n"); empty: minimal headers and one line
    std::string helo = "client.example.net";
    std::string xclient_login;    // set: XCLIENT LOGIN=name after EHLO (the client must be in
                                  // smtpd_authorized_xclient_hosts), then EHLO again; no AUTH
    int timeout_ms = 60000;       // per reply
};

/* submission - an authenticated message from login (password "secret", the
 * sample users') with envelope sender from to the recipients */
SmtpMessage submission(const std::string &login, const std::string &from,
                       std::vector<std::string> to = {"rcpt@elsewhere.org"});

/* front_mta_for - options of a Postfix in front of another that queues and
 * retries quickly (backoff 1-2 s), relaying every message to 127.0.0.1:port
 * authenticated as login, as a host relaying through a submission service would */
PostfixOptions front_mta_for(int port, const std::string &login);

/* smtp_send - one SMTP session to 127.0.0.1:port: EHLO, AUTH PLAIN if login is set,
 * MAIL FROM, RCPT TO each (continues while at least one is accepted), DATA with
 * dot-stuffing, QUIT; stops at the first refusal (4xx/5xx) and reports it */
SmtpResult smtp_send(int port, const SmtpMessage &m);

}  // namespace tally::test
