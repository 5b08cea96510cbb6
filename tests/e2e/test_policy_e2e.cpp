// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// End to end through the policy protocol: a real Postfix asking tallyd's
// policy door with check_policy_service (smtpd_recipient_restrictions and
// smtpd_end_of_data_restrictions, as mtpolicyd's users configure it), slapd
// with the overlay. No milter in this Postfix.
#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <signal.h>
#include <thread>
#include <unistd.h>

using namespace tally;
using namespace tally::test;

namespace {

const std::string kAliceDn = "uid=alice,ou=people,dc=example,dc=com";

/* policy_daemon - the daemon serving only the policy door */
void policy_only(MilterProcess &m) {
    m.set("policy_listen", m.policy_address());
    m.set("socket", "none");
}

/* postfix_asking - Postfix with check_policy_service in both places mtpolicyd's users put it */
PostfixOptions postfix_asking(const MilterProcess &m, const std::string &extra = "") {
    PostfixOptions o;
    o.users = {{"alice", "secret"}, {"bob", "secret"}, {"dora", "secret"}};
    std::string service = "check_policy_service " + m.policy_address();
    o.extra_main_cf = "smtpd_recipient_restrictions = permit_mynetworks, " + service +
                      ", permit_sasl_authenticated, reject\n"
                      "smtpd_end_of_data_restrictions = " + service + "\n" + extra;
    return o;
}


std::string usage_of(Slapd &s, const std::string &dn) {
    auto root = s.connect();
    auto v = ldap_values(*root, dn, "tallyUsage");
    return v.empty() ? "" : v[0];
}

std::size_t count_of(const std::string &text, const std::string &what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("e2e policy: delivered and counted within the limit, 550 at it, 554 blocked, 553 foreign sender",
          "[e2e][policy]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    policy_only(m);
    m.start();
    Postfix p(postfix_asking(m));

    auto r1 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"a@elsewhere.org", "b@elsewhere.org"}));
    INFO(r1.transcript << "\ndaemon log:\n" << m.log() << "\nmaillog:\n" << p.maillog());
    CHECK(r1.code == 250);
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    CHECK(p.wait_delivered(2, 20000));
    std::string before = usage_of(s, kAliceDn);
    CHECK_THAT(before, Catch::Contains("messages=2 recipients=3 "));

    auto r3 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
    CHECK(r3.code == 550);
    CHECK(r3.stage == "eom");
    // Postfix puts its own words between the code and the text of a policy answer
    CHECK_THAT(r3.reply, Catch::StartsWith("550 5.7.1 ") && Catch::EndsWith("daily limit of 2 messages reached"));
    CHECK_THAT(usage_of(s, kAliceDn), Catch::StartsWith(before));  // nothing charged for it

    auto blocked = smtp_send(p.smtp_port(), submission("dora", "dora@example.com"));
    CHECK(blocked.code == 554);
    CHECK(blocked.stage == "rcpt");
    CHECK_THAT(blocked.reply, Catch::Contains("554 5.7.1") && Catch::Contains("Account suspended, call 555-0100"));
    auto foreign = smtp_send(p.smtp_port(), submission("bob", "ceo@example.com"));
    CHECK(foreign.code == 553);
    CHECK(foreign.stage == "rcpt");
    CHECK_THAT(foreign.reply, Catch::Contains("553 5.7.1") && Catch::Contains("not owned by bob@example.com"));
    CHECK(usage_of(s, "uid=dora,ou=people,dc=example,dc=com").empty());
    CHECK(usage_of(s, "uid=bob,ou=people,dc=example,dc=com").empty());
    CHECK(p.delivered_count() == 2);
    // Postfix keeps its policy connection open and sends request after request
    // on it (one connection was the test's own check that the daemon listens)
    std::string log = m.log();
    CHECK(count_of(log, "state=END-OF-MESSAGE") == 3);
    CHECK(2 * (count_of(log, "opened (") - 1) < count_of(log, " state="));
}

