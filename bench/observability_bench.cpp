// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* observability_bench - what watching Tally costs: cn=Monitor on vs off, /metrics on vs off
 *
 * SYNOPSIS
 *   observability_bench [--seconds S] [--rounds R] [--connections N] [--markdown FILE]
 *
 * DESCRIPTION
 *   One run, two comparisons (issue 18's target: "on" no more than 2 %
 *   below "off"):
 *     overlay  charges per second against two slapd instances with tally.so,
 *              identical but for a monitor database in one; while the
 *              monitored one is measured, a collector reads its cn=Monitor
 *              entry every second
 *     tallyd   END-OF-MESSAGE requests per second through the policy door of
 *              two tallyd instances on one slapd, identical but for
 *              metrics_listen in one; while it is measured, a scraper GETs
 *              /metrics every second
 *   Both use dbnosync (the CPU-bound case, where an overhead shows most) and
 *   N client connections (default 8). The variants alternate within every
 *   round, the order swapped each round, because the machine is shared and
 *   noisy; the report gives the median of the rounds and the ratio.
 */
#include "http_raw.h"
#include "ldap_ops.h"
#include "milter_process.h"
#include "policy_client.h"
#include "slapd_fixture.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace tally;
using namespace tally::test;
using Clock = std::chrono::steady_clock;

