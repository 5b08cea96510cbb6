// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally-sandbox - the whole product on loopback, for users, tests and benchmarks
 *
 * SYNOPSIS
 *   tally-sandbox start DIR      start slapd + tallyd + Postfix (SASL) + smtp-sink
 *   tally-sandbox status DIR     say whether it runs; print its variables
 *   tally-sandbox stop DIR       end exactly what start started
 *   tally-sandbox send DIR LOGIN FROM TO[,TO...] [BYTES]
 *                                one authenticated message; prints the SMTP reply
 *
 * DESCRIPTION
 *   start forks a supervisor that owns the three fixtures the tests use
 *   (slapd with the overlay and a sample directory, tallyd, a private
 *   Postfix with Cyrus SASL relaying to smtp-sink), waits until each really
 *   answers, writes DIR/env.sh (shell-sourceable: URIs, bind DNs, password
 *   file, SMTP port, tallyd's /metrics URL, sample users, binaries) and
 *   prints it. slapd has a monitor database (cn=Monitor, readable by the
 *   administrator and the operator: the overlay's counters, tallyctl
 *   stats); tallyd serves /metrics on a free 127.0.0.1 port. stop sends
 *   SIGTERM to the supervisor, whose fixtures stop their processes by PID
 *   and remove their temporary directories.
 *
 *   Sample directory (dc=example,dc=com), every password "secret":
 *     example.com (ou=people): alice, bob (ordinary), tina (2 messages a day),
 *       dora (blocked), sam (may also send as sales@example.com),
 *       pete (premium policy), sara (standard policy)
 *     example.org (ou=example.org, its domain entry names the standard policy):
 *       oliver, olga
 *       and orgadmin, their administrator (cn=admins,ou=example.org)
 *     cn=tally-milter,ou=services (the milter's identity), uid=operator
 *     (member of cn=tally-admins: may reset counters)
 *   The web console (tally-web) runs too: TALLY_WEB_URL in env.sh; log in
 *   as alice (a user), orgadmin (example.org) or operator (everything).
 */
#include "mail_stack.h"
#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"
#include "tallyctl_run.h"
#include "web_console.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

const char *kUsers[] = {"alice", "bob", "tina", "dora", "sam", "pete", "sara", "oliver", "olga"};

std::string person(const std::string &uid, const std::string &ou, const std::string &mail, const std::string &extra) {
    return "\ndn: uid=" + uid + "," + ou + ",dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\n"
           "uid: " + uid + "\ncn: " + uid + "\nsn: " + uid + "\nmail: " + mail + "\nuserPassword: secret\n" + extra;
}

std::string demo_ldif() {
    std::string s = R"(
dn: cn=premium,ou=policies,dc=example,dc=com
objectClass: tallyPolicy
cn: premium
description: premium class of service
tallyMessagesPerHour: 1000
tallyMessagesPerDay: 10000
tallyRecipientsPerDay: unlimited

dn: cn=standard,ou=policies,dc=example,dc=com
objectClass: tallyPolicy
cn: standard
description: standard class of service
tallyMessagesPerHour: 50
tallyMessagesPerDay: 200
tallyRecipientsPerDay: 1000

dn: ou=example.org,dc=example,dc=com
objectClass: organizationalUnit
objectClass: tallyAccount
ou: example.org
tallyPolicyDN: cn=standard,ou=policies,dc=example,dc=com
)";
    s += person("tina", "ou=people", "tina@example.com", "tallyMessagesPerDay: 2\n");
    s += person("dora", "ou=people", "dora@example.com",
                "tallyBlocked: TRUE\ntallyBlockedText: This account is not allowed to send emails (suspended)\n");
    s += person("sam", "ou=people", "sam@example.com", "tallySendAs: sales@example.com\n");
    s += person("pete", "ou=people", "pete@example.com", "tallyPolicyDN: cn=premium,ou=policies,dc=example,dc=com\n");
    s += person("sara", "ou=people", "sara@example.com", "tallyPolicyDN: cn=standard,ou=policies,dc=example,dc=com\n");
    s += person("oliver", "ou=example.org", "oliver@example.org", "");
    s += person("olga", "ou=example.org", "olga@example.org", "");
    // the web console: its search identity, and example.org's administrator
    s += web_identity_ldif() + web_domain_admin_ldif("example.org", "orgadmin");
    return s;
}

std::string env_text(const Slapd &s, const MilterProcess &m, const Postfix &p, const WebConsole &w,
                     const std::string &dir, int metrics_port) {
    std::ostringstream e;
    e << "# tally sandbox (" << dir << "): source this file\n"
      << "TALLY_LDAP_URI=" << s.uri() << "\n"
      << "TALLY_LDAP_BASE=dc=example,dc=com\n"
      << "TALLY_ROOT_DN=" << kRootDn << "\n"
      << "TALLY_SERVICE_DN=" << kServiceDn << "\n"
      << "TALLY_OPERATOR_DN=" << kAdminDn << "\n"
      << "TALLY_PASSWORD_FILE=" << dir << "/password\n"
      << "TALLY_SMTP_PORT=" << p.smtp_port() << "\n"
      << "TALLY_SINK_PORT=" << p.sink_port() << "\n"
      << "TALLY_MILTER_SOCKET=" << m.socket() << "\n"
      << "TALLY_METRICS_URL=http://127.0.0.1:" << metrics_port << "/metrics\n"
      << "TALLY_USERS=\"alice bob tina dora sam pete sara oliver olga\"\n"
      << "TALLY_USER_PASSWORD=secret\n"
      << "TALLY_SLAPD_LOG=" << s.dir() << "/slapd.log\n"
      << "TALLY_MILTER_LOG=" << m.dir() << "/milter.log\n"
      << "TALLY_POSTFIX_LOG=" << p.dir() << "/log/maillog\n"
      << "TALLY_WEB_URL=" << w.url() << "\n"
      << "TALLY_WEB_LOG=" << w.log_path() << "\n"
      << "TALLY_WEB_LOGINS=\"alice (a user) orgadmin (admin of example.org) operator (every domain)\"\n"
      << "TALLY_TALLYCTL=" << tallyctl_binary() << "\n"
      << "TALLY_SANDBOX=" << TALLY_SANDBOX_PATH << "\n"
      << "export TALLY_LDAP_URI TALLY_LDAP_BASE TALLY_ROOT_DN TALLY_SERVICE_DN TALLY_OPERATOR_DN TALLY_PASSWORD_FILE "
         "TALLY_SMTP_PORT TALLY_SINK_PORT TALLY_MILTER_SOCKET TALLY_METRICS_URL TALLY_USERS TALLY_USER_PASSWORD TALLY_SLAPD_LOG "
         "TALLY_MILTER_LOG TALLY_POSTFIX_LOG TALLY_WEB_URL TALLY_WEB_LOG TALLY_WEB_LOGINS TALLY_TALLYCTL TALLY_SANDBOX\n";
    return e.str();
}

pid_t read_pid(const std::string &dir) {
    pid_t pid = 0;
    std::ifstream(dir + "/sandbox.pid") >> pid;
    return pid;
}

/* supervise - the supervisor: build everything, report, wait for SIGTERM */
int supervise(const std::string &dir, int ready_fd) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto report = [&](const std::string &msg) {
        (void)!write(ready_fd, msg.data(), msg.size());
        close(ready_fd);
    };
    try {
        MailStackOptions o;
        o.slapd = SlapdOptions{};  // the demo directory below, not the tests' one
        o.slapd.overlay_config = "tally-window hour\ntally-window day\ntally-history 7\n"
                                 "tally-default-limit hour messages 100\ntally-default-limit day messages 500\n";
        o.slapd.data_ldif = demo_ldif();
        o.slapd.controllable_clock = false;
        // cn=Monitor, where the overlay's counters are: the administrator and
        // the operator read it, nobody else sees it
        o.slapd.extra_databases = std::string("database monitor\n") + "access to dn.subtree=\"cn=Monitor\"\n" +
                                  "    by dn.exact=\"" + kRootDn + "\" read\n" + "    by dn.exact=\"" + kAdminDn +
                                  "\" read\n" + "    by * none\n";
        const int metrics_port = free_loopback_port();
        o.milter = {{"sender_attributes", "mail tallySendAs"},
                    {"usage_header", "yes"},
                    {"search_base", "dc=example,dc=com"},  // both hosted domains
                    {"log_level", "info"},
                    // every message looks its account up afresh: a block made in the web console counts at once
                    {"cache_ttl", "0"},
                    {"metrics_listen", "127.0.0.1:" + std::to_string(metrics_port)},
                    // Alerts: the first refusal of a period per account and window appends a line here.
                    {"alert_command", "echo \"$(date -u +%FT%TZ) $TALLY_LOGIN reached the $TALLY_WINDOW limit of "
                                      "$TALLY_LIMIT $TALLY_METRIC ($TALLY_PERIOD)\" >> " + dir + "/alerts.log"}};
        o.logins.assign(std::begin(kUsers), std::end(kUsers));
        MailStack stack(o);
        // the web console; TALLY_SANDBOX_WEB_IDLE shortens its session idle timeout (the browser test)
        const char *idle = std::getenv("TALLY_SANDBOX_WEB_IDLE");
        WebConsole web(stack.slapd, std::string("session_idle = ") + (idle ? idle : "900") + "\n");
        web.start();
        std::ofstream(dir + "/password") << kPassword;  // no newline: ldapsearch -y sends the whole file
        chmod((dir + "/password").c_str(), 0600);
        std::string env = env_text(stack.slapd, stack.milter, stack.postfix, web, dir, metrics_port);
        std::ofstream(dir + "/env.sh") << env;
        report("OK\n" + env);
        int sig = 0;
        sigwait(&set, &sig);
        std::fprintf(stderr, "tally-sandbox: stopping on signal %d\n", sig);
        // the fixtures' destructors stop Postfix, the milter and slapd by PID
    } catch (const std::exception &e) {
        report(std::string("ERROR ") + e.what());
        return 1;
    }
    return 0;
}

