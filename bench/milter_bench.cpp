// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* milter_bench - end to end: Postfix + tallyd + slapd vs Postfix + a milter that accepts everything
 *
 * SYNOPSIS
 *   milter_bench [--seconds S] [--rounds R] [--concurrency N] [--markdown FILE]
 *
 * DESCRIPTION
 *   Two private Postfix instances on loopback, each relaying to its own
 *   smtp-sink: one calls tallyd (against slapd with the overlay,
 *   dbnosync, limits that are never reached), the other calls
 *   accept_milter. N client threads each send one authenticated message
 *   per SMTP session (AUTH PLAIN as their own user, 1 recipient, ~2 KB) as
 *   fast as Postfix accepts them. The systems alternate for several
 *   rounds; the report gives median messages/s, the ratio, and the p50/p99
 *   of the time tallyd spent at end of data (eom_ms in its log).
 */
#include "accept_milter_process.h"
#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using namespace tally;
using namespace tally::test;
using tally::bench::AcceptMilter;
using Clock = std::chrono::steady_clock;

namespace {

std::string users_ldif(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) {
        std::string u = "u" + std::to_string(i);
        s += "\ndn: uid=" + u + ",ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\n"
             "uid: " + u + "\ncn: " + u + "\nsn: " + u + "\nmail: " + u + "@example.com\n";
    }
    return s;
}

/* send_for - N threads, one message per session, for a while; messages accepted per second */
double send_for(int port, int threads, double seconds, long *errors) {
    std::atomic<long> ok{0}, bad{0};
    std::string body = "Subject: bench\r\n\r\n";
    while (body.size() < 2048) body += "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvw\r\n";
    auto end = Clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    std::vector<std::thread> ts;
    auto start = Clock::now();
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            SmtpMessage m;
            m.login = "u" + std::to_string(t);
            m.password = "secret";
            m.from = m.login + "@example.com";
            m.to = {"rcpt@elsewhere.org"};
            m.body = body;
            while (Clock::now() < end) {
                if (smtp_send(port, m).code == 250) ++ok;
                else ++bad;
            }
        });
    }
    for (auto &th : ts) th.join();
    *errors = bad;
    return static_cast<double>(ok) / std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<double> eom_times(const std::string &log) {
    std::vector<double> v;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        auto at = line.rfind(" eom_ms=");
        if (at != std::string::npos) v.push_back(std::stod(line.substr(at + 8)));
    }
    return v;
}

double pct(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double median(std::vector<double> v) { return pct(std::move(v), 0.5); }

}  // namespace

int main(int argc, char **argv) {
    double seconds = 10;
    int rounds = 3, conc = 8;
    std::string markdown;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--concurrency") && i + 1 < argc) conc = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--markdown") && i + 1 < argc) markdown = argv[++i];
        else {
            std::fprintf(stderr, "usage: milter_bench [--seconds S] [--rounds R] [--concurrency N] [--markdown FILE]\n");
            return 2;
        }
    }
    SlapdOptions so;
    so.overlay_config = "tally-window hour\ntally-window day\ntally-timezone UTC\n"
                        "tally-default-limit day messages unlimited\n";
    so.data_ldif = users_ldif(conc);
    so.controllable_clock = false;
    Slapd slapd(so);
    slapd.start();
    MilterProcess tally_milter(slapd, "cache_ttl = 60\n");
    tally_milter.start();
    AcceptMilter accept_milter;

    std::vector<std::pair<std::string, std::string>> users;
    for (int i = 0; i < conc; ++i) users.push_back({"u" + std::to_string(i), "secret"});
    PostfixOptions with_tally, with_accept;
    with_tally.users = with_accept.users = users;
    with_tally.milter = "inet:127.0.0.1:" + std::to_string(tally_milter.port());
    with_accept.milter = "inet:127.0.0.1:" + std::to_string(accept_milter.port());
    Postfix p_tally(with_tally), p_accept(with_accept);

    std::vector<double> rate_tally, rate_accept;
    long err_tally = 0, err_accept = 0;
    for (int r = 0; r < rounds; ++r) {
        long e = 0;
        rate_accept.push_back(send_for(p_accept.smtp_port(), conc, seconds, &e));
        err_accept += e;
        rate_tally.push_back(send_for(p_tally.smtp_port(), conc, seconds, &e));
        err_tally += e;
        std::fprintf(stderr, "round %d: accept-all %.0f msg/s, tally %.0f msg/s\n", r + 1, rate_accept.back(),
                     rate_tally.back());
    }
    auto eom = eom_times(tally_milter.log());
    double mt = median(rate_tally), ma = median(rate_accept);
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "| system | msg/s (median of %d) | ratio | refused/failed sessions | milter at end of data p50 / p99 ms |\n"
                  "|---|---|---|---|---|\n"
                  "| Postfix + accept-everything milter | %.0f | 1.00 | %ld | - |\n"
                  "| Postfix + tallyd + slapd | %.0f | %.2f | %ld | %.2f / %.2f (%zu messages) |\n",
                  rounds, ma, err_accept, mt, ma > 0 ? mt / ma : 0, err_tally, pct(eom, 0.5), pct(eom, 0.99),
                  eom.size());
    std::printf("%s", buf);
    if (!markdown.empty()) std::ofstream(markdown) << buf;
    return err_tally || err_accept ? 1 : 0;
}
