// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* test_postfix_fixture.cpp - the private Postfix and the SMTP client prove themselves */
#include "postfix_fixture.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

using namespace tally::test;

namespace {

/* alice_only - options with one SASL user, alice/secret, and no milter */
PostfixOptions alice_only() {
    PostfixOptions o;
    o.users = {{"alice", "secret"}};
    return o;
}

/* message - alice's message to one external recipient */
SmtpMessage message(const std::string &login, const std::string &password) {
    SmtpMessage m;
    m.login = login;
    m.password = password;
    m.from = "alice@example.com";
    m.to = {"someone@external.example.org"};
    return m;
}

/* processes_of - PIDs whose environment or command line names the directory */
std::vector<int> processes_of(const std::string &dir) {
    std::vector<int> out;
    for (const auto &e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        for (const char *file : {"/environ", "/cmdline"}) {
            std::ifstream f(e.path().string() + file);
            std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            if (text.find(dir) != std::string::npos) {
                out.push_back(std::stoi(name));
                break;
            }
        }
    }
    return out;
}

/* unused_port - a loopback port where nothing listens */
int unused_port() { return free_loopback_port(); }

/* zombie_children - our children that have exited but were not reaped */
int zombie_children() {
    int n = 0;
    for (const auto &e : std::filesystem::directory_iterator("/proc")) {
        if (e.path().filename().string().find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream f(e.path().string() + "/stat");
        std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        auto paren = stat.rfind(')');
        if (paren == std::string::npos) continue;
        char state = 0;
        int ppid = 0;
        std::istringstream rest(stat.substr(paren + 1));
        rest >> state >> ppid;
        if (state == 'Z' && ppid == getpid()) ++n;
    }
    return n;
}

/* send_text - write a whole string to a socket */
void send_text(int fd, const std::string &text) {
    REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

}  // namespace

TEST_CASE("an authenticated client relays through Postfix to smtp-sink", "[e2e]") {
    Postfix pf(alice_only());
    SmtpMessage m = message("alice", "secret");
    m.to.push_back("other@external.example.org");
    m.body = "From: <alice@example.com>\r\nTo: <someone@external.example.org>\r\nSubject: hi\r\n\r\n"
             "first line\n.hidden line\n..two dots\nlast line";
    SmtpResult r = smtp_send(pf.smtp_port(), m);
    INFO(r.transcript);
    CHECK(r.code == 250);
    CHECK(r.stage == "eom");
    CHECK(r.rcpt_replies.size() == 2);
    REQUIRE(pf.wait_delivered(1, 10000));
    CHECK(pf.delivered_count() == 1);
    auto msgs = pf.delivered_messages();
    REQUIRE(msgs.size() == 1);
    INFO(msgs[0]);
    CHECK(msgs[0].find("X-Rcpt-Args: <someone@external.example.org>") != std::string::npos);
    CHECK(msgs[0].find("X-Rcpt-Args: <other@external.example.org>") != std::string::npos);
    CHECK(msgs[0].find("\n.hidden line\n..two dots\nlast line\n") != std::string::npos);
    // The SASL identity is realm-qualified (the {auth_authen} a milter sees).
    CHECK(pf.maillog().find("sasl_username=alice@example.com") != std::string::npos);
}

TEST_CASE("a login with its realm works too, and the empty body gets minimal headers", "[e2e]") {
    Postfix pf(alice_only());
    SmtpResult r = smtp_send(pf.smtp_port(), message("alice@example.com", "secret"));
    INFO(r.transcript);
    CHECK(r.code == 250);
    REQUIRE(pf.wait_delivered(1, 10000));
    auto msgs = pf.delivered_messages();
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].find("Subject: tally end-to-end test") != std::string::npos);
}

TEST_CASE("a wrong password is refused at AUTH and nothing is delivered", "[e2e]") {
    Postfix pf(alice_only());
    SmtpResult r = smtp_send(pf.smtp_port(), message("alice", "wrong"));
    INFO(r.transcript);
    CHECK(r.code == 535);
    CHECK(r.stage == "auth");
    CHECK(pf.delivered_count() == 0);
    CHECK(pf.maillog().find("status=sent") == std::string::npos);
}

