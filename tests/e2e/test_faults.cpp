// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// End to end under load and faults: a real Postfix with SASL, tallyd and
// slapd with the overlay, many SMTP sessions at once, and slapd or the milter
// killed, hung or out of space in the middle. What the incumbent got wrong
// (mtpolicyd: 53-61 of 200 messages accepted against a limit of 50, workers
// failing after a slapd restart, default limits while the directory was down,
// retried messages uncounted) is asserted here not to happen.
//
// Assertions are on behaviour; times the issue names ("within a second") are
// measured, printed (WARN) and held to a generous bound, since the machine is
// shared. Speed belongs to bench/.
#include "mail_stack.h"
#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace tally;
using namespace tally::test;
using Clock = std::chrono::steady_clock;

namespace {

SmtpMessage msg(const std::string &login) {
    SmtpMessage m;
    m.login = login;
    m.password = "secret";
    m.from = login + "@example.com";
    m.to = {"rcpt@elsewhere.org"};
    return m;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Sent {
    SmtpResult r;
    std::string login;
    Clock::time_point start, end;
};

/* Load - `threads` clients, each sending one message per SMTP session, one
 * after the other, until `total` messages were sent (total < 0: until stop()) */
class Load {
public:
    Load(int port, int threads, int total, std::vector<std::string> logins = {"alice"}) : total_(total) {
        for (int t = 0; t < threads; ++t)
            workers_.emplace_back([this, port, t, logins] {
                const std::string &login = logins[static_cast<std::size_t>(t) % logins.size()];
                while (!stop_) {
                    if (total_ >= 0 && next_++ >= total_) break;
                    Sent s;
                    s.login = login;
                    s.start = Clock::now();
                    s.r = smtp_send(port, msg(login));
                    s.end = Clock::now();
                    bool refused = s.r.code != 250;
                    {
                        std::lock_guard<std::mutex> lock(mutex_);
                        sent_.push_back(std::move(s));
                    }
                    if (refused) usleep(20000);  // a client backs off a little
                }
            });
    }
    ~Load() { stop(); }
    /* stop - with a total: wait for all of them; without: let every client
     * finish its session; then join */
    std::vector<Sent> stop() {
        if (total_ < 0) stop_ = true;
        for (auto &w : workers_)
            if (w.joinable()) w.join();
        return sent_;
    }
    std::size_t done() {
        std::lock_guard<std::mutex> lock(mutex_);
        return sent_.size();
    }

private:
    int total_;
    std::atomic<int> next_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<Sent> sent_;
    std::vector<std::thread> workers_;
};

std::map<int, int> codes(const std::vector<Sent> &v, const std::string &login = "") {
    std::map<int, int> out;
    for (const auto &s : v)
        if (login.empty() || s.login == login) ++out[s.r.code];
    return out;
}

std::string describe(const std::map<int, int> &c) {
    std::string out;
    for (auto [code, n] : c) out += std::to_string(code) + "×" + std::to_string(n) + " ";
    return out;
}

/* counter - "messages=N" of the value of tallyUsage (or tallyHistory) whose period is `period`
 * (empty: the first day value) */
std::uint64_t counter(client::Connection &c, const std::string &dn, const std::string &period = "",
                      const std::string &attr = "tallyUsage") {
    for (const auto &v : ldap_values(c, dn, attr)) {
        if (v.rfind("day ", 0) != 0) continue;
        if (!period.empty() && v.rfind("day " + period + " ", 0) != 0) continue;
        auto at = v.find(" messages=");
        if (at != std::string::npos) return std::stoull(v.substr(at + 10));
    }
    return 0;
}

std::uint64_t counter_now(const Slapd &s, const std::string &dn) {
    auto c = s.connect();
    return counter(*c, dn);
}

/* accepted_charges - charge id → how often slapd's log says that charge was accepted */
std::map<std::string, int> accepted_charges(const std::string &slapd_log) {
    std::map<std::string, int> out;
    static const std::regex line(R"re(TALLY CHARGE .* id="([^"]*)" .*verdict=accepted)re");
    std::istringstream in(slapd_log);
    for (std::string l; std::getline(in, l);) {
        std::smatch m;
        if (std::regex_search(l, m, line)) ++out[m[1]];
    }
    return out;
}

/* delivered_ids - Postfix queue ids of the messages smtp-sink received */
std::set<std::string> delivered_ids(const Postfix &p) {
    std::set<std::string> out;
    static const std::regex id(R"(\(Postfix\) with ESMTPS?A? id ([0-9A-Za-z]+))");
    for (const auto &d : p.delivered_messages()) {
        std::smatch m;
        if (std::regex_search(d, m, id)) out.insert(m[1]);
    }
    return out;
}

/* settle - wait until smtp-sink has n messages, then a little longer to see that no more come */
int settle(const Postfix &p, int n) {
    p.wait_delivered(n, 60000);
    usleep(1000000);
    return p.delivered_count();
}

/* Continued - SIGCONT on scope exit, so a failing test never leaves slapd stopped */
struct Continued {
    pid_t pid;
    ~Continued() {
        if (pid > 0) kill(pid, SIGCONT);
    }
};

long rss_kib(pid_t pid) {
    std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
    for (std::string l; std::getline(in, l);)
        if (l.rfind("VmRSS:", 0) == 0) return std::stol(l.substr(6));
    return -1;
}

}  // namespace

TEST_CASE("e2e faults: 16 concurrent sessions against a limit of 50 deliver exactly 50, all counted",
          "[e2e][exact]") {
    MailStack stack;
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"50"}) == LDAP_SUCCESS);

