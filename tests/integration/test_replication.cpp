// Several providers: slapd-conf/multi-provider/ run as it is (hostnames and
// paths replaced) by two providers and a consumer on loopback. Counters are
// one share per serverID, replicated by delta-syncrepl: concurrent charges
// on both providers sum exactly, a stopped provider catches up, a reset is
// a replicated event older shares cannot undo, and periods roll over while
// the providers are apart.
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z
const std::string kAlice = "uid=alice,ou=people,dc=example,dc=com";
const std::string kCarol = "uid=carol,ou=people,dc=example,dc=com";

std::string replace_all(std::string s, const std::string &from, const std::string &to) {
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
}

/* example - an example file of slapd-conf/multi-provider/, pointed at loopback and temp dirs */
std::string example(const std::string &file, int port1, int port2) {
    std::string t = read_text(source_path("slapd-conf/multi-provider/" + file));
    REQUIRE_FALSE(t.empty());
    t = replace_all(t, "ldap://ldap1.example.com/", "ldap://127.0.0.1:" + std::to_string(port1) + "/");
    t = replace_all(t, "ldap://ldap2.example.com/", "ldap://127.0.0.1:" + std::to_string(port2) + "/");
    t = replace_all(t, "/var/lib/ldap", "@DIR@/db");
    t = replace_all(t, "/run/slapd", "@DIR@");
    t = replace_all(t, "/usr/share/tally/schema/tally.schema", source_path("schema/tally.schema"));
    t = replace_all(t, "/etc/ldap/tally-acl.conf", source_path("slapd-conf/tally-acl.conf"));
    t = replace_all(t, "moduleload      tally.so", std::string("moduleload      ") + TALLY_MODULE_PATH);
    // Tests need no fsync.
    t = replace_all(t, "maxsize         1073741824", "maxsize         1073741824\ndbnosync");
    return t;
}

bool wait_until(const std::function<bool()> &ok, int timeout_ms = 20000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
        try {
            if (ok()) return true;
        } catch (...) {
            // not answering yet
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

/* usage_on - messages of the day window as that server decides on them (check mode reads only) */
std::uint64_t usage_on(const Slapd &s, const std::string &dn) {
    auto c = s.connect();
    auto r = charge_one(*c, dn, 0, 0, "", Mode::check);
    if (r.ldap.code != LDAP_SUCCESS) throw std::runtime_error("check failed: " + r.ldap.text);
    return used(r.response, "day");
}

/* Cluster - two providers and a consumer built from the examples */
struct Cluster {
    int port1 = free_loopback_port(), port2 = free_loopback_port(), port3 = free_loopback_port();
    Slapd p1, p2, consumer;

    static SlapdOptions options(std::string conf, bool load) {
        SlapdOptions o;
        o.config_template = std::move(conf);
        o.load_sample = load;
        return o;
    }
    Cluster()
        : p1(port1, options(example("provider.conf", port1, port2), false)),
          p2(port2, options(example("provider.conf", port1, port2), false)),
          consumer(port3, options(example("consumer.conf", port1, port2), false)) {}

    void start(std::int64_t clock) {
        for (Slapd *s : {&p1, &p2, &consumer}) s->set_clock(clock);
        p1.start();
        p2.start();
        consumer.start();
        // All start empty; the directory is added through the first provider,
        // so that it is in the change log delta-syncrepl replays (a database
        // loaded with slapadd has an empty log: README.md, "Several providers").
        std::ofstream(p1.dir() + "/sample.ldif") << sample_ldif();
        int rc = run_command({"/usr/bin/ldapadd", "-x", "-H", p1.uri(), "-D", kRootDn, "-w", kRootPw, "-f",
                              p1.dir() + "/sample.ldif"},
                             p1.dir() + "/ldapadd.log");
        INFO(read_text(p1.dir() + "/ldapadd.log"));
        REQUIRE(rc == 0);
        for (Slapd *s : {&p2, &consumer})
            REQUIRE(wait_until([&] { return !ldap_values(*s->connect(), kCarol, "uid").empty(); }));
    }
    void set_clock(std::int64_t t) {
        for (Slapd *s : {&p1, &p2, &consumer}) s->set_clock(t);
    }
    /* settled - every server decides on the same total for dn */
    bool settled(const std::string &dn, std::uint64_t want) {
        return wait_until([&] { return usage_on(p1, dn) == want && usage_on(p2, dn) == want && usage_on(consumer, dn) == want; });
    }
};

}  // namespace

TEST_CASE("two providers: concurrent charges on both converge to the exact sum everywhere",
          "[integration][replication]") {
    Cluster c;
    c.start(kMorning);
    std::atomic<int> accepted{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto conn = (t % 2 ? c.p2 : c.p1).connect(kServiceDn, kPassword);
                for (int i = 0; i < 40; ++i) {
                    auto r = charge_one(*conn, kCarol, 1, 100, "T" + std::to_string(t) + "-" + std::to_string(i));
                    if (r.ldap.code != LDAP_SUCCESS) ++errors;
                    else if (r.response.verdict == Verdict::accepted) ++accepted;
                }
            } catch (...) {
                errors += 1000;
            }
        });
    }
    for (auto &t : threads) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 240);  // below the example's 500 a day
    CHECK(c.settled(kCarol, 240));
    // Each provider wrote only its own share; both shares are on every server.
    auto values = ldap_values(*c.consumer.connect(), kCarol, "tallyUsage");
    std::string all;
    for (const auto &v : values) all += v + "\n";
    INFO(all);
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=1 messages="));
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=2 messages="));
    // A charge sent to the consumer is referred to a provider.
    auto on_consumer = c.consumer.connect(kServiceDn, kPassword);
    auto r = charge_one(*on_consumer, kCarol);
    CHECK(r.ldap.code == LDAP_REFERRAL);
    CHECK_THAT(r.ldap.referral, Catch::Contains(std::to_string(c.port1)));
}