int cmd_start(const std::string &dir) {
    mkdir(dir.c_str(), 0755);
    if (pid_t old = read_pid(dir); process_alive(old)) {
        std::fprintf(stderr, "tally-sandbox: already running in %s (pid %d); stop it first\n", dir.c_str(), old);
        return 1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return 1;  // servers started later must not hold it open
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        setsid();
        if (fork() > 0) _exit(0);  // the supervisor is not the starter's child
        std::ofstream(dir + "/sandbox.pid") << getpid() << "\n";
        FILE *log = std::freopen((dir + "/sandbox.log").c_str(), "a", stderr);
        (void)log;
        std::freopen("/dev/null", "r", stdin);
        std::freopen("/dev/null", "w", stdout);
        _exit(supervise(dir, fds[1]));
    }
    close(fds[1]);
    waitpid(pid, nullptr, 0);
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) answer.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    if (answer.rfind("OK\n", 0) != 0) {
        std::fprintf(stderr, "tally-sandbox: start failed: %s\n(see %s/sandbox.log)\n",
                     answer.empty() ? "the supervisor died" : answer.c_str(), dir.c_str());
        return 1;
    }
    std::fputs(answer.c_str() + 3, stdout);
    return 0;
}

int cmd_stop(const std::string &dir) {
    pid_t pid = read_pid(dir);
    if (!process_alive(pid)) {
        std::fprintf(stderr, "tally-sandbox: nothing runs in %s\n", dir.c_str());
        std::remove((dir + "/sandbox.pid").c_str());
        return 0;
    }
    // Not our child (start detached it): watched through /proc, not waited for.
    kill(pid, SIGTERM);
    if (!wait_gone(pid, std::chrono::seconds(30))) {
        std::fprintf(stderr, "tally-sandbox: supervisor %d did not stop within 30 s\n", pid);
        return 1;
    }
    std::remove((dir + "/sandbox.pid").c_str());
    std::remove((dir + "/env.sh").c_str());
    std::printf("tally-sandbox: stopped\n");
    return 0;
}

