// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyd's /metrics (metrics_listen) against the real slapd with the
// overlay: a scrape after mail through both doors shows exactly what
// happened, promtool accepts the exposition, counts survive a reload, the
// directory going away shows, and bad HTTP requests are answered while the
// daemon keeps serving mail.
#include "http_raw.h"
#include "milter_process.h"
#include "miltertest_drive.h"
#include "policy_conn.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {


std::string scrape(int port) {
    std::string a = http_raw(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    INFO(a.substr(0, 300));
    REQUIRE(http_status(a) == 200);
    return http_body(a);
}

/* value - the sample of the series whose name and labels (in the
 * exposition's order) are exactly series; -1 when there is none */
double value(const std::string &text, const std::string &series) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
    return -1;
}

/* promtool_check - promtool check metrics on an exposition; its output when it fails */
std::string promtool_check(const std::string &dir, const std::string &text) {
    std::ofstream(dir + "/scrape.txt") << text;
    std::remove((dir + "/promtool.out").c_str());
    int rc = run_command({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + dir + "/scrape.txt"},
                         dir + "/promtool.out");
    return rc == 0 ? "" : "exit " + std::to_string(rc) + ": " + read_text(dir + "/promtool.out");
}

const std::string kMilter = "door=\"milter\"", kPolicy = "door=\"policy\"";
std::string messages(const std::string &door, const std::string &reason, const std::string &verdict) {
    return "tally_messages_total{" + door + ",reason=\"" + reason + "\",verdict=\"" + verdict + "\"}";
}

}  // namespace

TEST_CASE("metrics: a scrape after mail through both doors shows what happened", "[integration][metrics]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    const int port = free_loopback_port();
    m.set("metrics_listen", "127.0.0.1:" + std::to_string(port));
    m.set("policy_listen", m.policy_address());
    m.start();

    auto r = drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>", "<b@x.org>"}, "QID1"},
                       {"alice", "<alice@example.com>", {"<a@x.org>"}, "QID2"},
                       {"alice", "<alice@example.com>", {"<a@x.org>"}, "QID3"},
                       {"alice", "<ceo@example.com>", {"<a@x.org>"}, "QID4"}});
    CHECK(r == std::vector<std::string>{"eom continue", "eom continue", "eom replycode", "eom replycode"});
    {
        PolicyConn c(m.policy_port());
        REQUIRE(c.ok());
        auto rcpt = [](const std::string &recipient) {
            return std::map<std::string, std::string>{{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"},
                                                      {"client_address", "127.0.0.1"}, {"sender", "dora@example.com"},
                                                      {"recipient", recipient}, {"sasl_username", "dora"},
                                                      {"instance", "inst.P1"}, {"queue_id", "P1"}};
        };
        // dora is blocked: refused at each recipient, one message
        CHECK_THAT(c.ask(rcpt("a@x.org")), Catch::StartsWith("554"));
        CHECK_THAT(c.ask(rcpt("b@x.org")), Catch::StartsWith("554"));
        // alice is at her limit: the end of message is refused, quota
        CHECK_THAT(c.ask({{"request", "smtpd_access_policy"}, {"protocol_state", "END-OF-MESSAGE"},
                          {"client_address", "127.0.0.1"}, {"sender", "alice@example.com"}, {"sasl_username", "alice"},
                          {"instance", "inst.P2"}, {"queue_id", "P2"}, {"size", "100"}, {"recipient_count", "1"}}),
                   Catch::StartsWith("550"));
    }

    std::string text = scrape(port);
    INFO(text);
    CHECK(value(text, messages(kMilter, "none", "accepted")) == 2);
    CHECK(value(text, messages(kMilter, "quota", "refused")) == 1);
    CHECK(value(text, messages(kMilter, "foreign_sender", "refused")) == 1);
    CHECK(value(text, messages(kMilter, "directory_unavailable", "deferred")) == 0);
    CHECK(value(text, messages(kMilter, "directory_unavailable", "uncounted")) == 0);
    CHECK(value(text, messages(kPolicy, "blocked", "refused")) == 1);
    CHECK(value(text, messages(kPolicy, "quota", "refused")) == 1);
    CHECK(value(text, messages(kPolicy, "none", "accepted")) == 0);
    // every message of the milter waited at end of data; the policy door's one END-OF-MESSAGE
    CHECK(value(text, "tally_end_of_data_seconds_count{door=\"milter\"}") == 4);
    CHECK(value(text, "tally_end_of_data_seconds_bucket{door=\"milter\",le=\"+Inf\"}") == 4);
    CHECK(value(text, "tally_end_of_data_seconds_count{door=\"policy\"}") == 1);
    // four charges (the foreign sender and blocked dora were never charged), nothing failed
    const std::string server = "server=\"" + s.uri() + "\"";
    CHECK(value(text, "tally_ldap_operations_total{operation=\"charge\"," + server + "}") == 4);
    CHECK(value(text, "tally_ldap_operations_total{operation=\"search\"," + server + "}") >= 2);
    CHECK(value(text, "tally_ldap_errors_total{operation=\"charge\"," + server + "}") == 0);
    CHECK(value(text, "tally_ldap_errors_total{operation=\"connect\"," + server + "}") == 0);
    CHECK(value(text, "tally_ldap_failovers_total") == 0);
    // alice looked up once, then found in the cache (default cache_ttl)
    CHECK(value(text, "tally_account_cache_lookups_total{result=\"miss\"}") == 2);  // alice, dora
    CHECK(value(text, "tally_account_cache_lookups_total{result=\"hit\"}") == 5);
    CHECK(value(text, "tally_reloads_total{result=\"ok\"}") == 0);
    CHECK(value(text, "tally_configuration_loaded_timestamp_seconds") > 1.7e9);
    CHECK(promtool_check(m.dir(), text).empty());
    CHECK(text.find("# HELP tally_messages_total ") != std::string::npos);
    CHECK(text.find("# TYPE tally_end_of_data_seconds histogram") != std::string::npos);
}

