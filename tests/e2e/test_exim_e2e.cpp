// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// End to end with Debian 12's real Exim (exim4-daemon-light, extracted by
// scripts/setup, not installed: it would remove Postfix), running the shipped
// exim/tally-exim.conf: `exim4 -bh` plays whole SMTP sessions through its
// ACLs, which ask tallyd's policy door with ${readsocket}; slapd with
// the overlay counts.
#include "milter_process.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>
#include <unistd.h>

using namespace tally;
using namespace tally::test;

namespace {

const std::string kAliceDn = "uid=alice,ou=people,dc=example,dc=com";

std::string base64(const std::string &in) {
    static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned val = 0;
    int bits = -6;
    for (unsigned char c : in) {
        val = (val << 8) + c;
        bits += 8;
        while (bits >= 0) {
            out.push_back(t[(val >> bits) & 0x3F]);
            bits -= 6;
        }
    }
    if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return out;
}

/* Exim - the extracted exim4 with the shipped configuration, asking one policy address */
class Exim {
public:
    explicit Exim(std::string policy) : policy_(std::move(policy)) {
        std::filesystem::create_directories(tmp_.path + "/spool/log");
        std::filesystem::permissions(tmp_.path, std::filesystem::perms(0755));  // mkdtemp's 0700 keeps Exim out
        // Exim writes its spool and logs as its own user, Debian-exim (setup creates it).
        run_command({"/bin/chown", "-R", "Debian-exim", tmp_.path + "/spool"}, tmp_.path + "/chown.log");
    }
    /* session - one SMTP session from 127.0.0.1: EHLO, AUTH PLAIN (login set),
     * MAIL, RCPT each, DATA; the server's reply lines, in order */
    std::vector<std::string> session(const std::string &login, const std::string &from, std::vector<std::string> to,
                                     const std::string &password = "secret") {
        std::ostringstream in;
        in << "EHLO client.example.net\r\n";
        if (!login.empty()) in << "AUTH PLAIN " << base64(std::string("\0", 1) + login + '\0' + password) << "\r\n";
        in << "MAIL FROM:<" << from << ">\r\n";
        for (const auto &t : to) in << "RCPT TO:<" << t << ">\r\n";
        in << "DATA\r\nSubject: test\r\n\r\nhello\r\n.\r\nQUIT\r\n";
        std::string out = tmp_.path + "/session-" + std::to_string(++sessions_) + ".out";
        RunOptions o;
        o.input = in.str();
        run_command({TALLY_EXIM_BIN, "-C", std::string(TALLY_SOURCE_DIR) + "/exim/tally-exim.conf",
                     "-DTALLY_POLICY=" + policy_, "-DTALLY_SPOOL=" + tmp_.path + "/spool", "-DTALLY_TIMEOUT=3s",
                     "-bh", "127.0.0.1"},
                    out, o);
        last_ = read_text(out);
        std::vector<std::string> replies;
        std::istringstream lines(last_);
        for (std::string l; std::getline(lines, l);) {
            if (!l.empty() && l.back() == '\r') l.pop_back();
            // a final reply line: three digits and a space (continuations have '-')
            if (l.size() >= 4 && std::isdigit(static_cast<unsigned char>(l[0])) && std::isdigit(l[1]) &&
                std::isdigit(l[2]) && l[3] == ' ')
                replies.push_back(l);
        }
        return replies;
    }
    const std::string &transcript() const { return last_; }

private:
    TempDir tmp_;
    std::string policy_;
    std::string last_;
    int sessions_ = 0;
};

/* reply_to - the reply that answered the n-th command after EHLO: 0 AUTH, ... */
std::string find_reply(const std::vector<std::string> &replies, const std::string &prefix) {
    for (const auto &r : replies)
        if (r.starts_with(prefix)) return r;
    return "";
}

std::string usage_of(Slapd &s, const std::string &dn) {
    auto root = s.connect();
    auto v = ldap_values(*root, dn, "tallyUsage");
    return v.empty() ? "" : v[0];
}

}  // namespace

