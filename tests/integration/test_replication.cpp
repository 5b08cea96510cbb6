// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Several providers: slapd-conf/multi-provider/ run as it is (hostnames and
// paths replaced) by two providers and a consumer on loopback. Counters are
// one share per serverID, replicated by delta-syncrepl: concurrent charges
// on both providers sum exactly, a stopped provider catches up, a reset is
// a replicated event older shares cannot undo, and periods roll over while
// the providers are apart. Issue 23: a share replication left twice (a
// provider killed between its database commit and its accesslog write)
// counts once everywhere, shown exactly with slapadd and then for real
// with a provider SIGKILLed inside that window under load.
#include "replication_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z

struct Load {
    int accepted = 0;
    int errors = 0;
};

/* charge_both - `threads` connections, alternating between the providers,
 * each sending `per_thread` charges of one message to dn (with distinct
 * charge ids when id_prefix is set) */
Load charge_both(Cluster &c, const std::string &dn, int threads, int per_thread, const std::string &id_prefix) {
    std::atomic<int> accepted{0}, errors{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            try {
                auto conn = (t % 2 ? c.p2 : c.p1).connect(kServiceDn, kPassword);
                for (int i = 0; i < per_thread; ++i) {
                    std::string id = id_prefix.empty() ? "" : id_prefix + std::to_string(t) + "-" + std::to_string(i);
                    auto r = charge_one(*conn, dn, 1, 100, id);
                    if (r.ldap.code != LDAP_SUCCESS) ++errors;
                    else if (r.response.verdict == Verdict::accepted) ++accepted;
                }
            } catch (...) {
                errors += 1000;
            }
        });
    }
    for (auto &t : pool) t.join();
    return {accepted.load(), errors.load()};
}

/* charge_n - n accepted charges of carol on s, charge ids tag0, tag1, ... */
void charge_n(const Slapd &s, int n, const std::string &tag) {
    auto conn = s.connect(kServiceDn, kPassword);
    for (int i = 0; i < n; ++i)
        REQUIRE(charge_one(*conn, kCarol, 1, 100, tag + std::to_string(i)).response.verdict == Verdict::accepted);
}

}  // namespace

