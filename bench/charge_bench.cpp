// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* charge_bench - charge operations per second against a plain LDAP modify
 *
 * SYNOPSIS
 *   charge_bench [--seconds S] [--rounds R] [--markdown FILE] [--only charge|modify]
 *                [--mdb-envflags FLAGS|none] [--openldap PROFILE]...
 *   charge_bench --counter-database [--seconds S] [--rounds R] [--markdown FILE]
 *   charge_bench --aggregate [--seconds S] [--rounds R] [--markdown FILE]
 *
 * DESCRIPTION
 *   Starts two private slapd instances with tally.so on loopback (one with
 *   fsync on every commit, one with dbnosync) for each OpenLDAP release
 *   named by --openldap (a profile CMake writes, build/tests/openldap-X.Y.profile;
 *   default: the test run's, i.e. Debian's slapd), and in each runs,
 *   alternating across all of them and for several rounds because the
 *   machine is shared and noisy:
 *     charge  the Tally charge extended operation (as the milter's service
 *             identity, through the ACLs, with a queue id as charge id), one
 *             account, always accepted
 *     modify  a plain LDAP modify replacing one attribute of the same entry
 *             (as rootdn): one LMDB write, the physical limit here
 *   at 1 and 8 connections. Reports the median throughput and latency
 *   percentiles of the rounds, and the charge/modify ratio. The databases
 *   use back-mdb's envflags writemap, as slapd-conf/slapd.conf recommends
 *   (--mdb-envflags none: LMDB's default). --only profiles one kind: slapd
 *   and client CPU per operation, dbnosync, 1 connection.
 *
 *   --counter-database compares instead where the counters live (issue
 *   22): in the account entry (the default) or in an entry of their own
 *   (tally-counter-database), for an account entry of about 1 KB and of
 *   about 40 KB (a jpegPhoto), fsync and dbnosync, 1 and 8 connections,
 *   on the test run's slapd.
 *
 *   --aggregate compares a charge of an account that counts in an
 *   aggregate (a whole-domain quota, issue 19: two entries decided and
 *   written) with a plain charge, in the same slapd, alternating: 8
 *   accounts of one aggregate vs 8 accounts without one, fsync and
 *   dbnosync, 1 and 8 connections (connection i charges account i).
 */
#include "slapd_fixture.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>
#include <string>
#include <thread>
#include <vector>

using namespace tally;
using namespace tally::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
    double ops_per_sec = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    long errors = 0;
};

double percentile(std::vector<double> &v, double p) {
    if (v.empty()) return 0;
    std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

Result run(const Slapd &s, const std::string &kind, int conns, double seconds,
           const std::vector<std::string> &accounts = {kAlice}) {
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(conns));
    std::atomic<long> errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<client::Connection>> cs;
    for (int i = 0; i < conns; ++i)
        cs.push_back(kind == "charge" ? s.connect(kServiceDn, kPassword) : s.connect());
    auto end = Clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    for (int t = 0; t < conns; ++t) {
        threads.emplace_back([&, t] {
            auto &c = *cs[static_cast<std::size_t>(t)];
            auto &l = lat[static_cast<std::size_t>(t)];
            long n = 0;
            while (!go) std::this_thread::yield();
            while (Clock::now() < end) {
                auto t0 = Clock::now();
                bool ok;
                if (kind == "charge") {
                    ChargeRequest r;
                    r.account = accounts[static_cast<std::size_t>(t) % accounts.size()];
                    r.recipients = 2;
                    r.bytes = 2048;
                    // a queue id, as the milter sends: the account keeps the recent ones
                    r.charge_id = "B" + std::to_string(t) + "Q" + std::to_string(n++);
                    auto out = client::charge(c, r);
                    ok = out.ldap.code == LDAP_SUCCESS && out.response.verdict == Verdict::accepted;
                } else {
                    ok = ldap_modify(c, kAlice, LDAP_MOD_REPLACE, "description",
                                     {"bench " + std::to_string(t) + " " + std::to_string(n++)}) == LDAP_SUCCESS;
                }
                l.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                if (!ok) ++errors;
            }
        });
    }
    auto start = Clock::now();
    go = true;
    for (auto &th : threads) th.join();
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (auto &l : lat) all.insert(all.end(), l.begin(), l.end());
    Result r;
    r.ops_per_sec = static_cast<double>(all.size()) / elapsed;
    r.p50_ms = percentile(all, 0.50);
    r.p99_ms = percentile(all, 0.99);
    r.errors = errors;
    return r;
}