TEST_CASE("e2e exim: accepted and counted, refused over the limit, blocked, foreign sender, unauthenticated",
          "[e2e][exim]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"1"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    m.set("policy_listen", m.policy_address());
    m.set("socket", "none");
    m.start();
    Exim exim(m.policy_address());

    auto ok = exim.session("alice", "alice@example.com", {"a@elsewhere.org", "b@elsewhere.org"});
    INFO(exim.transcript() << "\ndaemon log:\n" << m.log());
    CHECK(find_reply(ok, "235 ") != "");  // authenticated as alice
    CHECK(find_reply(ok, "354 ") != "");  // both recipients accepted
    CHECK_THAT(find_reply(ok, "250 "), Catch::Contains("250"));
    CHECK(find_reply(ok, "5") == "");
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=1 recipients=2 "));

    auto over = exim.session("alice", "alice@example.com", {"a@elsewhere.org"});
    CHECK(find_reply(over, "550 ") == "550 5.7.1 daily limit of 1 messages reached");
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=1 recipients=2 "));

    auto blocked = exim.session("dora", "dora@example.com", {"a@elsewhere.org"});
    CHECK(find_reply(blocked, "554 ") == "554 5.7.1 Account suspended, call 555-0100");
    CHECK(find_reply(blocked, "354 ") == "");  // refused at RCPT: no DATA

    auto foreign = exim.session("bob", "ceo@example.com", {"a@elsewhere.org"});
    CHECK(find_reply(foreign, "553 ") == "553 5.7.1 Sender address <ceo@example.com> is not owned by bob");
    CHECK(usage_of(s, "uid=bob,ou=people,dc=example,dc=com").empty());

    auto anonymous = exim.session("", "alice@example.com", {"a@elsewhere.org"});
    CHECK(find_reply(anonymous, "530 ") == "530 5.7.0 Authentication required");
    CHECK_THAT(m.log(), Catch::Contains("login=\"alice\"") && Catch::Contains("state=END-OF-MESSAGE"));
}

TEST_CASE("e2e exim: directory down or Tally away: deferred, never accepted uncounted", "[e2e][exim][faults]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "cache_ttl = 0\n");
    m.set("policy_listen", m.policy_address());
    m.set("socket", "none");
    m.start();
    Exim exim(m.policy_address());

    s.stop();
    auto down = exim.session("alice", "alice@example.com", {"a@elsewhere.org"});
    INFO(exim.transcript() << "\ndaemon log:\n" << m.log());
    CHECK(find_reply(down, "451 ") == "451 4.7.1 Service temporarily unavailable, try again later");
    CHECK(find_reply(down, "354 ") == "");

    m.stop();  // no policy service at all: readsocket's fallback answer
    auto away = exim.session("alice", "alice@example.com", {"a@elsewhere.org"});
    CHECK(find_reply(away, "451 ") == "451 4.7.1 Quota service not answering, try again later");

    s.start();
    m.start();
    auto back = exim.session("alice", "alice@example.com", {"a@elsewhere.org"});
    CHECK(find_reply(back, "354 ") != "");
    CHECK(find_reply(back, "4") == "");
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=1 "));
}

TEST_CASE("e2e exim: recipients come from each RCPT: external ones counted and limited, postmaster@ exempt",
          "[e2e][exim][external]") {
    Slapd s(hosted_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyExternalRecipientsPerDay", {"2"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAliceDn, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    MilterProcess m(s, kHostedOptions);
    m.set("policy_listen", m.policy_address());
    m.set("socket", "none");
    m.start();
    Exim exim(m.policy_address());

    // Inside and outside in one message: only the outside ones are external.
    auto mixed = exim.session("alice", "alice@example.com", {"bob@example.com", "x@out.example", "y@out.example"});
    INFO(exim.transcript() << "\ndaemon log:\n" << m.log());
    CHECK(find_reply(mixed, "354 ") != "");
    CHECK(find_reply(mixed, "5") == "");
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=1 recipients=3 ") &&
                                          Catch::Contains(" externalRecipients=2"));
    CHECK_THAT(m.log(), Catch::Contains("rcpts=3 external=2 "));
    // A third outside recipient in the day is over the limit.
    auto over = exim.session("alice", "alice@example.com", {"z@out.example"});
    CHECK(find_reply(over, "550 ") == "550 5.7.1 daily limit of 2 external recipients reached");
    // Mail to postmaster@ only is exempt: not charged, passes though the next message would be the limit.
    auto exempt = exim.session("alice", "alice@example.com", {"postmaster@example.net"});
    CHECK(find_reply(exempt, "5") == "");
    CHECK_THAT(m.log(), Catch::Contains("exempt="));
    CHECK_THAT(usage_of(s, kAliceDn), Catch::Contains("messages=1 recipients=3 "));
}
