// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// End to end: a real Postfix authenticating with SASL, tallyd, and slapd
// with the overlay. What a user of the submission service sees.
#include "http_raw.h"
#include "ldap_ops.h"
#include "mail_stack.h"
#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <signal.h>
#include <unistd.h>

using namespace tally;
using namespace tally::test;

namespace {

/* options - the stack with these tallyd options, and mallory (no account) among the SASL users */
MailStackOptions options(std::vector<std::pair<std::string, std::string>> milter = {}) {
    MailStackOptions o;
    o.milter = std::move(milter);
    o.logins.push_back("mallory");
    return o;
}


std::string day_usage(client::Connection &c, const std::string &dn) {
    auto v = ldap_values(c, dn, "tallyUsage");
    return v.empty() ? "" : v[0];
}

}  // namespace

TEST_CASE("e2e: mail within the limit is delivered and counted, the next is refused with 550", "[e2e][milter]") {
    MailStack stack(options());
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);

    auto r1 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"a@elsewhere.org", "b@elsewhere.org"}));
    INFO(r1.transcript << "\nmilter log:\n" << m.log());
    CHECK(r1.code == 250);
    auto r2 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
    CHECK(r2.code == 250);
    CHECK(p.wait_delivered(2, 20000));
    std::string before = day_usage(*root, kAlice);
    CHECK_THAT(before, Catch::Contains("messages=2 recipients=3 "));

    auto r3 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
    CHECK(r3.code == 550);
    CHECK(r3.stage == "eom");
    CHECK_THAT(r3.reply, Catch::Contains("550 5.7.1 daily limit of 2 messages reached"));
    // nothing charged for the refused message (the value only gains the first-hit mark)
    CHECK_THAT(day_usage(*root, kAlice), Catch::StartsWith(before + " limitHit="));
    CHECK(p.delivered_count() == 2);
}

TEST_CASE("e2e: the first refusal of a period alerts once, by command and by mail through the local MTA",
          "[e2e][milter][alert]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"1"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    const std::string alerts = m.dir() + "/alerts.txt";
    m.set("alert_command", "echo \"$TALLY_LOGIN $TALLY_WINDOW $TALLY_METRIC $TALLY_LIMIT $TALLY_USAGE "
                           "$TALLY_REFUSED $TALLY_QUEUE_ID\" >> " + alerts);
    m.start();
    Postfix p(postfix_for(m, {"alice"}));
    // The alert mail goes through this Postfix's sendmail (pickup, not smtpd), to smtp-sink.
    m.set("alert_mail_to", "postmaster@example.net");
    m.set("alert_mail_from", "tally@example.com");
    m.set("alert_sendmail", "/usr/sbin/sendmail -C " + p.dir() + "/etc");
    m.reload();

    REQUIRE(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    for (int i = 0; i < 3; ++i) {
        auto r = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
        INFO(r.transcript << "\nmilter log:\n" << m.log());
        CHECK(r.code == 550);
    }
    // 1 accepted message + 1 alert mail; the alert runs after the reply, so wait for it.
    REQUIRE(p.wait_delivered(2, 20000));
    std::string lines = wait_for_text(alerts);
    INFO("milter log:\n" << m.log());
    CHECK_THAT(lines, Catch::StartsWith("alice@example.com day messages 1 1 yes "));
    CHECK(std::count(lines.begin(), lines.end(), '\n') == 1);  // once, not per refusal
    auto delivered = p.delivered_messages();
    REQUIRE(delivered.size() == 2);
    int alert_mails = 0;
    for (const auto &d : delivered)
        if (d.find("Subject: Tally: alice@example.com reached the daily limit of 1 messages") != std::string::npos)
            ++alert_mails;
    CHECK(alert_mails == 1);
    std::string log = m.log();
    CHECK_THAT(log, Catch::Contains("limit reached: account=\"" + kAlice + "\""));
    CHECK_THAT(log, Catch::Contains("alert mail to <postmaster@example.net> for \"" + kAlice + "\" sent"));
    // The counter carries the mark that keeps further refusals quiet.
    CHECK_THAT(day_usage(*root, kAlice), Catch::Contains("messages=1 ") && Catch::Contains(" limitHit="));
    // One more refusal after a while still alerts nobody.
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 550);
    usleep(500000);
    lines = read_text(alerts);
    CHECK(std::count(lines.begin(), lines.end(), '\n') == 1);
}