TEST_CASE("e2e policy: directory down defers (DEFER_IF_PERMIT), mail flows again without a restart, a retry counts once",
          "[e2e][policy][faults]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "cache_ttl = 0\n");
    policy_only(m);
    m.start();
    Postfix hub(postfix_asking(m));
    // An MTA in front that queues and retries, relaying with alice's credentials.
    PostfixOptions fo = front_mta_for(hub.smtp_port(), "alice");
    Postfix front(fo);

    s.stop();
    auto direct = smtp_send(hub.smtp_port(), submission("alice", "alice@example.com"));
    CHECK(direct.code == 450);  // DEFER_IF_PERMIT: Postfix's defer_code
    CHECK_THAT(direct.reply, Catch::StartsWith("450 4.7.1 ") && Catch::Contains("Service temporarily unavailable"));
    REQUIRE(smtp_send(front.smtp_port(), submission("alice", "alice@example.com")).code == 250);  // queued in front
    bool deferred = false;
    for (int i = 0; i < 200 && !deferred; ++i) {
        deferred = front.maillog().find("status=deferred") != std::string::npos;
        if (!deferred) usleep(100000);
    }
    INFO("front maillog:\n" << front.maillog() << "\ndaemon log:\n" << m.log());
    REQUIRE(deferred);
    CHECK(hub.delivered_count() == 0);

    s.start();  // the daemon reconnects by itself
    CHECK(smtp_send(hub.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    run_command({"/usr/sbin/postqueue", "-c", front.dir() + "/etc", "-f"}, front.dir() + "/postqueue.log");
    CHECK(hub.wait_delivered(2, 30000));
    usleep(2000000);  // time for any further retry
    CHECK(hub.delivered_count() == 2);
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=2 "));
}

TEST_CASE("e2e policy: Postfix's policy timeout when the daemon hangs, and recovery", "[e2e][policy][faults]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    policy_only(m);
    m.start();
    Postfix p(postfix_asking(m, "smtpd_policy_service_timeout = 3s\n"));
    REQUIRE(smtp_send(p.smtp_port(), submission("alice", "alice@example.com")).code == 250);
    kill(m.pid(), SIGSTOP);
    auto hung = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
    kill(m.pid(), SIGCONT);
    INFO(hung.transcript << "\nmaillog:\n" << p.maillog());
    CHECK(hung.code == 451);  // smtpd_policy_service_default_action: mail waits, nothing passes unasked
    CHECK_THAT(p.maillog(), Catch::Contains("problem talking to server 127.0.0.1:" + std::to_string(m.policy_port()) +
                                            ": Connection timed out"));
    // Postfix tries again on a fresh connection; the daemon answers again
    auto after = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
    INFO(after.transcript << "\ndaemon log:\n" << m.log());
    CHECK(after.code == 250);
}

TEST_CASE("e2e policy exact: 200 messages from 16 sessions at a limit of 50", "[e2e][policy][exact]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"50"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    policy_only(m);
    m.set("log_level", "info");
    m.start();
    Postfix p(postfix_asking(m));
    std::atomic<int> accepted{0}, refused{0}, other{0};
    std::vector<std::thread> sessions;
    for (int t = 0; t < 16; ++t) {
        sessions.emplace_back([&, t] {
            for (int i = t; i < 200; i += 16) {
                auto r = smtp_send(p.smtp_port(), submission("alice", "alice@example.com"));
                if (r.code == 250) ++accepted;
                else if (r.code == 550) ++refused;
                else ++other;
            }
        });
    }
    for (auto &t : sessions) t.join();
    INFO("daemon log:\n" << m.log().substr(0, 4000));
    CHECK(other == 0);
    CHECK(accepted == 50);
    CHECK(refused == 150);
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=50 "));
    CHECK(p.wait_delivered(50, 30000));
}
