// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* replication_bench - decisions per second with two providers against one, and the excess over a limit at a replication delay
 *
 * SYNOPSIS
 *   replication_bench [--quick] [--seconds S] [--rounds R] [--excess-rounds E]
 *                     [--limits L,L,...] [--excess-conns N] [--delays MS,MS,...]
 *                     [--fsync] [--markdown FILE]
 *
 * DESCRIPTION
 *   Runs slapd-conf/multi-provider/provider.conf as shipped (hostnames and
 *   paths replaced, tests/support/replication_fixture.h) on loopback.
 *
 *   Throughput: charges per second and latency at 1, 4 and 16 connections
 *   on three set-ups, alternating, for several rounds (the machine is
 *   shared and noisy; the medians are reported):
 *     single         one slapd with a plain slapd.conf and the same overlay
 *                    lines: no accesslog, no syncprov (the single-server
 *                    deployment)
 *     one provider   provider.conf on one server, its peer absent
 *     two providers  provider.conf on both, the connections split across them
 *     two providers, counters in the account
 *                    the same without provider.conf's tally-counter-database
 *                    line: both providers write the account entry
 *   Connection t charges its own account (16 accounts, no limit reached) as
 *   the milter's service identity with a queue id as charge id. After each
 *   two-provider cell the bench waits until both providers decide on the
 *   same totals again and reports how long replication took to catch up.
 *
 *   Excess: one fresh account with a daily limit of L messages (100 and
 *   1000 by default), N
 *   connections split over both providers charging one message at a time
 *   as fast as they can until refused, with each provider's syncrepl
 *   reaching the other through a proxy that delays every byte by D ms in
 *   each direction (D = 0: direct, no proxy). Reports accepted - L (median,
 *   min, max over the rounds), the split between the providers, the
 *   observed replication lag of a single charge, and checks that afterwards
 *   every server (both providers and the consumer) holds exactly the count
 *   that was accepted; a mismatch is printed as MISMATCH and the exit
 *   status is 1.
 *
 * DIAGNOSTICS
 *   Progress per cell on stderr; the tables on stdout and in --markdown.
 *   Exit 1 on errors or a mismatch, 2 on bad arguments.
 *
 * BUGS
 *   Client and servers share the machine's cores: two providers on two
 *   cores measure the cost of replication, not the capacity two machines
 *   would add.
 */
#include "replication_fixture.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace tally;
using namespace tally::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kAccounts = 16;  // throughput accounts, one per connection
const char *kOverlayLines = "tally-window hour\ntally-window day\ntally-timezone UTC\n"
                            "tally-default-limit day messages 500\n";  // provider.conf's

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int) { g_interrupted = true; }

void check_interrupt() {
    if (g_interrupted) throw std::runtime_error("interrupted");
}

/* add_account - an account with a daily message limit ("unlimited" or N), added through s */
void add_account(const Slapd &s, const std::string &uid, const std::string &limit) {
    auto root = s.connect();
    std::string text;
    int rc = ldap_add(*root, person_dn(uid),
                      {{"objectClass", {"inetOrgPerson", "tallyAccount"}},
                       {"uid", {uid}},
                       {"cn", {uid}},
                       {"sn", {uid}},
                       {"tallyMessagesPerDay", {limit}}},
                      &text);
    if (rc != LDAP_SUCCESS) throw std::runtime_error("cannot add " + uid + ": " + text);
}

/* wait_entry - until s has the entry (replicated) */
void wait_entry(const Slapd &s, const std::string &uid) {
    if (!wait_until([&] { return !ldap_values(*s.connect(), person_dn(uid), "uid").empty(); }, 60000))
        throw std::runtime_error(uid + " did not replicate to " + s.uri());
}