    auto t0 = Clock::now();
    Load load(p.smtp_port(), 16, 200);
    auto sent = load.stop();
    auto c = codes(sent);
    WARN("200 messages over 16 concurrent sessions in " << ms_between(t0, Clock::now()) / 1000 << " s: "
                                                         << describe(c));
    INFO("milter log tail:\n" << m.log().substr(m.log().size() > 4000 ? m.log().size() - 4000 : 0));
    REQUIRE(sent.size() == 200);
    CHECK(c[250] == 50);
    CHECK(c[550] == 150);
    CHECK(settle(p, 50) == 50);
    CHECK(counter(*root, kAlice) == 50);
    // Every accepted message is one accepted charge, under its own queue id.
    auto charged = accepted_charges(s.log());
    CHECK(charged.size() == 50);
    for (const auto &[id, n] : charged) CHECK(n == 1);
    CHECK(delivered_ids(p) == [&] {
        std::set<std::string> ids;
        for (const auto &kv : charged) ids.insert(kv.first);
        return ids;
    }());
    CHECK_THAT(m.log(), !Catch::Contains("UNCOUNTED"));
}

TEST_CASE("e2e faults: the first messages of a new day from 16 sessions at once: no duplicate or lost counts",
          "[e2e][exact]") {
    // 2030-03-15 23:59:50 UTC, then 2030-03-16 00:00:05
    const std::int64_t before_midnight = 1899849590, after_midnight = 1899849605;
    MailStackOptions o;
    o.clock = before_midnight;
    MailStack stack(o);
    Slapd &s = stack.slapd;
    Postfix &p = stack.postfix;
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"50"}) == LDAP_SUCCESS);

    // the old day: 30 messages through Postfix
    auto old_day = Load(p.smtp_port(), 8, 30).stop();
    REQUIRE(codes(old_day)[250] == 30);
    REQUIRE(counter(*root, kAlice, "2030-03-15") == 30);

    s.set_clock(after_midnight);
    auto sent = Load(p.smtp_port(), 16, 80).stop();
    auto c = codes(sent);
    WARN("new day, 80 messages over 16 sessions: " << describe(c));
    CHECK(c[250] == 50);  // the new day's limit, exactly: nothing carried over, nothing lost
    CHECK(c[550] == 30);
    CHECK(settle(p, 80) == 80);
    CHECK(counter(*root, kAlice, "2030-03-16") == 50);
    // The ended day moved to the history once, with its 30 messages, and is no longer current.
    auto history = ldap_values(*root, kAlice, "tallyHistory");
    INFO("history: " << Catch::Detail::stringify(history) << "\nusage: "
                     << Catch::Detail::stringify(ldap_values(*root, kAlice, "tallyUsage")));
    int old_values = 0;
    for (const auto &h : history) old_values += h.rfind("day 2030-03-15 ", 0) == 0;
    CHECK(old_values == 1);
    CHECK(counter(*root, kAlice, "2030-03-15", "tallyHistory") == 30);
    CHECK(counter(*root, kAlice, "2030-03-15") == 0);
    CHECK(ldap_values(*root, kAlice, "tallyUsage").size() == 1);
}