TEST_CASE("metrics: bad HTTP requests are answered and mail keeps flowing", "[integration][metrics][hostile]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    const int port = free_loopback_port();
    m.set("metrics_listen", "127.0.0.1:" + std::to_string(port));
    m.start();
    CHECK(http_status(http_raw(port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n")) == 404);
    CHECK(http_status(http_raw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")) == 404);
    CHECK(http_status(http_raw(port, "GET /metrics/extra HTTP/1.1\r\nHost: x\r\n\r\n")) == 404);
    CHECK(http_status(http_raw(port, "GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n")) == 404);
    std::string post = http_raw(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(http_status(post) == 405);
    CHECK_THAT(post, Catch::Contains("Allow: GET"));
    CHECK(http_status(http_raw(port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 405);
    // garbage: a 400, or the connection closed without an answer
    for (const std::string &junk : {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 17),
                                    std::string("HELLO THERE\r\n\r\n"), std::string("GET /metrics\r\n\r\n"),
                                    "GET /metrics HTTP/1.1\r\n" + std::string(20000, 'X') + "\r\n\r\n"}) {
        std::string a = http_raw(port, junk);
        INFO(a.substr(0, 200));
        CHECK((http_status(a) == 400 || http_status(a) == 414 || http_status(a) == 413 || http_status(a) == 431 || a.empty()));
    }
    // a client that sends half a request and waits holds one of civetweb's
    // threads, not the mail path
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(slow, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    send(slow, "GET /metr", 9, MSG_NOSIGNAL);

    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "H1"}})[0] == "eom continue");
    std::string text = scrape(port);
    close(slow);
    CHECK(value(text, messages(kMilter, "none", "accepted")) == 1);
    CHECK(promtool_check(m.dir(), text).empty());
}

TEST_CASE("metrics: counts survive a reload, and reloads and the directory going away show", "[integration][metrics]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "cache_ttl = 0\n");
    const int port = free_loopback_port();
    m.set("metrics_listen", "127.0.0.1:" + std::to_string(port));
    m.start();
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "R1"}})[0] == "eom continue");
    double loaded = value(scrape(port), "tally_configuration_loaded_timestamp_seconds");

    /* reloads_seen - wait until the daemon has taken the signal (its counter
     * moved), at most 10 s; the check after it says whether it did */
    auto reloads_seen = [&](const std::string &result, double want) {
        for (int i = 0; i < 500; ++i) {
            if (value(scrape(port), "tally_reloads_total{result=\"" + result + "\"}") >= want) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    };
    m.reload();
    reloads_seen("ok", 1);
    std::string text = scrape(port);
    CHECK(value(text, "tally_reloads_total{result=\"ok\"}") == 1);
    CHECK(value(text, "tally_configuration_loaded_timestamp_seconds") >= loaded);
    CHECK(value(text, messages(kMilter, "none", "accepted")) == 1);  // kept across the reload

    std::ofstream(m.config_path(), std::ios::app) << "no_such_option = 1\n";
    m.reload();
    reloads_seen("refused", 1);
    CHECK(value(scrape(port), "tally_reloads_total{result=\"refused\"}") == 1);

    s.stop();
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "R2"}})[0] == "eom replycode");
    text = scrape(port);
    INFO(text);
    CHECK(value(text, messages(kMilter, "directory_unavailable", "deferred")) == 1);
    CHECK(value(text, messages(kMilter, "none", "accepted")) == 1);
    CHECK(value(text, "tally_ldap_errors_total{operation=\"connect\",server=\"" + s.uri() + "\"}") >= 1);
    CHECK(value(text, "tally_ldap_unavailable_total{cause=\"no_server\"}") >= 1);
    CHECK(promtool_check(m.dir(), text).empty());
}

TEST_CASE("metrics: off unless configured, and a port in use fails the start", "[integration][metrics]") {
    Slapd s(milter_test_directory());
    s.start();
    const int port = free_loopback_port();
    // someone else listens there: the daemon says so and does not start
    int other = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(other, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    REQUIRE(listen(other, 1) == 0);
    {
        MilterProcess m(s);
        m.set("metrics_listen", "127.0.0.1:" + std::to_string(port));
        CHECK_THROWS_WITH(m.start(), Catch::Contains("metrics_listen cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use"));
    }
    close(other);
    // without metrics_listen nothing listens on an HTTP port; the log says nothing of metrics
    MilterProcess m(s);
    m.start();
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "O1"}})[0] == "eom continue");
    CHECK(m.log().find("metrics") == std::string::npos);
}