int cmd_status(const std::string &dir) {
    pid_t pid = read_pid(dir);
    if (!process_alive(pid)) {
        std::printf("tally-sandbox: not running in %s\n", dir.c_str());
        return 3;
    }
    std::printf("tally-sandbox: running (supervisor pid %d)\n%s", pid, read_text(dir + "/env.sh").c_str());
    return 0;
}

int cmd_send(const std::string &dir, int argc, char **argv) {
    if (argc < 3) return 2;
    std::string env = read_text(dir + "/env.sh");
    auto at = env.find("TALLY_SMTP_PORT=");
    if (at == std::string::npos) {
        std::fprintf(stderr, "tally-sandbox: no sandbox in %s\n", dir.c_str());
        return 1;
    }
    int port = std::stoi(env.substr(at + 16));
    SmtpMessage m;
    m.login = argv[0];
    m.password = "secret";
    m.from = argv[1];
    std::stringstream to(argv[2]);
    for (std::string r; std::getline(to, r, ',');) m.to.push_back(r);
    std::size_t bytes = argc > 3 ? static_cast<std::size_t>(std::stoul(argv[3])) : 0;
    m.body = "Subject: sandbox test from " + m.login + "\r\n\r\n";
    while (m.body.size() < bytes) m.body += "The quick brown fox jumps over the lazy dog 0123456789.\r\n";
    SmtpResult r = smtp_send(port, m);
    std::printf("%s\n", r.reply.c_str());
    return r.code == 250 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: tally-sandbox start|status|stop DIR\n"
                             "       tally-sandbox send DIR LOGIN FROM TO[,TO...] [BYTES]\n");
        return 2;
    }
    std::string cmd = argv[1], dir = argv[2];
    if (cmd == "start") return cmd_start(dir);
    if (cmd == "stop") return cmd_stop(dir);
    if (cmd == "status") return cmd_status(dir);
    if (cmd == "send") return cmd_send(dir, argc - 3, argv + 3);
    std::fprintf(stderr, "tally-sandbox: unknown command %s\n", cmd.c_str());
    return 2;
}