namespace {

/* Periodic - calls fn every second on a thread of its own until destroyed */
class Periodic {
public:
    explicit Periodic(std::function<void()> fn) : fn_(std::move(fn)), thread_([this] { loop(); }) {}
    ~Periodic() {
        stop_ = true;
        thread_.join();
    }
    Periodic(const Periodic &) = delete;
    Periodic &operator=(const Periodic &) = delete;
    long calls() const { return calls_; }

private:
    void loop() {
        auto next = Clock::now();
        while (!stop_) {
            if (Clock::now() >= next) {
                fn_();
                ++calls_;
                next += std::chrono::seconds(1);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    std::function<void()> fn_;
    std::atomic<bool> stop_{false};
    std::atomic<long> calls_{0};
    std::thread thread_;
};

/* Load - N threads each calling one(thread, n) until the time is up;
 * operations per second and failures */
struct Load {
    double ops_per_sec = 0;
    long failures = 0;
};
Load drive(int threads, double seconds, const std::function<std::function<bool(long)>(int)> &make_worker) {
    std::atomic<long> done{0}, failed{0};
    std::atomic<bool> go{false};
    std::vector<std::function<bool(long)>> workers;
    for (int t = 0; t < threads; ++t) workers.push_back(make_worker(t));
    std::vector<std::thread> pool;
    auto end = Clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            while (!go) std::this_thread::yield();
            for (long n = 0; Clock::now() < end; ++n) {
                if (!workers[static_cast<std::size_t>(t)](n)) ++failed;
                ++done;
            }
        });
    auto start = Clock::now();
    go = true;
    for (auto &th : pool) th.join();
    Load l;
    l.ops_per_sec = static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - start).count();
    l.failures = failed;
    return l;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

std::string unique_id() {
    static std::atomic<long> n{0};
    return "OB" + std::to_string(getpid()) + "X" + std::to_string(n++);
}

const char *kOverlay = "tally-window hour\ntally-window day\ntally-timezone UTC\n"
                       "tally-default-limit day messages unlimited\n";

}  // namespace

int main(int argc, char **argv) {
    double seconds = 5;
    int rounds = 5, connections = 8;
    std::string markdown;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--connections") && i + 1 < argc) connections = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--markdown") && i + 1 < argc) markdown = argv[++i];
        else {
            std::fprintf(stderr, "usage: observability_bench [--seconds S] [--rounds R] [--connections N] "
                                 "[--markdown FILE]\n");
            return 2;
        }
    }

    // ---- the overlay: a slapd without and one with a monitor database
    std::map<std::string, std::unique_ptr<Slapd>> slapds;
    for (bool monitor : {false, true}) {
        SlapdOptions o;
        o.overlay_config = kOverlay;
        o.controllable_clock = false;
        if (monitor)
            o.extra_databases = "database monitor\naccess to dn.subtree=\"cn=Monitor\" by dn.exact=\"" +
                                std::string(kRootDn) + "\" read by * none\n";
        auto s = std::make_unique<Slapd>(o);
        s->start();
        slapds[monitor ? "on" : "off"] = std::move(s);
    }
    auto charge_load = [&](const Slapd &s) {
        return drive(connections, seconds, [&](int) {
            auto c = std::shared_ptr<client::Connection>(s.connect(kServiceDn, kPassword));
            return [c](long) {
                auto out = charge_one(*c, kAlice, 2, 2048, unique_id());
                return out.ldap.code == LDAP_SUCCESS && out.response.verdict == Verdict::accepted;
            };
        });
    };
    auto collect = [&](const Slapd &s) {
        auto admin = std::shared_ptr<client::Connection>(s.connect());
        return std::make_unique<Periodic>([admin] {
            client::Search q;
            q.base = "cn=Monitor";
            q.filter = "(objectClass=tallyMonitor)";
            q.attributes = {"namingContexts", "+"};
            client::search(*admin, q);
        });
    };

    // ---- tallyd: one slapd, two daemons serving the policy door, one with /metrics
    SlapdOptions dir;
    dir.overlay_config = kOverlay;
    dir.controllable_clock = false;
    Slapd directory(dir);
    directory.start();
    const int metrics_port = free_loopback_port();
    std::map<std::string, std::unique_ptr<MilterProcess>> daemons;
    for (bool metrics : {false, true}) {
        auto m = std::make_unique<MilterProcess>(directory);
        m->set("policy_listen", m->policy_address());
        m->set("socket", "none");
        m->set("ldap_pool_size", std::to_string(connections));
        m->set("log_level", "info");
        if (metrics) m->set("metrics_listen", "127.0.0.1:" + std::to_string(metrics_port));
        m->start();
        daemons[metrics ? "on" : "off"] = std::move(m);
    }
    auto policy_load = [&](const MilterProcess &m) {
        return drive(connections, seconds, [&](int) {
            auto c = std::make_shared<bench::PolicyClient>(m.policy_port());
            return [c](long) {
                bench::PolicyRequest r;
                r.sasl_username = "alice";
                r.sender = "alice@example.com";
                r.recipient_count = 2;
                r.size = 2048;
                r.queue_id = unique_id();
                r.instance = r.queue_id;
                std::string a = c->request(r);
                return a.rfind("dunno", 0) == 0 || a.rfind("DUNNO", 0) == 0;
            };
        });
    };
    auto scrape = [&] {
        return std::make_unique<Periodic>([metrics_port] {
            http_raw(metrics_port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        });
    };

    std::map<std::string, std::vector<double>> rates;  // "overlay/on" ...
    long failures = 0;
    for (int round = 0; round < rounds; ++round) {
        std::vector<std::string> order = round % 2 ? std::vector<std::string>{"on", "off"}
                                                   : std::vector<std::string>{"off", "on"};
        for (const std::string &v : order) {
            std::unique_ptr<Periodic> watcher = v == "on" ? collect(*slapds[v]) : nullptr;
            Load l = charge_load(*slapds[v]);
            watcher.reset();
            rates["overlay/" + v].push_back(l.ops_per_sec);
            failures += l.failures;
            std::fprintf(stderr, "round %d overlay monitor %-3s %8.0f charges/s failures %ld\n", round + 1, v.c_str(),
                         l.ops_per_sec, l.failures);
        }
        for (const std::string &v : order) {
            std::unique_ptr<Periodic> watcher = v == "on" ? scrape() : nullptr;
            Load l = policy_load(*daemons[v]);
            watcher.reset();
            rates["tallyd/" + v].push_back(l.ops_per_sec);
            failures += l.failures;
            std::fprintf(stderr, "round %d tallyd metrics %-3s %8.0f requests/s failures %ld\n", round + 1, v.c_str(),
                         l.ops_per_sec, l.failures);
        }
    }

    std::string md = "| what | off (per s) | on (per s) | on / off | within 2 % |\n|---|---|---|---|---|\n";
    for (const auto &[what, label] : std::vector<std::pair<std::string, std::string>>{
             {"overlay", "charges, cn=Monitor off / on (read every second)"},
             {"tallyd", "policy requests, /metrics off / on (scraped every second)"}}) {
        double off = median(rates[what + "/off"]), on = median(rates[what + "/on"]);
        double ratio = off > 0 ? on / off : 0;
        char line[256];
        std::snprintf(line, sizeof line, "| %s | %.0f | %.0f | %.3f | %s |\n", label.c_str(), off, on, ratio,
                      ratio >= 0.98 ? "yes" : "no");
        md += line;
    }
    char tail[256];
    std::snprintf(tail, sizeof tail, "\n%d rounds of %.0f s per cell, %d connections, dbnosync; medians. Failed operations: %ld.\n",
                  rounds, seconds, connections, failures);
    md += tail;
    std::printf("%s", md.c_str());
    if (!markdown.empty()) std::ofstream(markdown) << md;
    return failures == 0 ? 0 : 1;
}
