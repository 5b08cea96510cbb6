// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* test_web.cpp - tally-web against a real slapd: who sees and changes what, and bad input
 *
 * Every test starts slapd (web_directory(): the sample directory, the
 * hosted domain example.org with its admins, cn=Monitor) and the built
 * tally-web, and talks HTTP to it; the service identity charges the way
 * the milter does, so "the next charge reflects each change" is the
 * overlay's own answer.
 */
#include "http_raw.h"
#include "web_console.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <thread>

using namespace tally;
using namespace tally::test;

namespace {

bool has(const std::string &body, const std::string &text) { return body.find(text) != std::string::npos; }

std::string q(const std::string &dn) {
    std::string out;
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char ch : dn) {
        if (std::isalnum(ch) || ch == '.' || ch == '-') out += static_cast<char>(ch);
        else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

struct Stack {
    Slapd slapd{web_directory()};
    WebConsole web;
    explicit Stack(const std::string &extra = "") : web((slapd.start(), slapd), extra) { web.start(); }
};

}  // namespace

TEST_CASE("web: a user sees their own usage and history, and no other account", "[integration][web]") {
    Stack s;
    auto svc = s.slapd.connect(kServiceDn, kPassword);
    charge_one(*svc, kAlice, 3);
    WebClient alice(s.web.port());
    auto in = alice.login("alice@example.com", kPassword);  // by mail
    REQUIRE(in.status == 303);
    CHECK(in.header("Location") == "/me");
    auto set_cookie = in.raw.substr(in.raw.find("Set-Cookie: tally_session"));
    CHECK(has(set_cookie.substr(0, set_cookie.find("\r\n")), "HttpOnly; SameSite=Strict"));
    auto me = alice.get("/me");
    REQUIRE(me.status == 200);
    CHECK(has(me.body, "My usage"));
    CHECK(has(me.body, "<td>messages</td><td class=\"num\">1</td>"));  // hour and day: one message
    CHECK(has(me.body, "<svg"));
    CHECK(has(me.body, "Not blocked"));
    CHECK(has(me.body, "Content-Security-Policy") == false);  // a header, not in the body
    CHECK(has(me.raw, "Content-Security-Policy: default-src 'none'"));
    // another account by URL: refused by the console, and slapd would refuse too
    auto other = alice.get("/account?dn=" + q(kBob));
    CHECK(other.status == 403);
    CHECK_FALSE(has(other.body, "tallyMessagesPerHour"));
    CHECK(alice.get("/domain?d=" + q(kPeople)).status == 403);
    CHECK(alice.get("/operator").status == 403);
    // logging in by uid works too
    WebClient bob(s.web.port());
    CHECK(bob.login("bob", kPassword).status == 303);
    CHECK(has(bob.get("/me").body, "uid=bob,"));
}

TEST_CASE("web: a domain admin sees only their domain, changes limits, blocks, resets, and the charges follow",
          "[integration][web]") {
    Stack s;
    auto svc = s.slapd.connect(kServiceDn, kPassword);
    for (int i = 0; i < 3; ++i) charge_one(*svc, kOliver);
    WebClient admin(s.web.port());
    REQUIRE(admin.login("orgadmin", kPassword).status == 303);
    auto me = admin.get("/me");
    CHECK(has(me.body, "/domain?d=" + q(kOrgDomain)));
    auto dom = admin.get("/domain?d=" + q(kOrgDomain));
    REQUIRE(dom.status == 200);
    CHECK(has(dom.body, ">oliver</a>"));
    CHECK(has(dom.body, ">olga</a>"));
    CHECK_FALSE(has(dom.body, "alice"));
    CHECK(has(dom.body, "<td class=\"num\">3</td>"));  // oliver's messages
    CHECK(has(dom.body, ">mallory</a>"));
    CHECK_FALSE(has(dom.body, "<script>"));
    // other domains and accounts outside: refused
    CHECK(admin.get("/domain?d=" + q(kPeople)).status == 403);
    CHECK(admin.get("/account?dn=" + q(kAlice)).status == 403);
    // CSV export
    auto csv = admin.get("/domain.csv?d=" + q(kOrgDomain));
    CHECK(csv.status == 200);
    CHECK(csv.header("Content-Type").rfind("text/csv", 0) == 0);
    CHECK(has(csv.body, kOliver));
    // the account page
    auto acc = admin.get("/account?dn=" + q(kOliver));
    REQUIRE(acc.status == 200);
    CHECK(has(acc.body, "name=\"limit.tallyMessagesPerDay\""));
    // a limit: refused when malformed (nothing sent), saved when valid; the overlay enforces it
    auto bad = admin.post("/account/limits", {{"csrf", admin.csrf()}, {"dn", kOliver}, {"limit.tallyMessagesPerDay", "5OO"}});
    CHECK(bad.status == 303);
    CHECK(has(admin.get("/account?dn=" + q(kOliver)).body, "is not a whole number, unlimited or inherit"));
    CHECK(ldap_values(*svc, kOliver, "tallyMessagesPerDay").empty());
    auto ok = admin.post("/account/limits", {{"csrf", admin.csrf()}, {"dn", kOliver}, {"limit.tallyMessagesPerDay", "4"}});
    CHECK(ok.status == 303);
    CHECK(has(admin.get("/account?dn=" + q(kOliver)).body, "limits tallyMessagesPerDay=4: done."));
    CHECK(ldap_values(*svc, kOliver, "tallyMessagesPerDay") == std::vector<std::string>{"4"});
    CHECK(charge_one(*svc, kOliver).response.verdict == Verdict::accepted);  // the 4th
    CHECK(charge_one(*svc, kOliver).response.verdict == Verdict::refused);   // the 5th
    // block and unblock
    admin.post("/account/block", {{"csrf", admin.csrf()}, {"dn", kOliver}, {"action", "block"}, {"text", "spam run"}});
    CHECK(ldap_values(*svc, kOliver, "tallyBlocked") == std::vector<std::string>{"TRUE"});
    CHECK(ldap_values(*svc, kOliver, "tallyBlockedText") == std::vector<std::string>{"spam run"});
    CHECK(has(admin.get("/domain?d=" + q(kOrgDomain) + "&blocked=1").body, "spam run"));
    admin.post("/account/block", {{"csrf", admin.csrf()}, {"dn", kOliver}, {"action", "unblock"}});
    CHECK(ldap_values(*svc, kOliver, "tallyBlocked").empty());
    // reset: the next charge is accepted again
    auto reset = admin.post("/account/reset", {{"csrf", admin.csrf()}, {"dn", kOliver}, {"window", ""}});
    CHECK(reset.status == 303);
    CHECK(has(admin.get("/account?dn=" + q(kOliver)).body, "reset every window: done."));
    auto after = charge_one(*svc, kOliver);
    CHECK(after.response.verdict == Verdict::accepted);
    CHECK(used(after.response, "day") == 1);
    // a change outside the domain is refused by the console; slapd would refuse it too
    auto outside = admin.post("/account/limits", {{"csrf", admin.csrf()}, {"dn", kAlice}, {"limit.tallyMessagesPerDay", "1"}});
    CHECK(outside.status == 403);
    CHECK(ldap_values(*svc, kAlice, "tallyMessagesPerDay").empty());
    // one log line per change: who, what, result
    std::string log = s.web.log();
    CHECK(has(log, "limits tallyMessagesPerDay=4 by=\"" + std::string(kOrgAdminDn) + "\" account=\"" + kOliver +
                       "\" result=ok"));
    CHECK(has(log, "block text=\"spam run\" by="));
    CHECK(has(log, "reset every window by="));
}

TEST_CASE("web: slapd's refusal is shown as it comes", "[integration][web]") {
    // cn=shared is in orgadmin's domain for the console, but the ACLs (rules 2a, 4a) name uid= entries only
    SlapdOptions o = web_directory();
    o.data_ldif += "\ndn: cn=shared,ou=example.org,dc=example,dc=com\nobjectClass: inetOrgPerson\n"
                   "objectClass: tallyAccount\ncn: shared\nsn: shared\nmail: shared@example.org\n";
    Slapd slapd(o);
    slapd.start();
    WebConsole web(slapd);
    web.start();
    const std::string shared = "cn=shared,ou=example.org,dc=example,dc=com";
    WebClient admin(web.port());
    REQUIRE(admin.login("orgadmin", kPassword).status == 303);
    auto acc = admin.get("/account?dn=" + q(shared));
    CHECK(acc.status == 200);
    CHECK(has(acc.body, "Usage cannot be shown: Insufficient access"));
    admin.post("/account/block", {{"csrf", admin.csrf()}, {"dn", shared}, {"action", "block"}});
    CHECK(has(admin.get("/account?dn=" + q(shared)).body, "block refused by the directory: Insufficient access"));
    admin.post("/account/reset", {{"csrf", admin.csrf()}, {"dn", shared}, {"window", ""}});
    CHECK(has(admin.get("/account?dn=" + q(shared)).body, "refused by the directory: Insufficient access"));
    CHECK(has(web.log(), "account=\"" + shared + "\" result=refused (Insufficient access"));
    // an unknown window: a clear answer, nothing reset
    admin.post("/account/reset", {{"csrf", admin.csrf()}, {"dn", kOliver}, {"window", "fortnight"}});
    CHECK(has(admin.get("/account?dn=" + q(kOliver)).body, "There is no window fortnight; nothing was reset."));
}

TEST_CASE("web: the operator sees every domain and the overlay's cn=Monitor counters", "[integration][web]") {
    Stack s;
    auto svc = s.slapd.connect(kServiceDn, kPassword);
    charge_one(*svc, kAlice);
    WebClient op(s.web.port());
    REQUIRE(op.login("operator", kPassword).status == 303);
    auto page = op.get("/operator");
    REQUIRE(page.status == 200);
    CHECK(has(page.body, kPeople));
    CHECK(has(page.body, kOrgDomain));
    CHECK(has(page.body, "charges accepted"));
    CHECK(op.get("/domain?d=" + q(kPeople)).status == 200);
    CHECK(op.get("/domain?d=" + q(kOrgDomain)).status == 200);
    CHECK(op.get("/account?dn=" + q(kOliver)).status == 200);
    // the cn holding a script (the operator may read cn) is text
    auto dom = op.get("/domain?d=" + q(kOrgDomain));
    CHECK_FALSE(has(dom.body, "<script>"));
    CHECK(has(dom.body, "&lt;script&gt;alert(&quot;mallory&quot;)&lt;/script&gt;"));
    auto acc = op.get("/account?dn=" + q(kMallory));
    CHECK_FALSE(has(acc.body, "<script>"));
    CHECK(has(acc.body, "&lt;script&gt;alert(&quot;mallory&quot;)&lt;/script&gt;"));
    auto pol = op.get("/policies");
    CHECK(pol.status == 200);
}

TEST_CASE("web: wrong passwords, forged forms and hostile logins are refused and the console keeps serving",
          "[integration][web]") {
    Stack s("login_free_failures = 2\n");
    WebClient bob(s.web.port());  // logged in before the failures close 127.0.0.1
    REQUIRE(bob.login("bob", kPassword).status == 303);
    WebClient c(s.web.port());
    CHECK(c.login("alice", "wrong").status == 401);
    CHECK(c.login("alice", "").status == 400);  // never an anonymous bind
    CHECK(c.login("*", kPassword).status == 401);  // filter metacharacters: escaped, match nothing
    CHECK(c.login("*)(uid=*", kPassword).status == 401);
    CHECK(c.login(std::string(300, 'a'), kPassword).status == 400);
    CHECK(c.login("al\x01ice", kPassword).status == 400);
    // login form without its token
    CHECK(c.post("/login", {{"login", "bob"}, {"password", kPassword}}).status == 403);
    // alice's login has failed enough: now closed, even with the right password
    auto throttled = c.login("alice", kPassword);
    CHECK(throttled.status == 429);
    CHECK(has(throttled.body, "Too many failed logins"));
    // a session's form without its token
    auto forged = bob.post("/account/block", {{"dn", kBob}, {"action", "block"}});
    CHECK(forged.status == 403);
    CHECK(has(forged.body, "Nothing was changed"));
    auto wrong = bob.post("/logout", {{"csrf", std::string(64, 'a')}});
    CHECK(wrong.status == 403);
    // unknown paths, methods, malformed and long requests
    CHECK(bob.get("/nope").status == 404);
    CHECK(bob.get("/../../etc/passwd").status == 404);
    CHECK(http_status(http_raw(s.web.port(), "DELETE /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 405);
    int garbage = http_status(http_raw(s.web.port(), "\x01\x02 garbage\r\n\r\n"));
    CHECK((garbage == 400 || garbage == 0));
    int huge = http_status(http_raw(s.web.port(), "GET /me HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'x') +
                                                      "\r\nConnection: close\r\n\r\n"));
    CHECK((huge == 413 || huge == 431 || huge == 400 || huge == 0));
    int big_body = http_status(http_raw(s.web.port(), "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                                                          "Content-Type: application/x-www-form-urlencoded\r\n"
                                                          "Connection: close\r\n\r\n" + std::string(100000, 'a')));
    CHECK(big_body == 413);
    // still serving, and bob's session still works
    CHECK(bob.get("/me").status == 200);
    CHECK(s.web.running());
    // logout ends the session
    CHECK(bob.post("/logout", {{"csrf", bob.csrf()}}).status == 303);
    CHECK(bob.get("/me").status == 303);
    CHECK(has(s.web.log(), "result=refused (no such login)"));
}

TEST_CASE("web: an idle session ends and goes back to the login page", "[integration][web]") {
    Stack s("session_idle = 2\n");
    WebClient c(s.web.port());
    REQUIRE(c.login("alice", kPassword).status == 303);
    CHECK(c.get("/me").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(3200));
    auto gone = c.get("/me");
    CHECK(gone.status == 303);
    CHECK(gone.header("Location") == "/login?expired=1");
    CHECK(has(c.get("/login?expired=1").body, "Your session ended"));
}

TEST_CASE("web: -n checks the configuration, SIGHUP reloads it and a bad file leaves the old one",
          "[integration][web]") {
    Stack s;
    TempDir dir;
    std::ofstream(dir.path + "/bad.conf") << "login_base = x\nbogus = 1\n";
    CHECK(run_command({WebConsole::binary(), "-n", "-c", dir.path + "/bad.conf"}, dir.path + "/out") == 1);
    CHECK(has(read_text(dir.path + "/out"), "bad.conf:2: unknown option bogus"));
    CHECK(run_command({WebConsole::binary(), "-n", "-c", s.web.config_path()}, dir.path + "/out2") == 0);
    s.web.set("page_size", "oops");
    s.web.reload();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(has(s.web.log(), "the old configuration stays in force"));
    s.web.set("page_size", "10");
    s.web.reload();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(has(s.web.log(), "reloaded "));
    WebClient c(s.web.port());
    CHECK(c.login("alice", kPassword).status == 303);
}