TEST_CASE("two providers: the excess over a limit is bounded by what the other accepted meanwhile",
          "[integration][replication]") {
    Cluster c;
    c.start(kMorning);
    {
        auto root = c.p1.connect();
        REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"100"}) == LDAP_SUCCESS);
    }
    REQUIRE(wait_until([&] { return ldap_values(*c.p2.connect(), kAlice, "tallyMessagesPerDay") ==
                                    std::vector<std::string>{"100"}; }));
    std::atomic<int> accepted{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto conn = (t % 2 ? c.p2 : c.p1).connect(kServiceDn, kPassword);
                for (int i = 0; i < 40; ++i) {
                    auto r = charge_one(*conn, kAlice);
                    if (r.ldap.code != LDAP_SUCCESS) ++errors;
                    else if (r.response.verdict == Verdict::accepted) ++accepted;
                }
            } catch (...) {
                errors += 1000;
            }
        });
    }
    for (auto &t : threads) t.join();
    CHECK(errors == 0);
    // Never less than the limit, never more than twice it (each provider alone stops at 100),
    // and the counters hold exactly what was accepted.
    CHECK(accepted >= 100);
    CHECK(accepted <= 200);
    std::printf("replication excess: %d accepted over a limit of 100 (8 connections on 2 providers, loopback)\n",
                accepted - 100);
    CHECK(c.settled(kAlice, static_cast<std::uint64_t>(accepted)));
}