TEST_CASE("unauthenticated relaying is refused at RCPT", "[e2e]") {
    Postfix pf(alice_only());
    SmtpResult r = smtp_send(pf.smtp_port(), message("", ""));
    INFO(r.transcript);
    CHECK(r.code == 554);
    CHECK(r.stage == "rcpt");
    CHECK(r.reply.find("Relay access denied") != std::string::npos);
    CHECK(pf.delivered_count() == 0);
}

TEST_CASE("a milter that is down tempfails AUTH and MAIL FROM", "[e2e]") {
    PostfixOptions o = alice_only();
    o.milter = "inet:127.0.0.1:" + std::to_string(unused_port());
    o.milter_default_action = "tempfail";
    Postfix pf(o);
    SmtpResult r = smtp_send(pf.smtp_port(), message("", ""));
    INFO(r.transcript);
    CHECK(r.code == 451);
    CHECK(r.stage == "mail");
    CHECK(r.reply.rfind("451 4.7.1", 0) == 0);
    SmtpResult a = smtp_send(pf.smtp_port(), message("alice", "secret"));
    INFO(a.transcript);
    CHECK(a.code == 454);
    CHECK(a.stage == "auth");
    CHECK(pf.delivered_count() == 0);
}

TEST_CASE("two instances run side by side", "[e2e]") {
    Postfix one(alice_only());
    PostfixOptions o;
    o.users = {{"bob", "pw2"}};
    Postfix two(o);
    CHECK(one.smtp_port() != two.smtp_port());
    CHECK(smtp_send(one.smtp_port(), message("alice", "secret")).code == 250);
    CHECK(smtp_send(two.smtp_port(), message("bob", "pw2")).code == 250);
    CHECK(smtp_send(two.smtp_port(), message("alice", "secret")).code == 535);  // separate sasldbs
    CHECK(one.wait_delivered(1, 10000));
    CHECK(two.wait_delivered(1, 10000));
}

TEST_CASE("a message smtp-sink is still receiving is not counted as delivered", "[e2e]") {
    Postfix pf(alice_only());
    int fd = connect_loopback(pf.sink_port());
    REQUIRE(fd >= 0);
    send_text(fd, "EHLO probe\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
                  "Subject: partial\r\n\r\nfirst half\r\n");
    bool file_exists = false;  // smtp-sink creates the dump file at MAIL FROM
    for (int i = 0; i < 200 && !file_exists; ++i) {
        file_exists = !std::filesystem::is_empty(pf.dir() + "/sink");
        if (!file_exists) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(file_exists);
    CHECK(pf.delivered_count() == 0);
    send_text(fd, "second half\r\n.\r\nQUIT\r\n");
    CHECK(pf.wait_delivered(1, 5000));
    close(fd);
    auto msgs = pf.delivered_messages();
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].find("first half\nsecond half\n") != std::string::npos);
}

TEST_CASE("the destructor leaves no process of the instance behind", "[e2e]") {
    // Zombies other tests of this process left (orphans of earlier instances) are not this one's.
    int zombies_before = zombie_children();
    pid_t master = -1;
    std::string dir;
    {
        Postfix pf(alice_only());
        master = pf.master_pid();
        dir = pf.dir();
        REQUIRE(master > 0);
        CHECK(kill(master, 0) == 0);
        CHECK(processes_of(dir + "/").size() >= 3);  // master, its daemons, smtp-sink
        CHECK(smtp_send(pf.smtp_port(), message("alice", "secret")).code == 250);
    }
    errno = 0;
    CHECK(kill(-master, 0) == -1);  // the master's process group is empty: all reaped
    CHECK(errno == ESRCH);
    CHECK(processes_of(dir + "/").empty());
    CHECK(zombie_children() <= zombies_before);
    CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("a failed start throws with the log and leaves nothing behind", "[e2e]") {
    int zombies_before = zombie_children();
    PostfixOptions o;
    o.extra_main_cf = "queue_directory = /nonexistent/tally-test-queue\n";
    CHECK_THROWS_WITH(Postfix(o), Catch::Contains("postfix start") && Catch::Contains("nonexistent"));
    CHECK(zombie_children() <= zombies_before);
}