TEST_CASE("two providers: concurrent charges on both converge to the exact sum everywhere",
          "[integration][replication]") {
    Cluster c;
    c.start(kMorning);
    auto [accepted, errors] = charge_both(c, kCarol, 6, 40, "T");
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
    auto [accepted, errors] = charge_both(c, kAlice, 8, 40, "");
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
            // As tallyd does: the first provider, else the second; a
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
    // While the first is down, the second carries on (the consumer may wait
    // for the first to come back: it is checked once everything settled).
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

    // Each provider moved its own share of the 22nd into its history (its
    // own history entry, replicated like every other write).
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

TEST_CASE("two providers: replication through a delaying proxy lags by its delay and still converges",
          "[integration][replication]") {
    ClusterOptions o;
    o.consumer = false;
    o.proxied = true;
    Cluster c(o);
    c.start(kMorning);
    REQUIRE(c.to_p1->connections() > 0);  // p2's syncrepl reaches p1 through the proxy
    REQUIRE(c.to_p2->connections() > 0);
    c.set_delay(1500);
    auto conn = c.p1.connect(kServiceDn, kPassword);
    REQUIRE(charge_one(*conn, kCarol, 1, 100, "L1").response.verdict == Verdict::accepted);
    auto sent = std::chrono::steady_clock::now();
    REQUIRE(wait_until([&] { return usage_on(c.p2, kCarol) == 1; }, 10000));
    auto lag = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count();
    CHECK(lag >= 1400);
    CHECK(lag < 6000);
    c.set_delay(0);
    REQUIRE(charge_one(*conn, kCarol, 1, 100, "L2").response.verdict == Verdict::accepted);
    CHECK(c.settled(kCarol, 2));
}

// ---- Issue 23: a share that replication left twice ----

namespace {

std::string lines(const std::vector<std::string> &values) {
    std::string all;
    for (const auto &v : values) all += v + "\n";
    return all;
}

/* one_account - a slapd (day window, history kept), started with the clock
 * at kMorning, whose directory is the sample plus the account uid
 * (entryUUID uuid) with further attributes given as LDIF lines: loaded
 * with slapadd, so its counters can be what no write makes */
std::unique_ptr<Slapd> one_account(const std::string &uid, const std::string &uuid, const std::string &ldif_lines) {
    SlapdOptions o;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-history 3\n";
    o.data_ldif = "\ndn: uid=" + uid + ",ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n"
                  "objectClass: tallyAccount\nuid: " + uid + "\ncn: " + uid + "\nsn: " + uid +
                  "\nentryUUID: " + uuid + "\n" + ldif_lines;
    auto s = std::make_unique<Slapd>(o);
    s->start();
    s->set_clock(kMorning);
    return s;
}

std::size_t count_prefix(const std::vector<std::string> &values, const std::string &prefix) {
    std::size_t n = 0;
    for (const auto &v : values) n += v.starts_with(prefix);
    return n;
}

}  // namespace

TEST_CASE("issue 23: two values of one share count once in totals, decisions, tallyctl and roll-over",
          "[integration][replication][shares]") {
    // What a provider killed between its database commit and its accesslog
    // write leaves on another server (and a full refresh copies on): two
    // values of one share. Loaded with slapadd, so it is exact: this
    // server's own share (sid 0) twice, another provider's share twice.
    auto s = one_account("dave", "5d1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d23", R"(tallyMessagesPerDay: 145
tallyUsage: day 2026-11-22 sid=0 messages=5 recipients=5 bytes=500 byteRecipients=500
tallyUsage: day 2026-11-22 sid=0 messages=7 recipients=7 bytes=700 byteRecipients=700
tallyUsage: day 2026-11-22 sid=2 messages=123 recipients=123 bytes=12300 byteRecipients=12300
tallyUsage: day 2026-11-22 sid=2 messages=134 recipients=134 bytes=13400 byteRecipients=13400
tallyRecentCharge: 1795341500:R1 1795341510:R2
tallyRecentCharge: 1795341510:R2 1795341520:R3
)");
    const std::string dave = person_dn("dave");
    auto root = s->connect();
    REQUIRE(ldap_values(*root, dave, "tallyUsage").size() == 4);

    // Totals: 7 + 134, not 5 + 7 + 123 + 134.
    CHECK(usage_on(*s, dave) == 141);
    std::string out;
    const auto svc = bind_options(s->uri(), kServiceDn);
    CHECK(run_tallyctl(svc, {"usage", dave}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*day +2026-11-22 +messages +141 +145 +4\\n(.|\\n)*"));
    CHECK_THAT(out, Catch::Matches("(.|\\n)*day +2026-11-22 +bytes +14100 +unlimited +-\\n(.|\\n)*"));
    CHECK(run_tallyctl(svc, {"report", "-b", kPeople}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*\\nuid=dave,ou=people,dc=example,dc=com +day +2026-11-22 +messages +141 "
                                   "+145 +97%\\n(.|\\n)*"));
    CHECK(run_tallyctl(svc, {"top", "-b", "dc=example,dc=com", "-n", "1"}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*\\nuid=dave,ou=people,dc=example,dc=com +day +2026-11-22 +messages +141 "
                                   "+145 +97%\\n"));

    // Our two values of recent charge ids count as one: an id only the first holds is a duplicate.
    auto conn = s->connect(kServiceDn, kPassword);
    CHECK(charge_one(*conn, dave, 1, 100, "R1").response.verdict == Verdict::duplicate);
    CHECK(charge_one(*conn, dave, 1, 100, "R3").response.verdict == Verdict::duplicate);
    // The decision: exactly 4 more messages pass the limit of 145.
    for (int i = 0; i < 4; ++i) {
        auto r = charge_one(*conn, dave, 1, 100, "D" + std::to_string(i));
        REQUIRE(r.ldap.code == LDAP_SUCCESS);
        CHECK(r.response.verdict == Verdict::accepted);
        CHECK(used(r.response, "day") == 142u + static_cast<unsigned>(i));
    }
    auto refused = charge_one(*conn, dave, 1, 100, "D4");
    CHECK(refused.response.verdict == Verdict::refused);
    REQUIRE(refused.response.exceeded);
    CHECK(refused.response.exceeded->usage == 145);
    CHECK(refused.response.first_hit);  // marked once, on our own share

    // Healing: our own share is one value again (the write deleted both old
    // ones); the other provider's two values stay, it alone writes them.
    auto values = ldap_values(*root, dave, "tallyUsage");
    INFO(lines(values));
    CHECK(count_prefix(values, "day 2026-11-22 sid=0 ") == 1);
    CHECK(count_prefix(values, "day 2026-11-22 sid=0 messages=11 recipients=11 bytes=1100 ") == 1);
    CHECK(count_prefix(values, "day 2026-11-22 sid=2 ") == 2);
    CHECK(usage_on(*s, dave) == 145);
    auto recent = ldap_values(*root, dave, "tallyRecentCharge");
    INFO(lines(recent));
    REQUIRE(recent.size() == 1);
    CHECK_THAT(recent[0], Catch::StartsWith("1795341500:R1 1795341510:R2 1795341520:R3 "));

    // Roll-over: a new day. Our share of the 22nd goes into the history once
    // (with duplicates left at roll-over time: the next test).
    s->set_clock(kMorning + 86400);
    auto r = charge_one(*conn, dave, 1, 100, "D5");
    CHECK(r.response.verdict == Verdict::accepted);
    CHECK(used(r.response, "day") == 1);  // the 22nd's values, duplicates and all, do not count on the 23rd
    auto hist = ldap_values(*root, dave, "tallyHistory");
    INFO(lines(hist));
    CHECK(count_prefix(hist, "day 2026-11-22 sid=0 ") == 1);
    CHECK(run_tallyctl(svc, {"usage", dave}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*day +2026-11-23 +messages +1 +145 +144\\n(.|\\n)*"));
}

TEST_CASE("issue 23: a duplicated own share of an ended period goes into the history once",
          "[integration][replication][shares][history]") {
    auto s = one_account("erin", "6e1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d23", R"(tallyUsage: day 2026-11-21 sid=0 messages=30 recipients=30 bytes=3000 byteRecipients=3000
tallyUsage: day 2026-11-21 sid=0 messages=31 recipients=31 bytes=3100 byteRecipients=3100 limitHit=1795250000
)");
    const std::string erin = person_dn("erin");
    CHECK(usage_on(*s, erin) == 0);
    auto r = charge_one(*s->connect(kServiceDn, kPassword), erin, 1, 100, "E1");
    CHECK(r.response.verdict == Verdict::accepted);
    CHECK(used(r.response, "day") == 1);
    auto root = s->connect();
    auto hist = ldap_values(*root, erin, "tallyHistory");
    INFO(lines(hist));
    REQUIRE(hist.size() == 1);
    CHECK(hist[0] == "day 2026-11-21 sid=0 messages=31 recipients=31 bytes=3100 byteRecipients=3100 limitHit=1795250000");
    auto values = ldap_values(*root, erin, "tallyUsage");
    INFO(lines(values));
    CHECK(values.size() == 1);  // both values of the 21st left the account
}

TEST_CASE("issue 23: a reset voids every value of a duplicated share and leaves one value of our own",
          "[integration][replication][shares]") {
    auto s = one_account("finn", "7f1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d23", R"(tallyUsage: day 2026-11-22 sid=0 messages=5 recipients=5 bytes=500 byteRecipients=500
tallyUsage: day 2026-11-22 sid=0 messages=7 recipients=7 bytes=700 byteRecipients=700
tallyUsage: day 2026-11-22 sid=2 messages=40 recipients=40 bytes=4000 byteRecipients=4000
tallyUsage: day 2026-11-22 sid=2 messages=41 recipients=41 bytes=4100 byteRecipients=4100
)");
    const std::string finn = person_dn("finn");
    CHECK(usage_on(*s, finn) == 48);
    std::string out;
    CHECK(run_tallyctl(bind_options(s->uri(), kAdminDn), {"reset", finn, "day"}, &out) == 0);
    CHECK(usage_on(*s, finn) == 0);
    auto values = ldap_values(*s->connect(), finn, "tallyUsage");
    INFO(lines(values));
    CHECK(count_prefix(values, "day 2026-11-22 sid=0 messages=0 ") == 1);
    CHECK(count_prefix(values, "day 2026-11-22 sid=0 ") == 1);
    CHECK(count_prefix(values, "day 2026-11-22 sid=2 ") == 2);  // void, and not ours to delete
    auto r = charge_one(*s->connect(kServiceDn, kPassword), finn, 1, 100, "F1");
    CHECK(used(r.response, "day") == 1);
}

// ---- Issue 23: a provider SIGKILLed between its commit and its accesslog write ----

namespace {

/* PauseDir - TALLY_TEST_PAUSE_DIR for the slapds started while it lives:
 * a file "pause" here makes the next counter write of one of them pause
 * right after its database commit and write its pid to "paused" */
struct PauseDir {
    TempDir dir;
    PauseDir() { setenv("TALLY_TEST_PAUSE_DIR", dir.path.c_str(), 1); }
    ~PauseDir() { unsetenv("TALLY_TEST_PAUSE_DIR"); }
    void request() const { std::ofstream(dir.path + "/pause") << "\n"; }
    /* paused - the pid of the slapd that paused, 0 before one did */
    pid_t paused() const {
        std::ifstream in(dir.path + "/paused");
        long pid = 0;
        return in >> pid ? static_cast<pid_t>(pid) : 0;
    }
};

/* FailoverLoad - threads charging like tallyd: each to its home
 * provider, a charge whose answer was lost retried once on the other with
 * the same charge id, a connection that fails reopened on the next charge */
struct FailoverLoad {
    std::atomic<int> accepted{0}, lost{0}, failed{0}, sent{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::chrono::microseconds pause_{0};  // between one thread's charges when paced

    /* rate: charges per second of all threads together, 0 as fast as they go */
    FailoverLoad(Cluster &c, const std::string &dn, int per_provider, const std::string &tag, int rate = 0) {
        const int n = 2 * per_provider;
        if (rate > 0) pause_ = std::chrono::microseconds(1000000LL * n / rate);
        for (int t = 0; t < n; ++t)
            threads.emplace_back([this, &c, dn, t, tag] { run(c, dn, t, tag); });
    }
    ~FailoverLoad() { finish(); }
    void finish() {
        stop = true;
        for (auto &t : threads)
            if (t.joinable()) t.join();
    }

    void run(Cluster &c, const std::string &dn, int t, const std::string &tag) {
        const Slapd *home = t % 2 ? &c.p2 : &c.p1, *other = t % 2 ? &c.p1 : &c.p2;
        std::unique_ptr<client::Connection> conn[2];
        auto next = std::chrono::steady_clock::now();
        for (int i = 0; !stop; ++i) {
            if (pause_.count() > 0) {  // paced: one charge per pause_, catching up after a slow one
                next += pause_;
                std::this_thread::sleep_until(next);
            }
            const std::string id = tag + std::to_string(t) + "-" + std::to_string(i);
            bool answered = false, maybe_counted = false;
            for (int attempt = 0; attempt < 2 && !answered; ++attempt) {
                auto &cn = conn[attempt];
                const Slapd &s = attempt == 0 ? *home : *other;
                try {
                    if (!cn) cn = s.connect(kServiceDn, kPassword);
                } catch (...) {
                    continue;  // not sent: cannot have counted
                }
                try {
                    auto r = charge_one(*cn, dn, 1, 100, id);
                    if (r.ldap.code != LDAP_SUCCESS) throw std::runtime_error(r.ldap.text);
                    answered = true;
                    if (r.response.verdict == Verdict::accepted) ++accepted;
                } catch (...) {
                    cn.reset();
                    maybe_counted = true;  // sent, no answer: its provider may have counted it
                }
            }
            ++sent;
            if (maybe_counted) ++lost;
            if (!answered) {
                ++failed;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));  // both down: do not spin
            }
        }
    }
};

std::size_t values_of_share(const Slapd &s, const std::string &dn, const std::string &prefix) {
    return count_prefix(ldap_values(*s.connect(), dn, "tallyUsage"), prefix);
}

}  // namespace

TEST_CASE("issue 23: a full refresh from the provider that charged last keeps the refreshed provider's newer share",
          "[integration][replication][shares]") {
    // A refresh judges a whole entry by its entryCSN. Provider 1 charged
    // carol last, so its copy wins, and that copy holds provider 2's share
    // as it was before provider 2's last charges reached it. Provider 2 must
    // keep its own, newer share (README: "A provider crash"); taking the
    // copy's would forget charges it answered, on every server. With the
    // examples' counter database no entry has two writers: provider 2's
    // counter entry on provider 1 is older than its own, and slapd's refresh
    // skips an entry older than the one it holds.
    ClusterOptions o;
    o.counters_in_account = GENERATE(true, false);
    INFO((o.counters_in_account ? "counters in the account" : "counter database"));
    Cluster c(o);
    c.start(kMorning);
    charge_n(c.p2, 5, "A");
    REQUIRE(c.settled(kCarol, 5));
    c.p1.stop();
    charge_n(c.p2, 7, "B");  // provider 2's share: 12, of which provider 1 knows 5
    c.p2.stop();
    c.p1.start();
    charge_n(c.p1, 3, "C");  // provider 1 writes carol last
    // Provider 2 follows provider 1 by whole entries from now on: plain
    // syncrepl, the full refresh delta-syncrepl falls back to when it
    // cannot apply a change. It gets carol as provider 1 holds her.
    {
        const std::string conf = c.p2.dir() + "/slapd.conf";
        std::string text = read_text(conf);
        const std::string delta = "                syncdata=accesslog logbase=\"cn=accesslog\"\n"
                                  "                logfilter=\"(&(objectClass=auditWriteObject)(reqResult=0))\"\n";
        auto at = text.find(delta);  // the first stanza: rid=001, provider 1
        REQUIRE(at != std::string::npos);
        REQUIRE(text.rfind("rid=001", at) != std::string::npos);
        text.erase(at, delta.size());
        std::ofstream(conf) << text;
    }
    c.p2.start();
    // Provider 2 takes provider 1's charges and keeps its own 12: 15, not 3 + 5.
    bool took = wait_until([&] { return usage_on(c.p2, kCarol) == 15; }, 20000);
    INFO("provider 2's counters: " << lines(ldap_values(*c.p2.connect(), kCarol, "tallyUsage"))
                                   << "provider 2's log: " << c.p2.dir() << "/slapd.log");
    REQUIRE(took);
    if (o.counters_in_account) CHECK(c.p2.log().find("TALLY KEEP-OWN dn=\"uid=carol,") != std::string::npos);
    // Every server ends with exactly what was accepted, and goes on counting.
    REQUIRE(c.settled(kCarol, 15));
    charge_n(c.p2, 1, "D");
    CHECK(c.settled(kCarol, 16));
}

TEST_CASE("issue 23: a provider SIGKILLed between its commit and its accesslog write, under load: "
          "every server ends with the same total, within the lost answers",
          "[integration][replication][crash]") {
    const char *env_runs = std::getenv("TALLY_KILL_RUNS");
    const int runs = env_runs ? std::atoi(env_runs) : 3;  // per OpenLDAP release
    const char *env_down = std::getenv("TALLY_KILL_DOWN_MS");  // how long the killed provider stays down
    const int down_ms = env_down ? std::atoi(env_down) : 500;
    const char *env_rate = std::getenv("TALLY_KILL_RATE");  // charges per second in all, 0: as fast as they go
    const int rate = env_rate ? std::atoi(env_rate) : 0;
    // TALLY_KEEP_FAILED=1: a run that stalls or fails keeps its three slapd directories
    // (logs, databases, accesslogs) for a look afterwards; the others are removed.
    const char *env_keep = std::getenv("TALLY_KEEP_FAILED");
    const bool keep_failed = env_keep && std::string(env_keep) == "1";
    // Where the counters live: TALLY_KILL_LAYOUT=database (the examples as
    // shipped: each provider's in entries of its own, tally-counter-database),
    // account (both providers write the account entry), or unset: runs
    // alternate, the examples first.
    const char *env_layout = std::getenv("TALLY_KILL_LAYOUT");
    const std::string layout = env_layout ? env_layout : "";
    REQUIRE((layout.empty() || layout == "database" || layout == "account"));
    auto keep_evidence = [&](Cluster &c) {
        if (!keep_failed) return;
        for (Slapd *s : {&c.p1, &c.p2, &c.consumer}) s->keep_dir();
    };
    int caught = 0;  // runs in which a provider held two values of the killed one's share
    int nudges = 0;  // runs in which the consumer caught up only at the account's next charge
    int stalls = 0;  // runs in which replication between the providers stalled (known, issue 23)
    double worst_ms = 0, worst_all_ms = 0;
    for (int run = 0; run < runs; ++run) {
        PauseDir pause;
        ClusterOptions o;
        o.tally_below_accesslog = true;  // the pause then falls between commit and accesslog write
        o.counters_in_account = layout == "account" || (layout.empty() && run % 2 == 1);
        const char *where = o.counters_in_account ? "counters in the account" : "counter database";
        Cluster c(o);
        c.start(kMorning);
        {
            // No refusals: every answer is "accepted", so the bound is on counting alone.
            REQUIRE(ldap_modify(*c.p1.connect(), kCarol, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"1000000"}) ==
                    LDAP_SUCCESS);
            REQUIRE(c.settled(kCarol, 0));
            REQUIRE(wait_until([&] {
                for (const Slapd *s : {&c.p2, &c.consumer})
                    if (ldap_values(*s->connect(), kCarol, "tallyMessagesPerDay") != std::vector<std::string>{"1000000"})
                        return false;
                return true;
            }));
        }
        FailoverLoad load(c, kCarol, 2, "K" + std::to_string(run) + "-", rate);
        // Let both providers count for a while, then pause one charge after its commit.
        REQUIRE(wait_until([&] { return load.sent >= 40 + (run * 137) % 400; }, 20000));
        pause.request();
        REQUIRE(wait_until([&] { return pause.paused() > 0; }, 10000));
        Slapd &victim = pause.paused() == c.p1.pid() ? c.p1 : c.p2;
        Slapd &survivor = &victim == &c.p1 ? c.p2 : c.p1;
        REQUIRE(victim.pid() == pause.paused());
        const std::string sid = &victim == &c.p1 ? "1" : "2";
        victim.kill_hard();
        const int at_kill = load.sent;
        std::this_thread::sleep_for(std::chrono::milliseconds(down_ms));  // its clients fail over meanwhile
        victim.start();
        auto restarted = std::chrono::steady_clock::now();
        // The load goes on against both, so the restarted provider writes its share again.
        const int at_restart = load.sent;
        REQUIRE(wait_until([&] { return load.sent >= at_restart + 40; }, 20000));
        load.finish();
        auto since_restart = [&] {
            return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - restarted).count();
        };
        // The providers hold the same total: the time that takes is what the README reports.
        bool providers_same = wait_until([&] { return usage_on(c.p1, kCarol) == usage_on(c.p2, kCarol); }, 30000);
        double providers_ms = since_restart();
        if (!providers_same) {
            // Known, open (issue 23, README "Several providers"): now and then
            // (1 run in 266 on 2.5, 1 in 53 on 2.6) syncrepl between the
            // providers stalls after the restart. Convergence is then
            // OpenLDAP's liveness problem, not counting: what must still
            // hold is that no server counts a charge twice.
            ++stalls;
            keep_evidence(c);
            const std::uint64_t bound = static_cast<std::uint64_t>(load.accepted + load.lost);
            for (const Slapd *s : {&c.p1, &c.p2, &c.consumer}) {
                std::uint64_t t = usage_on(*s, kCarol);
                INFO("run " << run + 1 << " (replication stalled): total " << t << " on " << s->uri());
                CHECK(t <= bound);
            }
            caught += values_of_share(survivor, kCarol, "day 2026-11-22 sid=" + sid + " ") > 1;
            std::printf("kill run %d (%s): killed sid=%s; STALL: the providers did not agree within 30 s of the restart "
                        "(known, issue 23); every server within accepted + lost answers (%d); totals %llu %llu %llu; "
                        "slapd directories %s %s %s (TALLY_KEEP_TMP=1 keeps them)\n",
                        run + 1, where, sid.c_str(), load.accepted.load() + load.lost.load(),
                        static_cast<unsigned long long>(usage_on(c.p1, kCarol)),
                        static_cast<unsigned long long>(usage_on(c.p2, kCarol)),
                        static_cast<unsigned long long>(usage_on(c.consumer, kCarol)), c.p1.dir().c_str(),
                        c.p2.dir().c_str(), c.consumer.dir().c_str());
            std::fflush(stdout);
            continue;
        }
        // A consumer (delta-syncrepl) that missed the lost record falls back to a refresh that
        // judges the account by its entryCSN and can keep a stale value of the crashed
        // provider's share, until that provider writes the account again (README, "Several
        // providers"): then one more charge on each provider.
        auto all_same = [&] {
            std::uint64_t t = usage_on(c.p1, kCarol);
            return t == usage_on(c.p2, kCarol) && t == usage_on(c.consumer, kCarol);
        };
        bool nudged = false;
        if (!wait_until(all_same, 3000)) {
            nudged = true;
            for (const Slapd *s : {&c.p1, &c.p2}) {
                auto r = charge_one(*s->connect(kServiceDn, kPassword), kCarol, 1, 100,
                                    "N" + std::to_string(run) + "-" + std::to_string(s->port()));
                if (r.ldap.code == LDAP_SUCCESS && r.response.verdict == Verdict::accepted) ++load.accepted;
            }
        }
        bool same = wait_until(all_same, 30000);
        double all_ms = since_restart();
        worst_ms = std::max(worst_ms, providers_ms);
        worst_all_ms = std::max(worst_all_ms, all_ms);
        std::array<std::uint64_t, 3> t{usage_on(c.p1, kCarol), usage_on(c.p2, kCarol), usage_on(c.consumer, kCarol)};
        bool dup = values_of_share(survivor, kCarol, "day 2026-11-22 sid=" + sid + " ") > 1;
        caught += dup;
        nudges += nudged;
        std::printf("kill run %d (%s): killed sid=%s; %d charges while it was down; accepted %d, lost answers %d, failed %d; "
                    "totals %llu %llu %llu; "
                    "providers equal %.0f ms after the restart, all three %.0f ms%s; survivor held %s\n",
                    run + 1, where, sid.c_str(), at_restart - at_kill, load.accepted.load(), load.lost.load(), load.failed.load(),
                    static_cast<unsigned long long>(t[0]), static_cast<unsigned long long>(t[1]),
                    static_cast<unsigned long long>(t[2]), providers_ms, all_ms,
                    nudged ? " (consumer after one more charge on each provider)" : "",
                    dup ? "two values of its share" : "one value of its share");
        std::fflush(stdout);
        INFO("run " << run + 1 << ": survivor's counters:\n"
                    << lines(ldap_values(*survivor.connect(), kCarol, "tallyUsage")) << "slapd directories: "
                    << c.p1.dir() << " " << c.p2.dir() << " " << c.consumer.dir() << " (TALLY_KEEP_TMP=1 keeps them)");
        if (!same || t[0] < static_cast<std::uint64_t>(load.accepted) ||
            t[0] > static_cast<std::uint64_t>(load.accepted + load.lost))
            keep_evidence(c);
        REQUIRE(providers_same);
        REQUIRE(same);
        CHECK(t[0] >= static_cast<std::uint64_t>(load.accepted));
        CHECK(t[0] <= static_cast<std::uint64_t>(load.accepted + load.lost));
        // How fast they agree is a speed, measured by bench/crash-recovery (target 10 s), not
        // asserted here: on a loaded machine catching up on thousands of changes takes longer.
    }
    std::printf("kill runs: %d, a survivor held two values of the killed provider's share in %d; slowest: "
                "providers equal %.0f ms after the restart, all three %.0f ms; consumer needed one more charge on each provider in %d; "
                "replication stalled in %d\n",
                runs, caught, worst_ms, worst_all_ms, nudges, stalls);
    CHECK(stalls < runs);  // convergence was asserted at least once
    // The pause lands between commit and log every time, so the case must show.
    CHECK(caught > 0);
}

TEST_CASE("issue 19: two providers: an aggregate's shares converge to the exact sum of its accounts everywhere",
          "[integration][replication][aggregate]") {
    Cluster c;
    c.start(kMorning);
    {
        // ou=people becomes an aggregate (a whole-domain quota) through p1.
        auto admin = c.p1.connect();
        REQUIRE(ldap_modify(*admin, kPeople, LDAP_MOD_ADD, "objectClass", {"tallyAggregate"}) == LDAP_SUCCESS);
        REQUIRE(ldap_modify(*admin, kPeople, LDAP_MOD_ADD, "tallyAggregateLimit", {"day messages 5000"}) ==
                LDAP_SUCCESS);
    }
    for (Slapd *s : {&c.p2, &c.consumer}) {
        bool arrived = false;
        for (int i = 0; i < 200 && !arrived; ++i) {
            arrived = !ldap_values(*s->connect(), kPeople, "tallyAggregateLimit").empty();
            if (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        REQUIRE(arrived);
    }
    Load alice, carol;
    std::thread a([&] { alice = charge_both(c, kAlice, 4, 30, "A"); });
    std::thread b([&] { carol = charge_both(c, kCarol, 4, 30, "C"); });
    a.join();
    b.join();
    CHECK(alice.errors == 0);
    CHECK(carol.errors == 0);
    CHECK(alice.accepted == 120);
    CHECK(carol.accepted == 120);
    // Every server: each account its own count, the aggregate their sum.
    CHECK(c.settled(kAlice, 120));
    CHECK(c.settled(kCarol, 120));
    CHECK(c.settled(kPeople, 240));
    // Each provider wrote its own share of the aggregate.
    std::string all = joined(ldap_values(*c.consumer.connect(), kPeople, "tallyUsage"));
    INFO(all);
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=1 messages="));
    CHECK_THAT(all, Catch::Contains("day 2026-11-22 sid=2 messages="));
    // An account's usage read on the consumer shows the aggregate's total too.
    auto svc = c.consumer.connect(kServiceDn, kPassword);
    auto r = charge_one(*svc, kAlice, 1, 100, "", Mode::check);
    REQUIRE(r.ldap.code == LDAP_SUCCESS);
    CHECK(r.response.aggregate_dn == kPeople);
    REQUIRE_FALSE(r.response.aggregate_windows.empty());
    std::uint64_t total = 0;
    for (const auto &w : r.response.aggregate_windows)
        if (w.window == "day") total = w.usage[Metric::messages];
    CHECK(total == 240);
}