double percentile(std::vector<double> &v, double p) {
    if (v.empty()) return 0;
    std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// ---- throughput ----

struct Result {
    double ops_per_sec = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    long errors = 0;
    double settle_ms = 0;  // two providers: until both decide on the same totals again
};

/* run - conns connections, connection t on servers[t % n] charging account bench-t, for seconds */
Result run(const std::vector<const Slapd *> &servers, int conns, double seconds, long &serial) {
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(conns));
    std::atomic<long> errors{0};
    std::atomic<bool> go{false};
    std::vector<std::unique_ptr<client::Connection>> cs;
    for (int t = 0; t < conns; ++t)
        cs.push_back(servers[static_cast<std::size_t>(t) % servers.size()]->connect(kServiceDn, kPassword));
    long base = serial++;
    auto end = Clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    std::vector<std::thread> threads;
    for (int t = 0; t < conns; ++t) {
        threads.emplace_back([&, t] {
            auto &c = *cs[static_cast<std::size_t>(t)];
            auto &l = lat[static_cast<std::size_t>(t)];
            ChargeRequest r;
            r.account = person_dn("bench-" + std::to_string(t % kAccounts));
            r.recipients = 2;
            r.bytes = 2048;
            long n = 0;
            while (!go) std::this_thread::yield();
            while (Clock::now() < end && !g_interrupted) {
                // a queue id, as the milter sends: the account keeps the recent ones
                r.charge_id = "R" + std::to_string(base) + "C" + std::to_string(t) + "Q" + std::to_string(n++);
                auto t0 = Clock::now();
                auto out = client::charge(c, r);
                l.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                if (out.ldap.code != LDAP_SUCCESS || out.response.verdict != Verdict::accepted) ++errors;
            }
        });
    }
    auto start = Clock::now();
    go = true;
    for (auto &th : threads) th.join();
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    check_interrupt();
    std::vector<double> all;
    for (auto &l : lat) all.insert(all.end(), l.begin(), l.end());
    Result res;
    res.ops_per_sec = static_cast<double>(all.size()) / elapsed;
    res.p50_ms = percentile(all, 0.50);
    res.p99_ms = percentile(all, 0.99);
    res.errors = errors;
    return res;
}