TEST_CASE("two providers: one stops during load, charges fail over, it comes back and catches up",
          "[integration][replication]") {
    Cluster c;
    c.start(kMorning);
    std::atomic<int> accepted{0}, ambiguous{0}, failed{0};
    std::atomic<bool> stop_now{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            // As tally-milter does: the first provider, else the second; a
            // charge whose answer was lost is retried once with the same id.
            std::unique_ptr<client::Connection> conn;
            for (int i = 0; i < 60; ++i) {
                std::string id = "F" + std::to_string(t) + "-" + std::to_string(i);
                bool lost = false;
                for (int attempt = 0; attempt < 2; ++attempt) {
                    try {
                        if (!conn) {
                            try {
                                conn = c.p1.connect(kServiceDn, kPassword);
                            } catch (...) {
                                conn = c.p2.connect(kServiceDn, kPassword);
                            }
                        }
                        auto r = charge_one(*conn, kCarol, 1, 100, id);
                        if (r.ldap.code != LDAP_SUCCESS) throw std::runtime_error(r.ldap.text);
                        if (r.response.verdict == Verdict::accepted) ++accepted;
                        if (lost) ++ambiguous;
                        break;
                    } catch (...) {
                        conn.reset();
                        if (attempt == 1) ++failed;
                        lost = true;
                    }
                }
                if (i == 20 && t == 0) stop_now = true;
            }
        });
    }
    while (!stop_now) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c.p1.stop();
    for (auto &t : threads) t.join();
    CHECK(failed == 0);
    // While the first is down, the second and the consumer agree.
    REQUIRE(wait_until([&] { return usage_on(c.p2, kCarol) == usage_on(c.consumer, kCarol); }));
    std::uint64_t during = usage_on(c.p2, kCarol);
    c.p1.start();
    // It catches up: every server holds the same total. A charge whose answer was
    // lost as its provider stopped may have been counted there and again on the
    // other (the retry); nothing else may differ from what was accepted.
    REQUIRE(wait_until([&] { return usage_on(c.p1, kCarol) == usage_on(c.p2, kCarol); }));
    std::uint64_t total = usage_on(c.p1, kCarol);
    INFO("accepted " << accepted << ", ambiguous " << ambiguous << ", total " << total << ", during " << during);
    CHECK(total >= static_cast<std::uint64_t>(accepted));
    CHECK(total <= static_cast<std::uint64_t>(accepted + ambiguous));
    CHECK(c.settled(kCarol, total));
}

TEST_CASE("two providers: a reset is replicated and older shares arriving later do not undo it",
          "[integration][replication]") {
    Cluster c;
    c.start(kMorning);
    auto charge_n = [](const Slapd &s, int n, const std::string &tag) {
        auto conn = s.connect(kServiceDn, kPassword);
        for (int i = 0; i < n; ++i)
            REQUIRE(charge_one(*conn, kCarol, 1, 100, tag + std::to_string(i)).response.verdict == Verdict::accepted);
    };
    charge_n(c.p1, 3, "a");
    charge_n(c.p2, 4, "b");
    REQUIRE(c.settled(kCarol, 7));

    // The first provider is away while the second counts 5 more: those
    // counts date from before the reset the first will make.
    c.p1.stop();
    charge_n(c.p2, 5, "c");
    c.p2.stop();
    c.set_clock(kMorning + 60);
    c.p1.start();
    {
        auto op = c.p1.connect(kAdminDn, kPassword);
        ResetRequest reset{kCarol, "day"};
        REQUIRE(client::reset(*op, reset).code == LDAP_SUCCESS);
    }
    CHECK(usage_on(c.p1, kCarol) == 0);
    c.p2.start();  // its pre-reset share reaches the first provider, the reset reaches it
    CHECK(c.settled(kCarol, 0));
    // Counting goes on from zero on both.
    charge_n(c.p2, 2, "d");
    charge_n(c.p1, 1, "e");
    CHECK(c.settled(kCarol, 3));
}

TEST_CASE("two providers: a period rolls over while they are apart", "[integration][replication]") {
    Cluster c;
    c.start(kMorning);
    auto charge_n = [](const Slapd &s, int n, const std::string &tag) {
        auto conn = s.connect(kServiceDn, kPassword);
        for (int i = 0; i < n; ++i)
            REQUIRE(charge_one(*conn, kCarol, 1, 100, tag + std::to_string(i)).response.verdict == Verdict::accepted);
    };
    charge_n(c.p1, 2, "a");
    REQUIRE(c.settled(kCarol, 2));
    c.p1.stop();
    charge_n(c.p2, 3, "b");  // still the 22nd on the second provider
    c.p2.stop();
    c.set_clock(kMorning + 86400);  // the 23rd everywhere
    c.p1.start();
    charge_n(c.p1, 4, "c");
    c.p2.start();
    charge_n(c.p2, 1, "d");
    // The 23rd counts only the 23rd's charges, on every server.
    CHECK(c.settled(kCarol, 5));
    // Each provider moved its own share of the 22nd into its history.
    REQUIRE(wait_until([&] {
        auto hist = ldap_values(*c.consumer.connect(), kCarol, "tallyHistory");
        bool one = false, two = false;
        for (const auto &h : hist) {
            one |= h.starts_with("day 2026-11-22 sid=1 messages=2 ");
            two |= h.starts_with("day 2026-11-22 sid=2 messages=3 ");
        }
        return one && two;
    }));
}
