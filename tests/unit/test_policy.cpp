// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The policy protocol's pure parts: requests read line by line, listen
// addresses, and requests answered through the decision flow (fake directory).
#include "fake_backend.h"
#include "listen_address.h"
#include "policy_door.h"
#include "policy_request.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::engine;
using namespace tally::policy;

namespace {

using Status = RequestReader::Status;

/* feed - lines into a reader; the status of the last */
Status feed(RequestReader &r, std::initializer_list<std::string_view> lines) {
    Status s = Status::more;
    for (auto l : lines) s = r.add_line(l);
    return s;
}

struct Door : FlowFixture {
    PolicyMemory memory;
    RefusedMessages &refused = memory.refused;
    /* request - what Postfix sends in a state, with overrides ("" value: remove) */
    static PolicyRequest request(const std::string &state, std::map<std::string, std::string> over = {}) {
        PolicyRequest r;
        r.attributes = {{"request", "smtpd_access_policy"}, {"protocol_state", state},
                        {"protocol_name", "ESMTP"},         {"client_address", "192.0.2.10"},
                        {"sender", "alice@example.com"},    {"recipient", "bob@example.org"},
                        {"sasl_username", "alice"},         {"instance", "1a2b.6571c3e8.1234.0"},
                        {"queue_id", "4QxYz1abcdef"}};
        if (state == "END-OF-MESSAGE") {
            r.attributes["size"] = "2048";
            r.attributes["recipient_count"] = "3";
            r.attributes["recipient"] = "";
        }
        for (auto &[k, v] : over) {
            if (v == "<absent>") r.attributes.erase(k);
            else r.attributes.insert_or_assign(k, v);
        }
        return r;
    }
    PolicyAnswer ask(const PolicyRequest &r) { return answer(cfg, backend, cache, memory, r); }
};

}  // namespace

TEST_CASE("policy requests are read line by line", "[policy][request]") {
    RequestReader r;
    SECTION("name=value lines up to an empty line make a request") {
        CHECK(feed(r, {"request=smtpd_access_policy", "protocol_state=RCPT", "sender="}) == Status::more);
        CHECK(r.started());
        REQUIRE(r.add_line("") == Status::complete);
        CHECK_FALSE(r.started());  // answered: the connection is idle, not in a request
        CHECK(r.request().text("protocol_state") == "RCPT");
        REQUIRE(r.request().get("sender"));
        CHECK(r.request().get("sender")->empty());  // present and empty: the null sender
        CHECK_FALSE(r.request().get("size"));
        SECTION("the next line starts a fresh request") {
            CHECK(feed(r, {"protocol_state=END-OF-MESSAGE", ""}) == Status::complete);
            CHECK_FALSE(r.request().get("sender"));
        }
    }
    SECTION("request after request on one reader: each holds its own attributes, nothing of the last") {
        // The reader keeps the storage of a request's attributes for the next.
        for (int i = 0; i < 3; ++i) {
            const std::string n = std::to_string(i);
            CHECK(feed(r, {"request=smtpd_access_policy", "queue_id=Q" + n, "size=" + n + "000"}) == Status::more);
            if (i == 1) CHECK(r.add_line("sasl_username=alice") == Status::more);
            CHECK(r.add_line("queue_id=QQ" + n) == Status::more);  // the same name again: the last value counts
            REQUIRE(r.add_line("") == Status::complete);
            CHECK(r.request().attributes.size() == (i == 1 ? 4u : 3u));
            CHECK(r.request().text("queue_id") == "QQ" + n);
            CHECK(r.request().text("size") == n + "000");
            CHECK(r.request().get("sasl_username").has_value() == (i == 1));
        }
    }
    SECTION("values keep their '=' and CRLF is accepted") {
        CHECK(feed(r, {"ccert_subject=CN=a=b\r", "\r"}) == Status::complete);
        CHECK(r.request().text("ccert_subject") == "CN=a=b");
    }
    SECTION("garbage is refused with a reason") {
        CHECK(r.add_line("HELO there") == Status::bad);
        CHECK(r.error() == "line without name=value");
    }
    SECTION("binary data is refused") {
        CHECK(r.add_line(std::string_view("a=\x01\x02", 4)) == Status::bad);
        CHECK_THAT(r.error(), Catch::Contains("control character"));
        RequestReader r2;
        CHECK(r2.add_line(std::string_view("a=b\0c", 5)) == Status::bad);
    }
    SECTION("an empty request is refused") {
        CHECK(r.add_line("") == Status::bad);
        CHECK_THAT(r.error(), Catch::Contains("empty request"));
    }
    SECTION("a line longer than the limit is refused") {
        CHECK(r.add_line("a=" + std::string(kMaxLine, 'x')) == Status::bad);
        CHECK_THAT(r.error(), Catch::Contains("longer than"));
    }
    SECTION("too many attributes are refused") {
        Status s = Status::more;
        for (std::size_t i = 0; i <= kMaxAttributes && s == Status::more; ++i)
            s = r.add_line("a" + std::to_string(i) + "=x");
        CHECK(s == Status::bad);
        CHECK_THAT(r.error(), Catch::Contains("attributes"));
    }
    CHECK(answer_text("DUNNO") == "action=DUNNO\n\n");
}