TEST_CASE("e2e faults: slapd killed with SIGKILL under load and started again", "[e2e][faults]") {
    MailStackOptions o;
    o.slapd.overlay_config += "tally-default-limit day messages 1000\n";  // the "default limits" mtpolicyd fell back to
    MailStack stack(o);
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    {
        auto root = s.connect();
        REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"100000"}) == LDAP_SUCCESS);
        // bob's own limit is 3 and used up: any 250 for bob would be a message let through on wrong limits
        REQUIRE(ldap_modify(*root, kBob, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"3"}) == LDAP_SUCCESS);
        for (int i = 0; i < 3; ++i) REQUIRE(charge_one(*root, kBob).response.verdict == Verdict::accepted);
    }

    // A monitor reads alice's counter all along: it may only grow.
    std::atomic<bool> monitoring{true};
    std::vector<std::uint64_t> samples;
    std::thread monitor([&] {
        while (monitoring) {
            try {
                samples.push_back(counter_now(s, kAlice));
            } catch (...) {  // slapd down
            }
            usleep(100000);
        }
    });

    Load load(p.smtp_port(), 8, -1, {"alice", "alice", "alice", "bob"});
    while (load.done() < 40) usleep(50000);
    Clock::time_point killed = Clock::now();
    s.kill_hard();
    usleep(1500000);
    Clock::time_point restarting = Clock::now();
    s.start();  // same port, same database
    Clock::time_point up = Clock::now();
    std::size_t at_up = load.done();
    while (load.done() < at_up + 40 && Clock::now() - up < std::chrono::seconds(60)) usleep(50000);
    auto sent = load.stop();
    monitoring = false;
    monitor.join();

    // Reconnect: the first message accepted after slapd answered again.
    double reconnect_ms = -1;
    for (const auto &x : sent)
        if (x.r.code == 250 && x.end > up && (reconnect_ms < 0 || ms_between(up, x.end) < reconnect_ms))
            reconnect_ms = ms_between(up, x.end);
    // While slapd was down: every message that came to end of data got 4xx, none 250.
    int down_msgs = 0, down_wrong = 0;
    for (const auto &x : sent)
        if (x.start > killed && x.end < restarting) {
            ++down_msgs;
            if (x.r.code != 451) ++down_wrong;
        }
    auto all = codes(sent), bob = codes(sent, "bob");
    int accepted = codes(sent, "alice")[250];
    int delivered = settle(p, accepted);
    // A charge committed at the very moment of the kill, whose answer was
    // lost, got 451: the milter cancels it once slapd answers again.
    std::uint64_t final_count = counter_now(s, kAlice);
    for (int i = 0; i < 100 && final_count != static_cast<std::uint64_t>(accepted); ++i) {
        usleep(100000);
        final_count = counter_now(s, kAlice);
    }
    WARN("SIGKILL under load: alice " << describe(codes(sent, "alice")) << "| bob " << describe(bob) << "| "
                                      << down_msgs << " sessions while slapd was down; first message accepted "
                                      << reconnect_ms << " ms after slapd answered again; counter " << final_count
                                      << ", delivered " << delivered);
    INFO("milter log tail:\n" << m.log().substr(m.log().size() > 6000 ? m.log().size() - 6000 : 0));
    CHECK(down_msgs > 0);
    CHECK(down_wrong == 0);
    CHECK(bob[250] == 0);  // never the default limits instead of the account's own
    CHECK(all[550] == bob[550]);
    CHECK(reconnect_ms >= 0);
    CHECK(reconnect_ms < 3000);  // target: 1 s; generous on a shared machine
    CHECK(delivered == accepted);
    // Every accepted message is counted, and no refused one.
    CHECK(final_count == static_cast<std::uint64_t>(accepted));
    // Under load the counter never goes backwards (a cancel takes back only a
    // charge whose message was refused, after the load).
    for (std::size_t i = 1; i < samples.size(); ++i) CHECK(samples[i] >= samples[i - 1]);
    CHECK_THAT(m.log(), !Catch::Contains("UNCOUNTED"));

    // A quick restart with no mail meanwhile leaves the pool full of dead
    // connections: the next message must not pay for them.
    s.kill_hard();
    s.start();
    auto after = smtp_send(p.smtp_port(), msg("alice"));
    INFO(after.transcript);
    CHECK(after.code == 250);
}