TEST_CASE("e2e: a warning threshold alerts once by mail through the local MTA, and every message is delivered",
          "[e2e][milter][alert][warning]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"5"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyWarning", {"day messages 60%"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    const std::string alerts = m.dir() + "/alerts.txt";
    m.set("alert_command", "echo \"$TALLY_ALERT $TALLY_THRESHOLD $TALLY_LIMIT $TALLY_QUEUE_ID\" >> " + alerts);
    m.start();
    Postfix p(postfix_for(m, {"alice"}));
    m.set("alert_mail_to", "postmaster@example.net");
    m.set("alert_mail_from", "tally@example.com");
    m.set("alert_sendmail", "/usr/sbin/sendmail -C " + p.dir() + "/etc");
    m.reload();

    for (int i = 0; i < 4; ++i) {
        auto r = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
        INFO(r.transcript << "\nmilter log:\n" << m.log());
        CHECK(r.code == 250);  // a warning refuses nothing
    }
    // 4 messages + 1 alert mail (60% of 5 is 3: the third message warned)
    REQUIRE(p.wait_delivered(5, 20000));
    std::string lines = wait_for_text(alerts);
    INFO("milter log:\n" << m.log());
    CHECK_THAT(lines, Catch::StartsWith("warning 3 5 "));
    CHECK(std::count(lines.begin(), lines.end(), '\n') == 1);
    int alert_mails = 0;
    for (const auto &d : p.delivered_messages())
        if (d.find("Subject: Tally: alice@example.com reached the daily warning threshold of 3 messages") !=
            std::string::npos) {
            ++alert_mails;
            CHECK_THAT(d, Catch::Contains("The message was accepted"));
        }
    CHECK(alert_mails == 1);
    CHECK_THAT(day_usage(*root, kAlice), Catch::Contains("messages=4 ") && Catch::Contains(" warned="));
    // The fifth passes quietly; the sixth is refused and raises the limit alert, not another warning.
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 550);
    for (int i = 0; i < 100 && std::count(lines.begin(), lines.end(), '\n') < 2; ++i) {
        lines = read_text(alerts);
        usleep(100000);
    }
    CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
    CHECK_THAT(lines, Catch::Contains("\nlimit  5 "));
}

TEST_CASE("e2e: blocked account 554, foreign sender 553", "[e2e][milter]") {
    MailStack stack(options());
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    auto blocked = smtp_send(p.smtp_port(), submission("dora", "dora@example.com"));
    INFO(blocked.transcript << "\nmilter log:\n" << m.log());
    CHECK(blocked.code == 554);
    CHECK_THAT(blocked.reply, Catch::Contains("554 5.7.1 Account suspended, call 555-0100"));
    auto foreign = smtp_send(p.smtp_port(), submission("alice", "ceo@example.com"));
    CHECK(foreign.code == 553);
    CHECK_THAT(foreign.reply, Catch::Contains("5.7.1 Sender address <ceo@example.com> is not owned by alice@example.com"));
    auto unknown = smtp_send(p.smtp_port(), submission("mallory", "mallory@example.com"));
    CHECK(unknown.code == 451);  // not in the directory: tempfail by default
    CHECK(p.delivered_count() == 0);
}

TEST_CASE("e2e: slapd stopped means 451, mail flows again when it is back", "[e2e][milter]") {
    MailStack stack(options({{"cache_ttl", "0"}}));
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    s.stop();
    auto down = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
    INFO(down.transcript << "\nmilter log:\n" << m.log());
    CHECK(down.code == 451);
    CHECK_THAT(down.reply, Catch::Contains("4.7.1"));
    s.start();
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    CHECK(p.wait_delivered(2, 20000));
    auto root = s.connect();
    CHECK_THAT(day_usage(*root, kAlice), Catch::Contains("messages=2 "));
}