/* cpu_seconds - user + system CPU time of a process so far */
double cpu_seconds(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
        if (i == 14 || i == 15) ticks += std::stod(field);
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

/* pad_account - make alice's entry about bytes long: a description for a
 * small entry, a jpegPhoto for a large one (as directories hold them) */
void pad_account(const Slapd &s, std::size_t bytes) {
    auto root = s.connect();
    ldap_modify(*root, kAlice, LDAP_MOD_DELETE, "jpegPhoto", {});
    ldap_modify(*root, kAlice, LDAP_MOD_DELETE, "description", {});
    if (bytes > 4096)
        ldap_modify(*root, kAlice, LDAP_MOD_ADD, "jpegPhoto", {std::string(bytes, '\xff')});
    else
        ldap_modify(*root, kAlice, LDAP_MOD_ADD, "description", {std::string(bytes - 400, 'd')});
}

/* counter_database_comparison - counters in the account vs in an entry of their own */
int counter_database_comparison(double seconds, int rounds, const std::string &markdown) {
    const char *overlay = "tally-window hour\ntally-window day\ntally-window month\ntally-timezone UTC\n"
                          "tally-default-limit day messages unlimited\n";
    struct Server {
        std::string sync, place;
        std::unique_ptr<Slapd> slapd;
    };
    std::vector<Server> servers;
    for (bool nosync : {false, true})
        for (bool apart : {false, true}) {
            SlapdOptions o;
            o.overlay_config = std::string(overlay) + (apart ? "tally-counter-database dc=example,dc=com\n" : "");
            o.nosync = nosync;
            o.mdb_envflags = "writemap";
            o.controllable_clock = false;
            servers.push_back({nosync ? "dbnosync" : "fsync", apart ? "apart" : "account", std::make_unique<Slapd>(o)});
            servers.back().slapd->start();
        }
    const std::vector<std::pair<std::string, std::size_t>> sizes = {{"1 KB", 1024}, {"40 KB", 40 * 1024}};
    std::map<std::string, std::vector<Result>> results;  // "size/sync/place/conns"
    for (const auto &[label, bytes] : sizes) {
        for (const Server &sv : servers) pad_account(*sv.slapd, bytes);
        for (int round = 0; round < rounds; ++round)
            for (const Server &sv : servers)
                for (int conns : {1, 8}) {
                    Result r = run(*sv.slapd, "charge", conns, seconds);
                    std::fprintf(stderr, "round %d %-5s %-8s %-7s %d conn: %8.0f ops/s p50 %.2f ms p99 %.2f ms errors %ld\n",
                                 round + 1, label.c_str(), sv.sync.c_str(), sv.place.c_str(), conns, r.ops_per_sec,
                                 r.p50_ms, r.p99_ms, r.errors);
                    results[label + "/" + sv.sync + "/" + sv.place + "/" + std::to_string(conns)].push_back(r);
                }
    }
    auto med = [](const std::vector<Result> &v, double Result::*f) {
        std::vector<double> x;
        for (auto &r : v) x.push_back(r.*f);
        return median(x);
    };
    std::string md = "| account entry | durability | connections | counters in the account, charges/s | "
                     "counter database, charges/s | ratio | p99 ms in account / apart | errors |\n"
                     "|---|---|---|---|---|---|---|---|\n";
    long all_errors = 0;
    for (const auto &[label, bytes] : sizes)
        for (const char *sync : {"fsync", "dbnosync"})
            for (int conns : {1, 8}) {
                std::string cell = label + "/" + sync + "/";
                auto &in = results[cell + "account/" + std::to_string(conns)];
                auto &apart = results[cell + "apart/" + std::to_string(conns)];
                long errs = 0;
                for (auto &r : in) errs += r.errors;
                for (auto &r : apart) errs += r.errors;
                all_errors += errs;
                double a = med(in, &Result::ops_per_sec), b = med(apart, &Result::ops_per_sec);
                char line[512];
                std::snprintf(line, sizeof line, "| %s | %s | %d | %.0f | %.0f | %.2f | %.2f / %.2f | %ld |\n",
                              label.c_str(), sync, conns, a, b, a > 0 ? b / a : 0, med(in, &Result::p99_ms),
                              med(apart, &Result::p99_ms), errs);
                md += line;
            }
    std::printf("%s", md.c_str());
    if (!markdown.empty()) std::ofstream(markdown) << md;
    return all_errors == 0 ? 0 : 1;
}

/* aggregate_comparison - a charge with an aggregate vs without, one run */
int aggregate_comparison(double seconds, int rounds, const std::string &markdown) {
    std::vector<std::string> plain, member;
    std::string ldif = "\ndn: ou=plain,dc=example,dc=com\nobjectClass: organizationalUnit\nou: plain\n"
                       "\ndn: ou=hosted,dc=example,dc=com\nobjectClass: organizationalUnit\nobjectClass: tallyAggregate\n"
                       "ou: hosted\ntallyAggregateLimit: day messages 1000000000\n";
    for (int i = 0; i < 8; ++i)
        for (const char *ou : {"plain", "hosted"}) {
            std::string uid = std::string(ou).substr(0, 1) + std::to_string(i);
            std::string dn = "uid=" + uid + ",ou=" + ou + ",dc=example,dc=com";
            (ou[0] == 'p' ? plain : member).push_back(dn);
            ldif += "\ndn: " + dn + "\nobjectClass: inetOrgPerson\nobjectClass: tallyAccount\nuid: " + uid +
                    "\ncn: " + uid + "\nsn: " + uid + "\n";
        }
    struct Server {
        std::string sync;
        std::unique_ptr<Slapd> slapd;
    };
    std::vector<Server> servers;
    for (bool nosync : {false, true}) {
        SlapdOptions o;
        o.overlay_config = "tally-window hour\ntally-window day\ntally-window month\ntally-timezone UTC\n"
                           "tally-default-limit day messages unlimited\n";
        o.nosync = nosync;
        o.mdb_envflags = "writemap";
        o.controllable_clock = false;
        o.data_ldif = ldif;
        servers.push_back({nosync ? "dbnosync" : "fsync", std::make_unique<Slapd>(o)});
        servers.back().slapd->start();
    }
    std::map<std::string, std::vector<Result>> results;  // "sync/kind/conns"
    for (int round = 0; round < rounds; ++round)
        for (const Server &sv : servers)
            for (int conns : {1, 8})
                for (const char *kind : {"plain", "aggregate"}) {
                    Result r = run(*sv.slapd, "charge", conns, seconds, kind[0] == 'p' ? plain : member);
                    std::fprintf(stderr, "round %d %-8s %-9s %d conn: %8.0f ops/s p50 %.2f ms p99 %.2f ms errors %ld\n",
                                 round + 1, sv.sync.c_str(), kind, conns, r.ops_per_sec, r.p50_ms, r.p99_ms, r.errors);
                    results[sv.sync + "/" + kind + "/" + std::to_string(conns)].push_back(r);
                }
    auto med = [](const std::vector<Result> &v, double Result::*f) {
        std::vector<double> x;
        for (auto &r : v) x.push_back(r.*f);
        return median(x);
    };
    std::string md = "| durability | connections | plain charges/s | with an aggregate, charges/s | ratio | "
                     "p99 ms plain / aggregate | errors |\n|---|---|---|---|---|---|---|\n";
    long all_errors = 0;
    for (const Server &sv : servers)
        for (int conns : {1, 8}) {
            auto &a = results[sv.sync + "/plain/" + std::to_string(conns)];
            auto &b = results[sv.sync + "/aggregate/" + std::to_string(conns)];
            long errs = 0;
            for (auto &r : a) errs += r.errors;
            for (auto &r : b) errs += r.errors;
            all_errors += errs;
            double x = med(a, &Result::ops_per_sec), y = med(b, &Result::ops_per_sec);
            char line[512];
            std::snprintf(line, sizeof line, "| %s | %d | %.0f | %.0f | %.2f | %.2f / %.2f | %ld |\n", sv.sync.c_str(),
                          conns, x, y, x > 0 ? y / x : 0, med(a, &Result::p99_ms), med(b, &Result::p99_ms), errs);
            md += line;
        }
    std::printf("%s", md.c_str());
    if (!markdown.empty()) std::ofstream(markdown) << md;
    return all_errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    double seconds = 3;
    int rounds = 5;
    std::string markdown;
    std::string only;  // "charge" or "modify": profile one kind (nosync, 1 connection)
    std::string envflags = "writemap";  // back-mdb envflags, as slapd-conf/slapd.conf recommends
    std::vector<OpenLdapInstall> releases;
    bool counter_database = false, aggregate = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--aggregate")) {
            aggregate = true;
            continue;
        }
        if (!std::strcmp(argv[i], "--counter-database")) {
            counter_database = true;
            continue;
        }
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--markdown") && i + 1 < argc) markdown = argv[++i];
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!std::strcmp(argv[i], "--mdb-envflags") && i + 1 < argc) envflags = argv[++i];
        else if (!std::strcmp(argv[i], "--openldap") && i + 1 < argc) releases.push_back(load_openldap_profile(argv[++i]));
        else {
            std::fprintf(stderr, "usage: charge_bench [--seconds S] [--rounds R] [--markdown FILE] [--only charge|modify] "
                         "[--mdb-envflags FLAGS|none] [--openldap PROFILE]...\n"
                         "       charge_bench --counter-database [--seconds S] [--rounds R] [--markdown FILE]\n"
                         "       charge_bench --aggregate [--seconds S] [--rounds R] [--markdown FILE]\n");
            return 2;
        }
    }
    if (counter_database) return counter_database_comparison(seconds, rounds, markdown);
    if (aggregate) return aggregate_comparison(seconds, rounds, markdown);
    if (releases.empty()) releases.push_back(openldap());
    const char *overlay = "tally-window hour\ntally-window day\ntally-window month\ntally-timezone UTC\n"
                          "tally-default-limit day messages unlimited\n";
    std::map<std::string, std::vector<Result>> results;  // "release/sync/kind/conns"
    struct Server {
        std::string release, sync;
        std::unique_ptr<Slapd> slapd;
    };
    std::vector<Server> servers;  // per release: fsync, then dbnosync
    for (const OpenLdapInstall &release : releases) {
        for (bool nosync : {false, true}) {
            SlapdOptions o;
            o.overlay_config = overlay;
            o.nosync = nosync;
            o.mdb_envflags = envflags == "none" ? "" : envflags;
            o.controllable_clock = false;
            o.openldap = release;
            servers.push_back({release.version.empty() ? "default" : release.version, nosync ? "dbnosync" : "fsync",
                               std::make_unique<Slapd>(o)});
            servers.back().slapd->start();
        }
    }
    if (!only.empty()) {
        for (const Server &sv : servers) {
            if (sv.sync != "dbnosync") continue;
            double server0 = cpu_seconds(sv.slapd->pid()), client0 = own_cpu_seconds();
            Result r = run(*sv.slapd, only, 1, seconds);
            double ops = r.ops_per_sec * seconds;
            std::printf("%s slapd %s dbnosync 1 conn: %.0f ops/s p50 %.3f ms; CPU per op: slapd %.1f us, client %.1f us\n",
                        only.c_str(), sv.release.c_str(), r.ops_per_sec, r.p50_ms,
                        (cpu_seconds(sv.slapd->pid()) - server0) / ops * 1e6, (own_cpu_seconds() - client0) / ops * 1e6);
        }
        return 0;
    }
    for (int round = 0; round < rounds; ++round) {
        for (const Server &sv : servers) {
            for (int conns : {1, 8}) {
                for (const char *kind : {"charge", "modify"}) {
                    Result r = run(*sv.slapd, kind, conns, seconds);
                    std::fprintf(stderr,
                                 "round %d slapd %s %-8s %-6s %d conn: %8.0f ops/s p50 %.2f ms p99 %.2f ms errors %ld\n",
                                 round + 1, sv.release.c_str(), sv.sync.c_str(), kind, conns, r.ops_per_sec, r.p50_ms,
                                 r.p99_ms, r.errors);
                    results[sv.release + "/" + sv.sync + "/" + kind + "/" + std::to_string(conns)].push_back(r);
                }
            }
        }
    }
    std::string md = "| slapd | durability | connections | charge ops/s | modify ops/s | ratio | charge p50 ms "
                     "| charge p99 ms | modify p50 ms | modify p99 ms | errors |\n"
                     "|---|---|---|---|---|---|---|---|---|---|---|\n";
    bool ok = true;
    for (const Server &sv : servers) {
        for (int conns : {1, 8}) {
            std::string cell = sv.release + "/" + sv.sync + "/";
            auto &c = results[cell + "charge/" + std::to_string(conns)];
            auto &m = results[cell + "modify/" + std::to_string(conns)];
            auto med = [](const std::vector<Result> &v, double Result::*f) {
                std::vector<double> x;
                for (auto &r : v) x.push_back(r.*f);
                return median(x);
            };
            long errs = 0;
            for (auto &r : c) errs += r.errors;
            for (auto &r : m) errs += r.errors;
            double cops = med(c, &Result::ops_per_sec), mops = med(m, &Result::ops_per_sec);
            char line[512];
            std::snprintf(line, sizeof line, "| %s | %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %ld |\n",
                          sv.release.c_str(), sv.sync.c_str(), conns, cops, mops, mops > 0 ? cops / mops : 0, med(c, &Result::p50_ms),
                          med(c, &Result::p99_ms), med(m, &Result::p50_ms), med(m, &Result::p99_ms), errs);
            md += line;
            if (errs) ok = false;
        }
    }
    std::printf("%s", md.c_str());
    if (!markdown.empty()) std::ofstream(markdown) << md;
    return ok ? 0 : 1;
}
