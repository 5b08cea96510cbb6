// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyd's policy-protocol door (policy_listen) against the real slapd
// with the overlay, spoken to over loopback as Postfix's smtpd does: the
// decisions, exactness under concurrency, the directory going away, and every
// kind of bad input on the listener.
#include "milter_process.h"
#include "policy_conn.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

const std::string kAliceDn = "uid=alice,ou=people,dc=example,dc=com";


std::map<std::string, std::string> request(const std::string &state, const std::string &login,
                                           const std::string &sender, const std::string &qid, int rcpts = 1,
                                           long size = 1000) {
    std::map<std::string, std::string> r = {{"request", "smtpd_access_policy"},
                                            {"protocol_state", state},
                                            {"protocol_name", "ESMTP"},
                                            {"client_address", "192.0.2.10"},
                                            {"client_name", "client.example.net"},
                                            {"helo_name", "client.example.net"},
                                            {"sender", sender},
                                            {"recipient", state == "RCPT" ? "bob@example.org" : ""},
                                            {"sasl_method", login.empty() ? "" : "PLAIN"},
                                            {"sasl_username", login},
                                            {"instance", "inst." + qid},
                                            {"queue_id", qid}};
    if (state == "END-OF-MESSAGE") {
        r["size"] = std::to_string(size);
        r["recipient_count"] = std::to_string(rcpts);
    }
    return r;
}

std::string usage_of(Slapd &s, const std::string &dn) {
    auto root = s.connect();
    auto v = ldap_values(*root, dn, "tallyUsage");
    return v.empty() ? "" : v.front();
}

/* policy_daemon - the daemon with both doors, on free loopback ports */
void serve_policy(MilterProcess &m) { m.set("policy_listen", m.policy_address()); }

}  // namespace

TEST_CASE("policy: RCPT restrictions and END-OF-MESSAGE charges, one connection reused",
          "[integration][policy]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    serve_policy(m);
    m.start();
    PolicyConn c(m.policy_port());
    REQUIRE(c.ok());
    CHECK(c.ask(request("CONNECT", "", "", "")) == "DUNNO");
    CHECK(c.ask(request("RCPT", "alice", "alice@example.com", "Q1")) == "DUNNO");
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "Q1", 2, 1500)) == "DUNNO");
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "Q2", 1, 500)) == "DUNNO");
    // the third would pass the limit: refused, and not counted
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "Q3")) ==
          "550 5.7.1 daily limit of 2 messages reached");
    // a retry of an accepted message (same queue id) is counted once
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "Q2", 1, 500)) == "DUNNO");
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=2 recipients=3 bytes=2000 "));
    CHECK(c.ask(request("RCPT", "alice", "ceo@example.com", "Q4")) ==
          "553 5.7.1 Sender address <ceo@example.com> is not owned by alice");
    CHECK(c.ask(request("RCPT", "dora", "dora@example.com", "Q5")) == "554 5.7.1 Account suspended, call 555-0100");
    // dora's message, refused at RCPT, is refused again at its end and never charged
    CHECK(c.ask(request("END-OF-MESSAGE", "dora", "dora@example.com", "Q5")) ==
          "554 5.7.1 Account suspended, call 555-0100");
    CHECK(usage_of(s, "uid=dora,ou=people,dc=example,dc=com").empty());
    std::string log = m.log();
    CHECK_THAT(log, Catch::Contains("qid=Q1 login=\"alice\" client=192.0.2.10 from=<alice@example.com> rcpts=2 "
                                    "bytes=1500 verdict=accept reason=\"within limits\""));
    CHECK_THAT(log, Catch::Contains("qid=Q3") && Catch::Contains("state=END-OF-MESSAGE"));
    CHECK_THAT(log, Catch::Contains("reason=\"foreign sender\"") || Catch::Contains("not owned"));
}

TEST_CASE("policy: exact under concurrency: 200 messages from 16 connections at a limit of 50",
          "[integration][policy][exact]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"50"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    m.set("log_level", "info");
    serve_policy(m);
    m.start();
    std::atomic<int> accepted{0}, refused{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&, t] {
            PolicyConn c(m.policy_port());
            for (int i = t; i < 200; i += 16) {
                std::string a =
                    c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QX" + std::to_string(i)));
                if (a == "DUNNO") ++accepted;
                else if (a.starts_with("550 5.7.1")) ++refused;
                else ++other;
            }
        });
    }
    for (auto &t : threads) t.join();
    CHECK(other == 0);
    CHECK(accepted == 50);
    CHECK(refused == 150);
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=50 "));
}

TEST_CASE("policy: directory down defers, and it recovers without a restart", "[integration][policy]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "cache_ttl = 0\n");
    serve_policy(m);
    m.start();
    PolicyConn c(m.policy_port());
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QA")) == "DUNNO");
    s.stop();
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QB")) ==
          "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
    s.start();
    // Postfix retries the deferred message later: same queue id, counted once
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QB")) == "DUNNO");
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QB")) == "DUNNO");
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=2 "));
    CHECK_THAT(m.log(), Catch::Contains("directory unavailable"));
}