TEST_CASE("e2e: hostile SASL logins never match another account", "[e2e][milter][hostile]") {
    MailStackOptions o;
    o.milter = {{"on_unknown_account", "reject"}};
    o.logins = {"*", "alice)(uid=*", "*)(|(uid=*", std::string(200, 'a')};
    MailStack stack(o);
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    for (const auto &login : o.logins) {
        auto r = smtp_send(p.smtp_port(), submission(login, "alice@example.com"));
        INFO(login << "\n" << r.transcript << "\nmilter log:\n" << m.log());
        CHECK(r.code == 550);  // unknown account, refused by policy: never alice's
    }
    CHECK(p.delivered_count() == 0);
    auto root = s.connect();
    CHECK(ldap_values(*root, kAlice, "tallyUsage").empty());
    CHECK_THAT(m.log(), !Catch::Contains("verdict=accept"));
}

TEST_CASE("e2e: several recipients are counted, and the usage header can be added", "[e2e][milter]") {
    MailStack stack(options({{"usage_header", "yes"}}));
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    auto r = smtp_send(p.smtp_port(), submission("bob", "bob@example.com", {"x@elsewhere.org", "y@elsewhere.org", "z@elsewhere.org"}));
    INFO(r.transcript << "\nmilter log:\n" << m.log());
    REQUIRE(r.code == 250);
    REQUIRE(p.wait_delivered(1, 20000));
    auto delivered = p.delivered_messages();
    REQUIRE(delivered.size() == 1);
    CHECK_THAT(delivered[0], Catch::Contains("X-Tally-Usage: day 1/unlimited messages"));
    auto root = s.connect();
    auto v = ldap_values(*root, kBob, "tallyUsage");
    REQUIRE(v.size() == 1);
    CHECK_THAT(v[0], Catch::Contains("messages=1 recipients=3 "));
}

TEST_CASE("e2e: the sandbox starts, answers, and stop ends exactly what start started", "[e2e][sandbox]") {
    TempDir d;
    std::string dir = d.path + "/sandbox";
    REQUIRE(run_command({TALLY_SANDBOX_BIN, "start", dir}, d.path + "/start.out") == 0);
    std::string env = read_text(dir + "/env.sh");
    CHECK_THAT(env, Catch::Contains("TALLY_SMTP_PORT="));
    CHECK_THAT(env, Catch::Contains("TALLY_LDAP_URI=ldap://127.0.0.1:"));
    pid_t supervisor = 0;
    std::ifstream(dir + "/sandbox.pid") >> supervisor;
    REQUIRE(supervisor > 0);
    // the processes it started: children of the supervisor
    std::string children = read_text("/proc/" + std::to_string(supervisor) + "/task/" + std::to_string(supervisor) +
                                     "/children");
    CHECK_FALSE(children.empty());
    CHECK(run_command({TALLY_SANDBOX_BIN, "send", dir, "alice", "alice@example.com", "x@elsewhere.org"},
                      d.path + "/send1.out") == 0);
    CHECK(run_command({TALLY_SANDBOX_BIN, "send", dir, "dora", "dora@example.com", "x@elsewhere.org"},
                      d.path + "/send2.out") == 1);
    CHECK_THAT(read_text(d.path + "/send2.out"), Catch::StartsWith("554 5.7.1"));
    // what scripts/demo shows: tallyd's /metrics on the URL env.sh names,
    // and slapd's cn=Monitor, which the operator may read
    auto var = [&](const std::string &name) {
        auto at = env.find(name + "=");
        if (at == std::string::npos) return std::string();
        at += name.size() + 1;
        return env.substr(at, env.find('\n', at) - at);
    };
    REQUIRE_THAT(var("TALLY_METRICS_URL"), Catch::StartsWith("http://127.0.0.1:"));
    CHECK(run_command({"/usr/bin/curl", "-sS", "--max-time", "5", var("TALLY_METRICS_URL")}, d.path + "/metrics.out") == 0);
    CHECK_THAT(read_text(d.path + "/metrics.out"),
               Catch::Contains("tally_messages_total{door=\"milter\",reason=\"none\",verdict=\"accepted\"} 1\n") &&
                   Catch::Contains(
                       "tally_messages_total{door=\"milter\",reason=\"blocked\",verdict=\"refused\"} 1\n"));
    CHECK(run_command({"/usr/bin/ldapsearch", "-LLL", "-x", "-H", var("TALLY_LDAP_URI"), "-D", kAdminDn, "-w", kPassword, "-b",
                       "cn=Monitor", "-s", "base", "1.1"},
                      d.path + "/monitor.out") == 0);
    CHECK_THAT(read_text(d.path + "/monitor.out"), Catch::Contains("dn: cn=Monitor"));
    CHECK(run_command({TALLY_SANDBOX_BIN, "stop", dir}, d.path + "/stop.out") == 0);
    std::istringstream kids(children);
    for (pid_t pid; kids >> pid;) CHECK_FALSE(process_alive(pid));  // every server it started is gone
    CHECK_FALSE(process_alive(supervisor));
    CHECK(run_command({TALLY_SANDBOX_BIN, "status", dir}, d.path + "/status.out") == 3);
}