TEST_CASE("e2e faults: slapd hung (SIGSTOP): 451 within the milter's timeout, never Postfix's, flows after SIGCONT",
          "[e2e][faults]") {
    MailStackOptions o;
    o.milter = {{"ldap_timeout", "1000ms"}, {"ldap_connect_timeout", "500ms"}};
    o.postfix.milter_command_timeout = 30;
    MailStack stack(o);
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    // warm: the account is cached and the pool holds connections
    REQUIRE(Load(p.smtp_port(), 4, 8).stop().size() == 8);
    REQUIRE(settle(p, 8) == 8);

    std::vector<Sent> hung;
    {
        Continued guard{s.pid()};
        REQUIRE(kill(s.pid(), SIGSTOP) == 0);
        hung = Load(p.smtp_port(), 4, 8).stop();
    }  // SIGCONT
    double worst = 0;
    for (const auto &x : hung) worst = std::max(worst, ms_between(x.start, x.end));
    // the milter's own time at end of data, from its log
    double worst_eom = 0;
    static const std::regex eom(R"(verdict=tempfail .* eom_ms=([0-9.]+))");
    std::istringstream lines(m.log());
    for (std::string l; std::getline(lines, l);) {
        std::smatch mm;
        if (std::regex_search(l, mm, eom)) worst_eom = std::max(worst_eom, std::stod(mm[1]));
    }
    WARN("slapd hung: 8 messages " << describe(codes(hung)) << "; slowest SMTP session " << worst
                                   << " ms, slowest milter end of data " << worst_eom
                                   << " ms (ldap_timeout 1000 ms, Postfix milter timeouts 30 s)");
    INFO("milter log:\n" << m.log());
    CHECK(codes(hung)[451] == 8);
    for (const auto &x : hung) CHECK_THAT(x.r.reply, Catch::Contains("4.7.1"));
    // one timed-out charge, not repeated: about ldap_timeout, plus slack
    CHECK(worst_eom > 900);
    CHECK(worst_eom < 2500);
    CHECK(worst < 15000);
    CHECK_THAT(p.maillog(), !Catch::Contains("timed out"));
    CHECK_THAT(p.maillog(), !Catch::Contains("milter_default_action"));

    auto again = Load(p.smtp_port(), 4, 8).stop();
    CHECK(codes(again)[250] == 8);
    int delivered = settle(p, 16);
    CHECK(delivered == 16);
    // Charges sent while slapd was stopped and abandoned by the milter may
    // still run when it continues; the milter cancels each of them (taken
    // back if counted, never counted if they run later), so the counter ends
    // at exactly what was delivered.
    std::uint64_t count = counter_now(s, kAlice);
    for (int i = 0; i < 100 && count != static_cast<std::uint64_t>(delivered); ++i) {
        usleep(100000);
        count = counter_now(s, kAlice);
    }
    WARN("after SIGCONT: counter " << count << ", delivered " << delivered);
    CHECK(count == static_cast<std::uint64_t>(delivered));
    CHECK_THAT(m.log(), Catch::Contains("charge cancelled"));
}