TEST_CASE("policy: a refused bind is logged as such and deferred", "[integration][policy]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    serve_policy(m);
    std::ofstream(m.dir() + "/password") << "wrong\n";
    m.start();
    PolicyConn c(m.policy_port());
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QR")) ==
          "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
    CHECK_THAT(m.log(), Catch::Contains("service identity refused: bind as"));
    CHECK_THAT(m.log(), !Catch::Contains("directory unavailable"));
}

TEST_CASE("policy: the policy door alone (socket = none)", "[integration][policy]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    serve_policy(m);
    m.set("socket", "none");
    m.start();
    CHECK_FALSE(loopback_port_open(m.port()));
    PolicyConn c(m.policy_port());
    CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QN")) == "DUNNO");
    auto t0 = std::chrono::steady_clock::now();
    m.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    CHECK_THAT(m.log(), Catch::Contains("tallyd stopped"));
}

TEST_CASE("policy: bad input closes the connection or defers, and the listener keeps serving",
          "[integration][policy][hostile]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    serve_policy(m);
    m.set("policy_request_timeout", "1");
    m.set("policy_max_connections", "20");
    m.start();
    SECTION("a line without name=value") {
        PolicyConn c(m.policy_port());
        c.send_raw("GET / HTTP/1.0\r\n\r\n");
        CHECK(c.closed_by_server());
        CHECK_THAT(m.log(), Catch::Contains("line without name=value; connection closed"));
    }
    SECTION("binary garbage") {
        PolicyConn c(m.policy_port());
        c.send_raw(std::string("request=\x00\x01\x02\xff\n", 13));
        CHECK(c.closed_by_server());
        CHECK_THAT(m.log(), Catch::Contains("control character"));
    }
    SECTION("an endless line") {
        PolicyConn c(m.policy_port());
        c.send_raw("sender=" + std::string(100000, 'a'));
        CHECK(c.closed_by_server());
        CHECK_THAT(m.log(), Catch::Contains("line longer than 4096 bytes"));
    }
    SECTION("too many attributes") {
        PolicyConn c(m.policy_port());
        std::string req;
        for (int i = 0; i < 200; ++i) req += "a" + std::to_string(i) + "=x\n";
        c.send_raw(req);
        CHECK(c.closed_by_server());
        CHECK_THAT(m.log(), Catch::Contains("more than 128 attributes"));
    }
    SECTION("a request that never ends") {
        PolicyConn c(m.policy_port());
        c.send_raw("request=smtpd_access_policy\nprotocol_state=RCPT\n");
        CHECK(c.closed_by_server(5000));
        CHECK_THAT(m.log(), Catch::Contains("request not whole within 1 s"));
    }
    SECTION("a missing attribute is deferred, the connection stays") {
        PolicyConn c(m.policy_port());
        auto r = request("END-OF-MESSAGE", "alice", "alice@example.com", "QM");
        r.erase("size");
        CHECK(c.ask(r) == "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
        CHECK_THAT(m.log(), Catch::Contains("attribute size missing"));
        CHECK(c.ask(request("END-OF-MESSAGE", "alice", "alice@example.com", "QM")) == "DUNNO");
    }
    SECTION("hostile names match no account") {
        PolicyConn c(m.policy_port());
        for (const char *login : {"*", "alice)(uid=*", "*)(|(uid=*", "<b>alice</b>"})
            CHECK(c.ask(request("END-OF-MESSAGE", login, "alice@example.com", "QH")).starts_with("DEFER_IF_PERMIT"));
        CHECK(usage_of(s, kAliceDn).empty());
    }
    SECTION("a flood of connections is bounded") {
        std::vector<std::unique_ptr<PolicyConn>> flood;
        for (int i = 0; i < 40; ++i) flood.push_back(std::make_unique<PolicyConn>(m.policy_port()));
        int closed = 0;
        for (auto &c : flood)
            if (c->closed_by_server(200)) ++closed;
        CHECK(closed >= 20);
        CHECK_THAT(m.log(), Catch::Contains("20 connections open (policy_max_connections)"));
        flood.clear();
    }
    // whatever happened above, the listener still answers
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    PolicyConn c(m.policy_port());
    CHECK(c.ask(request("RCPT", "alice", "alice@example.com", "QZ")) == "DUNNO");
}

TEST_CASE("policy: a peer that shuts its side after the request still gets the answer (Exim's readsocket)",
          "[integration][policy]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    serve_policy(m);
    m.start();
    PolicyConn c(m.policy_port());
    std::string req;
    for (const auto &[k, v] : request("RCPT", "alice", "ceo@example.com", "QE")) req += k + "=" + v + "\n";
    c.send_raw(req + "\n");
    c.shutdown_write();  // as readsocket does
    CHECK(c.answer() == "553 5.7.1 Sender address <ceo@example.com> is not owned by alice");
}