TEST_CASE("listen addresses in Postfix's and the milter's spellings", "[policy][listen]") {
    auto a = parse_listen_address("inet:127.0.0.1:12345");
    REQUIRE(a);
    CHECK(a->host == "127.0.0.1");
    CHECK(a->port == 12345);
    CHECK(a->text() == "inet:127.0.0.1:12345");
    auto m = parse_listen_address("inet:12345@127.0.0.1");
    REQUIRE(m);
    CHECK(m->text() == "inet:127.0.0.1:12345");
    auto v6 = parse_listen_address("inet:[::1]:12345");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(v6->text() == "inet:[::1]:12345");
    auto u = parse_listen_address("unix:/run/tally/policy.sock");
    REQUIRE(u);
    CHECK(u->unix_socket);
    CHECK(u->path == "/run/tally/policy.sock");
    for (const char *bad : {"", "inet:127.0.0.1", "inet:localhost:12345", "inet:127.0.0.1:0", "inet:127.0.0.1:70000",
                            "inet:[::1]12345", "unix:relative/path", "tcp:127.0.0.1:1", "inet:127.0.0.1:12a"})
        CHECK_FALSE(parse_listen_address(bad));
}

TEST_CASE("RCPT: sender restrictions, nothing charged", "[policy][door]") {
    Door d;
    SECTION("an owned sender gets DUNNO") {
        auto a = d.ask(Door::request("RCPT"));
        CHECK(a.action == "DUNNO");
        CHECK(a.log == PolicyAnswer::Log::debug);
        CHECK(d.backend.charges.empty());
    }
    SECTION("a sender the login does not own gets the milter's 553") {
        auto a = d.ask(Door::request("RCPT", {{"sender", "ceo@example.com"}}));
        CHECK(a.action == "553 5.7.1 Sender address <ceo@example.com> is not owned by alice");
        CHECK(a.log == PolicyAnswer::Log::warn);
        CHECK_THAT(a.log_line, Catch::Contains("verdict=reject") && Catch::Contains("state=RCPT"));
        CHECK(d.backend.charges.empty());
    }
    SECTION("a blocked account gets its own text") {
        d.backend.lookup.account.blocked = true;
        d.backend.lookup.account.blocked_text = "Account suspended, call the helpdesk";
        auto a = d.ask(Door::request("RCPT"));
        CHECK(a.action == "554 5.7.1 Account suspended, call the helpdesk");
        SECTION("and its end of message is refused the same way, never charged") {
            d.backend.lookup.account.blocked = false;  // even if unblocked meanwhile
            auto e = d.ask(Door::request("END-OF-MESSAGE"));
            CHECK(e.action == a.action);
            CHECK(d.backend.charges.empty());
            CHECK_THAT(e.log_line, Catch::Contains("not charged"));
        }
    }
    SECTION("a deny-listed sender domain is refused") {
        d.cfg.deny_search_base = "ou=deny,dc=x";
        d.backend.lists = DenyLists{{"example.com"}, {}};
        auto a = d.ask(Door::request("RCPT"));
        CHECK(a.action == "554 5.7.1 Refused by policy: sender domain example.com");
    }
    SECTION("the directory down: the failure policy's defer") {
        d.backend.lookup.status = DirStatus::unavailable;
        d.backend.lookup.error = "Can't contact LDAP server";
        auto a = d.ask(Door::request("RCPT"));
        CHECK(a.action == "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
        CHECK_THAT(a.log_line, Catch::Contains("directory unavailable: Can't contact LDAP server"));
    }
    SECTION("a refused bind is named as such, with the same tempfail policy") {
        d.backend.lookup.status = DirStatus::refused;
        d.backend.lookup.error = "bind as \"cn=tally\" failed: Invalid credentials";
        auto a = d.ask(Door::request("RCPT"));
        CHECK(a.action == "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
        CHECK_THAT(a.log_line, Catch::Contains("service identity refused: bind as"));
    }
    SECTION("unauthenticated mail passes") {
        auto a = d.ask(Door::request("RCPT", {{"sasl_username", ""}, {"sender", "someone@elsewhere.org"}}));
        CHECK(a.action == "DUNNO");
        CHECK(d.backend.lookups == 0);
    }
}

TEST_CASE("END-OF-MESSAGE: the charge", "[policy][door]") {
    Door d;
    SECTION("size and recipient_count are charged once, the queue id as charge id") {
        auto a = d.ask(Door::request("END-OF-MESSAGE"));
        CHECK(a.action == "DUNNO");
        CHECK(a.log == PolicyAnswer::Log::info);
        REQUIRE(d.backend.charges.size() == 1);
        CHECK(d.backend.charges[0].account == "uid=alice,dc=x");
        CHECK(d.backend.charges[0].messages == 1);
        CHECK(d.backend.charges[0].recipients == 3);
        CHECK(d.backend.charges[0].bytes == 2048);
        CHECK(d.backend.charges[0].charge_id == "4QxYz1abcdef");
        CHECK_THAT(a.log_line, Catch::Contains("qid=4QxYz1abcdef") && Catch::Contains("rcpts=3 bytes=2048") &&
                                   Catch::Contains("state=END-OF-MESSAGE"));
    }
    SECTION("over a limit: the milter's reply text") {
        d.backend.result.response.verdict = Verdict::refused;
        d.backend.result.response.exceeded = Exceeded{"day", Metric::messages, 500, 500};
        auto a = d.ask(Door::request("END-OF-MESSAGE"));
        CHECK(a.action == "550 5.7.1 daily limit of 500 messages reached");
        CHECK(a.log == PolicyAnswer::Log::warn);
    }
    SECTION("the directory down at the charge: defer, and a lost charge is cancelled") {
        d.backend.result = {DirStatus::unavailable, {}, "charge: Timed out", true};
        auto a = d.ask(Door::request("END-OF-MESSAGE"));
        CHECK(a.action == "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
        REQUIRE(d.backend.cancels.size() == 1);
        CHECK(d.backend.cancels[0].charge_id == "4QxYz1abcdef");
    }
    SECTION("a foreign sender is refused at end of message too, uncharged") {
        auto a = d.ask(Door::request("END-OF-MESSAGE", {{"sender", "ceo@example.com"}}));
        CHECK(a.action.starts_with("553 5.7.1"));
        CHECK(d.backend.charges.empty());
    }
}

TEST_CASE("malformed policy requests are deferred with the attribute named", "[policy][door]") {
    Door d;
    struct Case {
        std::string state;
        std::map<std::string, std::string> over;
        std::string said;
    };
    for (const Case &c : std::vector<Case>{
             {"END-OF-MESSAGE", {{"size", "<absent>"}}, "attribute size missing"},
             {"END-OF-MESSAGE", {{"size", "12kB"}}, "attribute size is not a number"},
             {"END-OF-MESSAGE", {{"recipient_count", "-1"}}, "attribute recipient_count is not a number"},
             {"END-OF-MESSAGE", {{"queue_id", "<absent>"}}, "attribute queue_id missing"},
             {"RCPT", {{"client_address", "<absent>"}}, "attribute client_address missing"},
             {"RCPT", {{"sender", "<absent>"}}, "attribute sender missing"},
             {"RCPT", {{"protocol_state", "<absent>"}}, "attribute protocol_state missing"},
             {"RCPT", {{"request", "junk"}}, "not smtpd_access_policy"},
         }) {
        CAPTURE(c.said);
        auto a = d.ask(Door::request(c.state, c.over));
        CHECK(a.action == "DEFER_IF_PERMIT 4.7.1 Service temporarily unavailable, try again later");
        CHECK(a.log == PolicyAnswer::Log::warn);
        CHECK_THAT(a.log_line, Catch::Contains(c.said));
    }
    CHECK(d.backend.charges.empty());
}

TEST_CASE("other protocol states get DUNNO and touch nothing", "[policy][door]") {
    Door d;
    for (const char *state : {"CONNECT", "EHLO", "MAIL", "DATA", "VRFY"}) {
        auto a = d.ask(Door::request(state));
        CHECK(a.action == "DUNNO");
        CHECK(a.log == PolicyAnswer::Log::none);
    }
    CHECK(d.backend.lookups == 0);
    CHECK(d.backend.charges.empty());
}

TEST_CASE("refused messages are remembered within a bound", "[policy][door]") {
    RefusedMessages r(2);
    r.add("a", "554 x");
    r.add("b", "553 y");
    r.add("", "550 ignored");  // Postfix without instance: nothing to remember it by
    CHECK(r.find("a") == "554 x");
    r.add("c", "550 z");
    CHECK_FALSE(r.find("a"));  // the oldest is forgotten first
    CHECK(r.find("b") == "553 y");
    CHECK(r.find("c") == "550 z");
    CHECK_FALSE(r.find(""));
}