TEST_CASE("e2e faults: the milter killed and restarted under load: Postfix tempfails, nothing counted twice",
          "[e2e][faults]") {
    MailStackOptions o;
    o.postfix.milter_default_action = "tempfail";
    MailStack stack(o);
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;

    Load load(p.smtp_port(), 8, -1);
    while (load.done() < 30) usleep(50000);
    m.kill_hard();
    usleep(1000000);
    m.start();  // same port
    std::size_t at_restart = load.done();
    while (load.done() < at_restart + 30) usleep(50000);
    auto sent = load.stop();
    auto c = codes(sent);
    int accepted = c[250];
    int delivered = settle(p, accepted);
    std::uint64_t count = counter_now(s, kAlice);
    auto charged = accepted_charges(s.log());
    auto ids = delivered_ids(p);
    int charged_not_delivered = 0;
    for (const auto &kv : charged) charged_not_delivered += ids.count(kv.first) == 0;
    WARN("milter SIGKILL under load: " << describe(c) << "; counter " << count << ", delivered " << delivered
                                       << ", charged but refused (killed between charge and reply): "
                                       << charged_not_delivered);
    INFO("maillog tail:\n" << p.maillog().substr(p.maillog().size() > 4000 ? p.maillog().size() - 4000 : 0));
    int temporary = 0;
    for (auto [code, n] : c) temporary += code / 100 == 4 ? n : 0;
    CHECK(temporary > 0);  // Postfix's milter_default_action while the milter was gone (AUTH 454, later 451)
    CHECK(c[250] + temporary == static_cast<int>(sent.size()));  // nothing else, no 5xx
    CHECK(delivered == accepted);
    CHECK(ids.size() == static_cast<std::size_t>(delivered));
    for (const auto &id : ids) CHECK(charged.count(id) == 1);  // every delivered message was charged
    for (const auto &[id, n] : charged) CHECK(n == 1);         // and no queue id twice
    CHECK(count == charged.size());
    CHECK(charged_not_delivered <= 8);  // at most the sessions in flight at the kill
}