TEST_CASE("e2e: after mail through Postfix, /metrics and the overlay's cn=Monitor entry show what happened",
          "[e2e][milter][metrics][monitor]") {
    const int port = free_loopback_port();
    MailStackOptions o = options({{"metrics_listen", "127.0.0.1:" + std::to_string(port)}});
    o.slapd.extra_databases = "database monitor\naccess to dn.subtree=\"cn=Monitor\" by dn.exact=\"" +
                              std::string(kRootDn) + "\" read by * none\n";
    MailStack stack(o);
    Postfix &p = stack.postfix;
    auto root = stack.slapd.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);

    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"a@elsewhere.org", "b@elsewhere.org"}))
              .code == 250);
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 550);
    CHECK(smtp_send(p.smtp_port(), submission("mallory", "mallory@example.com")).code == 451);
    CHECK(p.wait_delivered(2, 20000));

    std::string answer =
        http_raw(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    REQUIRE(http_status(answer) == 200);
    std::string text = http_body(answer);
    INFO(text);
    auto sample = [&](const std::string &series) {
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);)
            if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
        return -1.0;
    };
    CHECK(sample("tally_messages_total{door=\"milter\",reason=\"none\",verdict=\"accepted\"}") == 2);
    CHECK(sample("tally_messages_total{door=\"milter\",reason=\"quota\",verdict=\"refused\"}") == 1);
    CHECK(sample("tally_messages_total{door=\"milter\",reason=\"unknown_account\",verdict=\"deferred\"}") == 1);
    CHECK(sample("tally_messages_total{door=\"policy\",reason=\"none\",verdict=\"accepted\"}") == 0);
    CHECK(sample("tally_end_of_data_seconds_count{door=\"milter\"}") == 4);  // mallory is deferred there too

    // the overlay counted the same: two charges accepted, one refused
    client::Search q;
    q.base = "cn=Monitor";
    q.filter = "(objectClass=tallyMonitor)";
    q.attributes = {"tallyMonChargesAccepted", "tallyMonChargesRefused", "tallyMonFirstLimitHits"};
    client::SearchResult r = client::search(*root, q);
    REQUIRE(r.entries.size() == 1);
    CHECK(r.entries[0].first("tallyMonChargesAccepted") == "2");
    CHECK(r.entries[0].first("tallyMonChargesRefused") == "1");
    CHECK(r.entries[0].first("tallyMonFirstLimitHits") == "1");
}