/* settle_ms - how long until p1 and p2 decide on the same totals for the first conns accounts */
double settle_ms(const Cluster &c, int conns) {
    auto t0 = Clock::now();
    bool ok = wait_until(
        [&] {
            for (int t = 0; t < std::min(conns, kAccounts); ++t) {
                auto dn = person_dn("bench-" + std::to_string(t));
                if (usage_on(c.p1, dn) != usage_on(c.p2, dn)) return false;
            }
            return true;
        },
        120000);
    if (!ok) throw std::runtime_error("the two providers did not converge within 120 s after a throughput cell");
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// ---- excess ----

struct Trial {
    long accepted = 0;
    long on_p1 = 0, on_p2 = 0;
    long errors = 0;
    double refusal_ms = 0;  // from the start until every connection was refused
    double lag_ms = 0;      // one charge on p1 until p2 decides on it
    bool exact = true;      // every server holds exactly `accepted` afterwards
    std::string mismatch;
};

/* lag_probe - one charge on p1 until p2 counts it: the replication lag as a decision sees it */
double lag_probe(const Cluster &c, const std::string &probe) {
    auto before = usage_on(c.p2, person_dn(probe));
    auto conn = c.p1.connect(kServiceDn, kPassword);
    auto t0 = Clock::now();
    if (charge_one(*conn, person_dn(probe)).response.verdict != Verdict::accepted)
        throw std::runtime_error("the lag probe was not accepted");
    auto check = c.p2.connect();
    while (true) {
        ChargeRequest r;
        r.account = person_dn(probe);
        r.messages = 0;
        r.mode = Mode::check;
        auto out = client::charge(*check, r);
        if (out.ldap.code == LDAP_SUCCESS && used(out.response, "day") > before) break;
        if (Clock::now() - t0 > std::chrono::seconds(60)) throw std::runtime_error("the lag probe never arrived");
        check_interrupt();
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

Trial excess_trial(Cluster &c, const std::string &uid, int limit, int conns) {
    Trial tr;
    tr.lag_ms = lag_probe(c, "probe");
    add_account(c.p1, uid, std::to_string(limit));
    wait_entry(c.p2, uid);
    wait_entry(c.consumer, uid);
    const std::string dn = person_dn(uid);
    std::vector<std::unique_ptr<client::Connection>> cs;
    for (int t = 0; t < conns; ++t) cs.push_back((t % 2 ? c.p2 : c.p1).connect(kServiceDn, kPassword));
    std::atomic<long> on1{0}, on2{0}, errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < conns; ++t) {
        threads.emplace_back([&, t] {
            auto &conn = *cs[static_cast<std::size_t>(t)];
            while (!go) std::this_thread::yield();
            // as fast as it can until refused (a bound in case a refusal never comes)
            for (int i = 0; i < 100 * limit && !g_interrupted; ++i) {
                ChargeRequest r;
                r.account = dn;
                r.recipients = 1;
                r.bytes = 100;
                auto out = client::charge(conn, r);
                if (out.ldap.code != LDAP_SUCCESS) {
                    ++errors;
                    break;
                }
                if (out.response.verdict != Verdict::accepted) break;
                ++(t % 2 ? on2 : on1);
            }
        });
    }
    auto t0 = Clock::now();
    go = true;
    for (auto &th : threads) th.join();
    tr.refusal_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    check_interrupt();
    tr.on_p1 = on1;
    tr.on_p2 = on2;
    tr.accepted = on1 + on2;
    tr.errors = errors;
    auto want = static_cast<std::uint64_t>(tr.accepted);
    if (!c.settled(dn, want, 60000)) {
        tr.exact = false;
        std::ostringstream m;
        m << "p1=" << usage_on(c.p1, dn) << " p2=" << usage_on(c.p2, dn) << " consumer=" << usage_on(c.consumer, dn)
          << " accepted=" << tr.accepted;
        tr.mismatch = m.str();
    }
    return tr;
}

std::vector<int> parse_list(const std::string &s) {
    std::vector<int> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
    return out;
}

std::string fmt(const char *f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

}  // namespace

int main(int argc, char **argv) {
    double seconds = 3;
    int rounds = 5, excess_rounds = 5, excess_conns = 8;
    std::vector<int> limits{100, 1000};
    std::vector<int> delays{0, 10, 50, 200};
    std::vector<int> conn_counts{1, 4, 16};
    bool fsync = false;
    std::string markdown;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        bool more = i + 1 < argc;
        if (a == "--quick") {
            seconds = 1;
            rounds = 1;
            excess_rounds = 3;
            limits = {100};
            delays = {0, 50, 200};
        } else if (a == "--seconds" && more) seconds = std::atof(argv[++i]);
        else if (a == "--rounds" && more) rounds = std::atoi(argv[++i]);
        else if (a == "--excess-rounds" && more) excess_rounds = std::atoi(argv[++i]);
        else if (a == "--limits" && more) limits = parse_list(argv[++i]);
        else if (a == "--excess-conns" && more) excess_conns = std::atoi(argv[++i]);
        else if (a == "--delays" && more) delays = parse_list(argv[++i]);
        else if (a == "--fsync") fsync = true;
        else if (a == "--markdown" && more) markdown = argv[++i];
        else {
            std::fprintf(stderr, "usage: replication_bench [--quick] [--seconds S] [--rounds R] [--excess-rounds E] "
                                 "[--limits L,...] [--excess-conns N] [--delays MS,...] [--fsync] [--markdown FILE]\n");
            return 2;
        }
    }
    if (seconds <= 0 || rounds < 1 || excess_rounds < 1 || limits.empty() || excess_conns < 2 || delays.empty() ||
        *std::min_element(limits.begin(), limits.end()) < 1 || *std::min_element(delays.begin(), delays.end()) < 0) {
        std::fprintf(stderr, "replication_bench: bad arguments\n");
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::string md;
    bool ok = true;
    try {
        const char *durability = fsync ? "fsync" : "dbnosync";
        // ---- throughput ----
        {
            SlapdOptions so;
            so.overlay_config = kOverlayLines;
            so.nosync = !fsync;
            so.controllable_clock = false;
            Slapd single(so);
            single.start();
            ClusterOptions one;
            one.consumer = false;
            one.second_provider = false;
            one.nosync = !fsync;
            one.controllable_clock = false;
            Cluster alone(one);
            alone.start();
            ClusterOptions two = one;
            two.second_provider = true;
            Cluster pair(two);
            pair.start();
            ClusterOptions two_in_account = two;
            two_in_account.counters_in_account = true;
            Cluster pair_in_account(two_in_account);
            pair_in_account.start();
            for (int a = 0; a < kAccounts; ++a) {
                std::string uid = "bench-" + std::to_string(a);
                add_account(single, uid, "unlimited");
                add_account(alone.p1, uid, "unlimited");
                add_account(pair.p1, uid, "unlimited");
                add_account(pair_in_account.p1, uid, "unlimited");
            }
            wait_entry(pair.p2, "bench-" + std::to_string(kAccounts - 1));
            wait_entry(pair_in_account.p2, "bench-" + std::to_string(kAccounts - 1));
            const std::string in_account = "two providers, counters in the account";
            const std::vector<std::string> setups{"single", "one provider", "two providers", in_account};
            std::map<std::string, std::vector<Result>> results;  // "setup/conns"
            long serial = 0;
            for (int round = 0; round < rounds; ++round) {
                for (int conns : conn_counts) {
                    for (const auto &setup : setups) {
                        Cluster *both = setup == "two providers" ? &pair
                                        : setup == in_account     ? &pair_in_account
                                                                  : nullptr;
                        std::vector<const Slapd *> servers;
                        if (both) servers = {&both->p1, &both->p2};
                        else servers = {setup == "single" ? &single : &alone.p1};
                        Result r = run(servers, conns, seconds, serial);
                        if (both) r.settle_ms = settle_ms(*both, conns);
                        std::fprintf(stderr,
                                     "round %d %-13s %2d conn: %7.0f charges/s p50 %.2f ms p99 %.2f ms errors %ld "
                                     "settle %.0f ms\n",
                                     round + 1, setup.c_str(), conns, r.ops_per_sec, r.p50_ms, r.p99_ms, r.errors,
                                     r.settle_ms);
                        results[setup + "/" + std::to_string(conns)].push_back(r);
                    }
                }
            }
            auto med = [](const std::vector<Result> &v, double Result::*f) {
                std::vector<double> x;
                for (auto &r : v) x.push_back(r.*f);
                return median(x);
            };
            md += "## Throughput: two providers against one\n\n";
            md += "| setup | connections | charges/s | vs single | vs one provider | p50 ms | p99 ms | catch-up ms | errors |\n"
                  "|---|---|---|---|---|---|---|---|---|\n";
            for (int conns : conn_counts) {
                double single_ops = med(results["single/" + std::to_string(conns)], &Result::ops_per_sec);
                double one_ops = med(results["one provider/" + std::to_string(conns)], &Result::ops_per_sec);
                for (const auto &setup : setups) {
                    auto &v = results[setup + "/" + std::to_string(conns)];
                    long errs = 0;
                    for (auto &r : v) errs += r.errors;
                    if (errs) ok = false;
                    double ops = med(v, &Result::ops_per_sec);
                    md += "| " + setup + " | " + std::to_string(conns) + " | " + fmt("%.0f", ops) + " | " +
                          fmt("%.2f", single_ops > 0 ? ops / single_ops : 0) + " | " +
                          fmt("%.2f", one_ops > 0 ? ops / one_ops : 0) + " | " + fmt("%.2f", med(v, &Result::p50_ms)) +
                          " | " + fmt("%.2f", med(v, &Result::p99_ms)) + " | " +
                          (setup.starts_with("two providers") ? fmt("%.0f", med(v, &Result::settle_ms))
                                                               : std::string("–")) +
                          " | " + std::to_string(errs) + " |\n";
                }
            }
            md += "\n" + std::to_string(rounds) + " rounds of " + fmt("%g", seconds) + " s per cell, " + durability +
                  "; catch-up: after the cell, until both providers decide on the same totals.\n";
        }
        // ---- excess ----
        {
            ClusterOptions o;
            o.nosync = !fsync;
            o.controllable_clock = false;
            std::unique_ptr<Cluster> direct, proxied;
            if (std::find(delays.begin(), delays.end(), 0) != delays.end()) {
                direct = std::make_unique<Cluster>(o);
                direct->start();
                add_account(direct->p1, "probe", "unlimited");
            }
            if (std::any_of(delays.begin(), delays.end(), [](int d) { return d > 0; })) {
                ClusterOptions p = o;
                p.proxied = true;
                proxied = std::make_unique<Cluster>(p);
                proxied->start();
                add_account(proxied->p1, "probe", "unlimited");
            }
            for (Cluster *c : {direct.get(), proxied.get()})
                if (c) {
                    wait_entry(c->p2, "probe");
                    wait_entry(c->consumer, "probe");
                }
            std::vector<std::pair<int, int>> cells;  // (limit, delay)
            for (int limit : limits)
                for (int d : delays) cells.emplace_back(limit, d);
            std::map<std::pair<int, int>, std::vector<Trial>> trials;
            for (int round = 0; round < excess_rounds; ++round) {
                for (auto [limit, d] : cells) {
                    Cluster &c = d == 0 ? *direct : *proxied;
                    if (d > 0) c.set_delay(d);
                    std::string uid = "ex-" + std::to_string(round) + "-" + std::to_string(limit) + "-" + std::to_string(d);
                    Trial tr = excess_trial(c, uid, limit, excess_conns);
                    std::fprintf(stderr,
                                 "round %d limit %d delay %3d ms: accepted %ld (p1 %ld, p2 %ld), excess %ld, refused after %.0f ms, "
                                 "lag %.1f ms, errors %ld%s%s\n",
                                 round + 1, limit, d, tr.accepted, tr.on_p1, tr.on_p2, tr.accepted - limit, tr.refusal_ms,
                                 tr.lag_ms, tr.errors, tr.exact ? "" : " MISMATCH ", tr.mismatch.c_str());
                    if (!tr.exact || tr.errors) ok = false;
                    trials[{limit, d}].push_back(tr);
                }
            }
            md += "\n## Excess over a limit at a replication delay\n\n";
            md += "| limit | delay ms | observed lag ms | accepted | excess (median) | excess min–max | on p1 / p2 | "
                  "refused after ms | servers hold the accepted count |\n|---|---|---|---|---|---|---|---|---|\n";
            for (auto [limit, d] : cells) {
                auto &v = trials[{limit, d}];
                std::vector<double> acc, exc, p1, p2, ref, lag;
                long mismatches = 0, errs = 0;
                for (auto &t : v) {
                    acc.push_back(static_cast<double>(t.accepted));
                    exc.push_back(static_cast<double>(t.accepted - limit));
                    p1.push_back(static_cast<double>(t.on_p1));
                    p2.push_back(static_cast<double>(t.on_p2));
                    ref.push_back(t.refusal_ms);
                    lag.push_back(t.lag_ms);
                    if (!t.exact) ++mismatches;
                    errs += t.errors;
                }
                std::string hold = mismatches ? "**MISMATCH in " + std::to_string(mismatches) + " of " +
                                                    std::to_string(v.size()) + " rounds**"
                                              : "exactly, " + std::to_string(v.size()) + " of " + std::to_string(v.size());
                if (errs) hold += " (" + std::to_string(errs) + " errors)";
                md += "| " + std::to_string(limit) + " | " + (d == 0 ? std::string("0 (direct)") : std::to_string(d)) +
                      " | " + fmt("%.1f", median(lag)) + " | " + fmt("%.0f", median(acc)) + " | " + fmt("%.0f", median(exc)) +
                      " | " + fmt("%.0f", *std::min_element(exc.begin(), exc.end())) + "–" +
                      fmt("%.0f", *std::max_element(exc.begin(), exc.end())) + " | " + fmt("%.0f", median(p1)) + " / " +
                      fmt("%.0f", median(p2)) + " | " + fmt("%.0f", median(ref)) + " | " + hold + " |\n";
            }
            md += "\n" + std::to_string(excess_rounds) + " rounds, " + std::to_string(excess_conns) +
                  " connections (half on each provider), one message per charge, " + durability +
                  "; delay: added by a proxy in each direction between the providers; observed lag: one charge on "
                  "p1 until p2 counts it, idle, before each trial (under load replication falls further behind: "
                  "the catch-up column above).\n";
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "replication_bench: %s\n", e.what());
        return 1;
    }
    std::printf("%s", md.c_str());
    if (!markdown.empty()) std::ofstream(markdown) << md;
    if (!ok) std::fprintf(stderr, "replication_bench: errors or MISMATCH (see above)\n");
    return ok ? 0 : 1;
}