TEST_CASE("e2e faults: LMDB map full: the charge fails with a clear result, 451, counters intact after growing it",
          "[e2e][faults]") {
    MailStackOptions o;
    o.slapd.extra_database_config = "maxsize 1048576\n";  // after the fixture's own maxsize: this one wins
    MailStack stack(o);
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &p = stack.postfix;
    auto root = s.connect();
    REQUIRE(smtp_send(p.smtp_port(), msg("alice")).code == 250);
    REQUIRE(smtp_send(p.smtp_port(), msg("alice")).code == 250);

    // Fill the map with entries, smaller and smaller, until a charge cannot be written.
    int added = 0, filler_charges = 0;
    auto add = [&](std::size_t size) {
        std::string dn = "cn=filler" + std::to_string(added) + ",ou=groups,dc=example,dc=com";
        int rc = ldap_add(*root, dn, {{"objectClass", {"device"}}, {"cn", {"filler" + std::to_string(added)}},
                                      {"description", {std::string(size, 'x')}}});
        if (rc == LDAP_SUCCESS) ++added;
        return rc == LDAP_SUCCESS;
    };
    for (std::size_t size : {8000, 2000, 500, 100, 10})
        while (add(size)) {
        }
    // Freed pages are reused at once, so a charge (which frees what it
    // replaces) would go on forever in a full map. An LMDB reader holding an
    // old snapshot, as a long slapcat or search does, keeps them from reuse:
    // slapcat writing into a pipe nobody reads.
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    SpawnOptions so;
    so.in_child = [&] {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
    };
    Process reader({openldap().tool("slapcat"), "-f", s.dir() + "/slapd.conf", "-b", kSuffix}, so);
    close(pipefd[1]);
    // Closed before reader is stopped (destruction order): slapcat's next write fails and it ends.
    struct Pipe {
        int fd;
        ~Pipe() { close(fd); }
    } read_end{pipefd[0]};
    for (int i = 0, n = 0; i < 200 && n < 65536; ++i) {
        usleep(50000);
        ioctl(pipefd[0], FIONREAD, &n);
    }
    client::ChargeOutcome refused;
    for (int i = 0; i < 2000; ++i) {
        add(10);
        refused = charge_one(*root, kAlice, 1, 100, "FILL" + std::to_string(i));
        if (refused.ldap.code != LDAP_SUCCESS) break;
        ++filler_charges;
    }
    WARN("map full after " << added << " entries and " << filler_charges << " more charges: "
                           << ldap_err2string(refused.ldap.code) << ": " << refused.ldap.text);
    REQUIRE(refused.ldap.code == LDAP_OTHER);
    CHECK_THAT(refused.ldap.text, Catch::Contains("counters could not be written"));
    CHECK_THAT(s.log(), Catch::Contains("MDB_MAP_FULL"));
    const std::uint64_t before = counter(*root, kAlice);
    CHECK(before == 2u + static_cast<std::uint64_t>(filler_charges));

    auto full = smtp_send(p.smtp_port(), msg("alice"));
    INFO(full.transcript << "\nmilter log:\n" << m.log());
    CHECK(full.code == 451);  // on_charge_error = tempfail
    CHECK_THAT(m.log(), Catch::Contains("counters could not be written"));
    CHECK(counter(*root, kAlice) == before);  // nothing counted, nothing lost

    // Grow the map: the same database opens, every counter as it was, and charging goes on.
    root.reset();
    s.stop();
    std::string conf = read_text(s.dir() + "/slapd.conf");
    conf.replace(conf.find("maxsize 1048576"), 15, "maxsize 268435456");
    std::ofstream(s.dir() + "/slapd.conf") << conf;
    REQUIRE(run_command({openldap().tool("slapcat"), "-f", s.dir() + "/slapd.conf", "-b", kSuffix, "-l",
                         s.dir() + "/dump.ldif"},
                        s.dir() + "/slapcat.log") == 0);
    std::string dump = read_text(s.dir() + "/dump.ldif");
    CHECK_THAT(dump, Catch::Contains("cn=filler" + std::to_string(added - 1) + ","));
    s.start();
    root = s.connect();
    CHECK(counter(*root, kAlice) == before);
    auto ok = smtp_send(p.smtp_port(), msg("alice"));
    INFO(ok.transcript);
    CHECK(ok.code == 250);
    CHECK(counter(*root, kAlice) == before + 1);
    CHECK(settle(p, 3) == 3);
}

