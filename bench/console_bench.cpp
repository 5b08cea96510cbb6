// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* console_bench - the web console's domain page for a large domain, and its memory per session
 *
 * SYNOPSIS
 *   console_bench [--accounts N] [--requests R] [--sessions S] [--markdown FILE]
 *
 * DESCRIPTION
 *   Starts slapd with tally.so (the web test directory) plus a domain
 *   ou=big.example of N accounts (default 10,000) with its admins group
 *   (bigadmin), charges a tenth of the accounts once so the page has usage
 *   to sort, starts the built tally-web, logs in as bigadmin and times R
 *   requests (default 20) of the domain page's first screen (sorted by
 *   usage, paged at 50, the limits of the 50 rows from check-mode charges),
 *   then of page 100 sorted by name. Then it logs in S times (default
 *   1,000: S sessions, each holding its own LDAP connection bound as the
 *   person) and reports tally-web's resident memory before and after.
 *   Everything on loopback in temporary folders, stopped by PID.
 */
#include "http_raw.h"
#include "web_console.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace tally;
using namespace tally::test;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kib(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

std::string big_domain(int n) {
    std::ostringstream s;
    s << "\ndn: ou=big.example,dc=example,dc=com\nobjectClass: organizationalUnit\nou: big.example\n"
      << web_domain_admin_ldif("big.example", "bigadmin");
    for (int i = 0; i < n; ++i)
        s << "\ndn: uid=u" << i << ",ou=big.example,dc=example,dc=com\nobjectClass: inetOrgPerson\n"
          << "objectClass: tallyAccount\nuid: u" << i << "\ncn: User " << i << "\nsn: u" << i << "\nmail: u" << i
          << "@big.example\n";
    return s.str();
}

struct Timing {
    double p50 = 0, p90 = 0, max = 0;
};

Timing time_requests(WebClient &c, const std::string &path, int n, int *status) {
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        auto a = c.get(path);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        *status = a.status;
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms[ms.size() * 9 / 10], ms.back()};
}

}  // namespace

int main(int argc, char **argv) {
    int accounts = 10000, requests = 20, sessions = 1000;
    std::string markdown;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--accounts") accounts = std::stoi(next());
        else if (a == "--requests") requests = std::stoi(next());
        else if (a == "--sessions") sessions = std::stoi(next());
        else if (a == "--markdown") markdown = next();
        else {
            std::fprintf(stderr, "usage: console_bench [--accounts N] [--requests R] [--sessions S] [--markdown FILE]\n");
            return 2;
        }
    }
    // every session holds a socket in tally-web and in slapd
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    SlapdOptions o = web_directory();
    o.controllable_clock = false;
    // The indexes slapd-conf/slapd.conf recommends, plus member for the console's
    // group searches (login: uid/mail; roles: objectClass and member).
    o.extra_database_config = "index objectClass eq\nindex uid,mail eq\nindex member eq\n";
    o.data_ldif += big_domain(accounts);
    std::fprintf(stderr, "console_bench: loading %d accounts\n", accounts);
    Slapd slapd(o);
    slapd.start();
    {
        auto svc = slapd.connect(kServiceDn, kPassword);
        for (int i = 0; i < accounts; i += 10)
            charge_one(*svc, "uid=u" + std::to_string(i) + ",ou=big.example,dc=example,dc=com",
                       static_cast<std::uint64_t>(1 + i % 7));
    }
    WebConsole web(slapd, "max_sessions = " + std::to_string(sessions + 10) + "\nthreads = 4\n");
    web.start();
    long rss_start = rss_kib(web.pid());
    WebClient admin(web.port());
    if (admin.login("bigadmin", kPassword).status != 303) {
        std::fprintf(stderr, "console_bench: bigadmin cannot log in\n%s", web.log().c_str());
        return 1;
    }
    const std::string d = "/domain?d=ou%3Dbig.example%2Cdc%3Dexample%2Cdc%3Dcom";
    int status = 0;
    admin.get(d);  // warm slapd's caches
    Timing first = time_requests(admin, d, requests, &status);
    int status2 = 0;
    Timing later = time_requests(admin, d + "&sort=name&page=100", requests, &status2);
    long rss_one = rss_kib(web.pid());
    std::vector<WebClient> clients;
    clients.reserve(static_cast<std::size_t>(sessions));
    int failed = 0;
    auto t0 = Clock::now();
    for (int i = 0; i < sessions; ++i) {
        clients.emplace_back(web.port());
        if (clients.back().login("alice", kPassword).status != 303) ++failed;
    }
    double login_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / sessions;
    long rss_many = rss_kib(web.pid());
    std::ostringstream out;
    char line[512];
    out << "| measurement | value |\n|---|---|\n";
    std::snprintf(line, sizeof line, "| domain page, first screen (%d accounts, 50 rows, sort by usage), p50 / p90 / max | %.1f / %.1f / %.1f ms (HTTP %d) |\n",
                  accounts, first.p50, first.p90, first.max, status);
    out << line;
    std::snprintf(line, sizeof line, "| domain page 100 sorted by name, p50 / p90 / max | %.1f / %.1f / %.1f ms (HTTP %d) |\n",
                  later.p50, later.p90, later.max, status2);
    out << line;
    std::snprintf(line, sizeof line, "| tally-web resident memory: started / 1 session / %d sessions | %ld / %ld / %ld KiB |\n",
                  sessions + 1, rss_start, rss_one, rss_many);
    out << line;
    std::snprintf(line, sizeof line, "| memory per session (LDAP connection bound as the person included) | %.1f KiB |\n",
                  static_cast<double>(rss_many - rss_one) / sessions);
    out << line;
    std::snprintf(line, sizeof line, "| login (search + bind + roles), mean | %.1f ms (%d failed) |\n", login_ms, failed);
    out << line;
    std::fputs(out.str().c_str(), stdout);
    if (!markdown.empty()) std::ofstream(markdown) << out.str();
    return failed ? 1 : 0;
}