TEST_CASE("e2e faults: a flood of distinct logins keeps the milter's memory bounded", "[e2e][faults][memory]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    m.set("cache_size", "1000");
    m.set("stage", "mail");         // the lookup at MAIL FROM: no message needed
    m.set("log_level", "warning");  // not 10,000 debug lines
    // a unix socket: miltertest's small writes over TCP wait 40 ms each for delayed ACKs
    const std::string sock = m.dir() + "/milter.sock";
    m.set("socket", "unix:" + sock);
    m.start();
    // miltertest, one milter connection, one MAIL transaction per login: Postfix's
    // own XCLIENT would need a session per login and take minutes.
    auto flood = [&](int from, int to) {
        std::ostringstream lua;
        lua << "local conn = mt.connect('unix:" << sock << "', 40, 0.05)\n"
            << "if conn == nil then error('cannot connect') end\n"
               "mt.conninfo(conn, 'localhost', '127.0.0.1')\n"
               "local refused = 0\n"
               "for i = "
            << from << ", " << to << " do\n"
            << "  mt.macro(conn, SMFIC_MAIL, '{auth_authen}', '" << std::string(240, 'f') << "' .. i)\n"
            << "  if mt.mailfrom(conn, '<x@example.com>') ~= nil then error('mailfrom') end\n"
               "  if mt.getreply(conn) ~= SMFIR_CONTINUE then refused = refused + 1 end\n"
               "  mt.abort(conn)\n"
               "end\n"
               "mt.disconnect(conn)\n"
               "mt.echo('REFUSED ' .. refused)\n";
        std::string script = m.dir() + "/flood.lua", out = m.dir() + "/flood.out";
        std::ofstream(script) << lua.str();
        std::remove(out.c_str());
        int rc = run_command({"/usr/bin/miltertest", "-s", script}, out);
        INFO(read_text(out));
        REQUIRE(rc == 0);
        CHECK_THAT(read_text(out), Catch::Contains("REFUSED " + std::to_string(to - from + 1)));
    };
    auto t0 = Clock::now();
    flood(1, 2000);  // the cache is full from here on
    long warm = rss_kib(m.pid());
    flood(2001, 20000);
    long after = rss_kib(m.pid());
    WARN("18,000 more distinct 250-byte logins (cache_size 1000): milter RSS " << warm << " KiB -> " << after
                                                                              << " KiB; "
                                                                              << ms_between(t0, Clock::now()) / 1000
                                                                              << " s for 20,000 logins");
    REQUIRE(warm > 0);
    // unbounded, the cache alone would grow by ~18,000 × 300 bytes = 5 MB
    CHECK(after - warm < 1536);
    CHECK_THAT(m.log(), !Catch::Contains("internal error"));
}

TEST_CASE("e2e exact: a message Postfix retries after a temporary failure is counted once", "[e2e][exact]") {
    MailStack stack;
    Slapd &s = stack.slapd;
    MilterProcess &m = stack.milter;
    Postfix &submission = stack.postfix;
    // An MTA in front that queues and retries: it relays to the submission
    // service with alice's credentials, as a host relaying through it would.
    PostfixOptions fo = front_mta_for(submission.smtp_port(), "alice");
    Postfix front(fo);

    // The directory is down: the submission service defers (451), the front MTA keeps the message.
    s.stop();
    auto r = smtp_send(front.smtp_port(), msg("alice"));
    INFO(r.transcript);
    REQUIRE(r.code == 250);  // queued by the front MTA
    bool deferred = false;
    for (int i = 0; i < 200 && !deferred; ++i) {
        deferred = front.maillog().find("status=deferred") != std::string::npos;
        if (!deferred) usleep(100000);
    }
    INFO("front maillog:\n" << front.maillog() << "\nmilter log:\n" << m.log());
    REQUIRE(deferred);
    CHECK_THAT(front.maillog(), Catch::Contains("451 4.7.1"));
    CHECK(submission.delivered_count() == 0);

    // Back: the retry is accepted and counted, once.
    s.start();
    run_command({"/usr/sbin/postqueue", "-c", front.dir() + "/etc", "-f"}, front.dir() + "/postqueue.log");
    CHECK(settle(submission, 1) == 1);
    usleep(2000000);  // time for any further retry
    CHECK(submission.delivered_count() == 1);
    auto root = s.connect();
    CHECK(counter(*root, kAlice) == 1);
    CHECK_THAT(m.log(), !Catch::Contains("UNCOUNTED"));
}
