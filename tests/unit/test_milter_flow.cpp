// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// One message through MessageFlow with a fake directory: lookups, cache,
// restrictions, the charge request, failure policy and the log line.
#include "fake_backend.h"
#include "message_flow.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::engine;

namespace {

using Fixture = FlowFixture;

}  // namespace

TEST_CASE("an accepted message is charged once with its queue id, recipients and bytes", "[milter][flow]") {
    Fixture f;
    MessageFlow m(f.cfg, f.backend, f.cache);
    CHECK_FALSE(m.mail_from("alice", "<alice@example.com>", "127.0.0.1"));
    m.add_recipient();
    m.add_recipient();
    m.add_bytes(1000);
    m.add_bytes(24);
    Decision d = m.end_of_data("4XbT2c1NqVz");
    CHECK(d.action == Action::accept);
    REQUIRE(f.backend.charges.size() == 1);
    const ChargeRequest &r = f.backend.charges[0];
    CHECK(r.account == "uid=alice,dc=x");
    CHECK(r.messages == 1);
    CHECK(r.recipients == 2);
    CHECK(r.bytes == 1024);
    CHECK(r.charge_id == "4XbT2c1NqVz");
    CHECK(r.mode == Mode::charge);
    std::string line = m.log_line();
    CHECK_THAT(line, Catch::Contains("qid=4XbT2c1NqVz login=\"alice\" client=127.0.0.1 from=<alice@example.com> "
                                     "rcpts=2 bytes=1024 verdict=accept reason=\"within limits\""));
    CHECK_THAT(line, Catch::Contains("usage=\"day 3/500 messages\""));
}

TEST_CASE("the account is looked up once per cache lifetime", "[milter][flow]") {
    Fixture f;
    for (int i = 0; i < 3; ++i) {
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        m.end_of_data("Q" + std::to_string(i));
    }
    CHECK(f.backend.lookups == 1);
    CHECK(f.backend.charges.size() == 3);
}

TEST_CASE("a refused charge becomes 550 with the configured text", "[milter][flow]") {
    Fixture f;
    f.backend.result.response.verdict = Verdict::refused;
    f.backend.result.response.exceeded = Exceeded{"day", Metric::messages, 500, 500};
    MessageFlow m(f.cfg, f.backend, f.cache);
    m.mail_from("alice", "<alice@example.com>", "");
    Decision d = m.end_of_data("Q1");
    CHECK(d.action == Action::reject);
    CHECK(d.reply.code == "550");
    CHECK(d.reply.text == "daily limit of 500 messages reached");
    CHECK_THAT(m.log_line(), Catch::Contains("verdict=reject reason=\"day limit of 500 messages reached (usage 500)\""));
}

TEST_CASE("sender restrictions before any charge", "[milter][flow]") {
    Fixture f;
    SECTION("a foreign sender is refused and not charged") {
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<ceo@example.com>", "");
        CHECK(m.end_of_data("Q1").reply.code == "553");
        CHECK(f.backend.charges.empty());
    }
    SECTION("a blocked account is refused at MAIL FROM when stage = mail") {
        f.cfg.stage = Stage::mail;
        f.backend.lookup.account.blocked = true;
        MessageFlow m(f.cfg, f.backend, f.cache);
        auto d = m.mail_from("alice", "<alice@example.com>", "");
        REQUIRE(d);
        CHECK(d->reply.code == "554");
    }
    SECTION("unauthenticated mail passes untouched") {
        MessageFlow m(f.cfg, f.backend, f.cache);
        auto d = m.mail_from("", "<anyone@elsewhere.org>", "");
        REQUIRE(d);
        CHECK(d->action == Action::accept);
        CHECK(f.backend.lookups == 0);
    }
}

TEST_CASE("failure classes follow their policy", "[milter][flow]") {
    Fixture f;
    SECTION("directory unavailable: tempfail by default") {
        f.backend.lookup.status = DirStatus::unavailable;
        f.backend.lookup.error = "Can't contact LDAP server";
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        Decision d = m.end_of_data("Q1");
        CHECK(d.action == Action::tempfail);
        CHECK(d.reply.code == "451");
        CHECK_THAT(m.log_line(), Catch::Contains("directory unavailable: Can't contact LDAP server"));
    }
    SECTION("unknown account: tempfail by default, cached") {
        f.backend.lookup.status = DirStatus::not_found;
        for (int i = 0; i < 2; ++i) {
            MessageFlow m(f.cfg, f.backend, f.cache);
            m.mail_from("mallory", "<m@example.com>", "");
            CHECK(m.end_of_data("Q1").action == Action::tempfail);
        }
        CHECK(f.backend.lookups == 1);
    }
    SECTION("charge error with accept: passes, logged UNCOUNTED with id, login and size") {
        f.cfg.on_charge_error = FailAction::accept;
        f.backend.result.status = DirStatus::error;
        f.backend.result.error = "charge: Insufficient access";
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        m.add_bytes(77);
        CHECK(m.end_of_data("QID9").action == Action::accept);
        std::string line = m.log_line();
        CHECK_THAT(line, Catch::Contains("UNCOUNTED"));
        CHECK_THAT(line, Catch::Contains("qid=QID9 login=\"alice\""));
        CHECK_THAT(line, Catch::Contains("bytes=77"));
    }
    SECTION("stage = mail with an accept policy: let through at MAIL FROM, uncounted at end of data") {
        f.cfg.stage = Stage::mail;
        f.cfg.on_directory_unavailable = FailAction::accept;
        f.backend.lookup.status = DirStatus::unavailable;
        MessageFlow m(f.cfg, f.backend, f.cache);
        auto d = m.mail_from("alice", "<alice@example.com>", "");
        REQUIRE(d);
        CHECK(d->action == Action::accept);
        CHECK(m.end_of_data("Q5").action == Action::accept);
        CHECK(f.backend.charges.empty());
        CHECK_THAT(m.log_line(), Catch::Contains("UNCOUNTED"));
        CHECK(f.backend.lookups == 1);  // looked up once, at MAIL FROM
    }
    SECTION("a charge whose answer was lost: refused, and cancelled so it never counts") {
        f.backend.result.status = DirStatus::unavailable;
        f.backend.result.outcome_unknown = true;
        f.backend.result.error = "charge: Timed out";
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        m.add_recipient();
        CHECK(m.end_of_data("QID7").action == Action::tempfail);
        REQUIRE(f.backend.cancels.size() == 1);
        CHECK(f.backend.cancels[0].charge_id == "QID7");
        CHECK(f.backend.cancels[0].recipients == 1);
        CHECK_THAT(m.log_line(), Catch::Contains("cancel=pending"));
        // the next message on the same connection starts fresh: its charge
        // answered, nothing of the first one is in its log line
        f.backend.result = ChargeResult{DirStatus::ok, {}, ""};
        m.mail_from("alice", "<alice@example.com>", "");
        m.add_recipient();
        CHECK(m.end_of_data("QID8").action == Action::accept);
        CHECK(f.backend.cancels.size() == 1);
        CHECK_THAT(m.log_line(), !Catch::Contains("cancel=pending") && Catch::Contains("QID8"));
    }
    SECTION("a charge that never reached the server is not cancelled") {
        f.backend.result.status = DirStatus::unavailable;
        f.backend.result.error = "all 8 LDAP connections busy";
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        CHECK(m.end_of_data("QID6").action == Action::tempfail);
        CHECK(f.backend.cancels.empty());
    }
    SECTION("a lost answer with an accept policy is not cancelled: the message is delivered") {
        f.cfg.on_directory_unavailable = FailAction::accept;
        f.backend.result.status = DirStatus::unavailable;
        f.backend.result.outcome_unknown = true;
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        CHECK(m.end_of_data("QID8").action == Action::accept);
        CHECK(f.backend.cancels.empty());
    }
    SECTION("a charge the server refused with an error is known not to count: no cancel") {
        f.backend.result.status = DirStatus::error;
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from("alice", "<alice@example.com>", "");
        CHECK(m.end_of_data("QID9").action == Action::tempfail);
        CHECK(f.backend.cancels.empty());
    }
    SECTION("a hostile, overlong login never reaches the directory") {
        MessageFlow m(f.cfg, f.backend, f.cache);
        m.mail_from(std::string(1000, '*'), "<a@example.com>", "");
        CHECK(m.end_of_data("Q1").action == Action::tempfail);
        CHECK(f.backend.lookups == 0);
    }
}

TEST_CASE("the log line quotes hostile values", "[milter][flow]") {
    Fixture f;
    f.backend.lookup.status = DirStatus::not_found;
    MessageFlow m(f.cfg, f.backend, f.cache);
    m.mail_from("a\"b\nc", "<x@y>", "");
    m.end_of_data("Q1");
    CHECK_THAT(m.log_line(), Catch::Contains("login=\"a\\\"b\\x0ac\""));
}

TEST_CASE("the account cache is bounded and expires", "[milter][cache]") {
    AccountCache c(2, std::chrono::seconds(10));
    auto t0 = AccountCache::Clock::now();
    c.put("a", {true, {}}, t0);
    c.put("b", {true, {}}, t0);
    CHECK(c.get("a", t0));  // a is now most recent
    c.put("c", {true, {}}, t0);
    CHECK(c.size() == 2);
    CHECK_FALSE(c.get("b", t0));  // least recently used went
    CHECK(c.get("a", t0 + std::chrono::seconds(9)));
    CHECK_FALSE(c.get("a", t0 + std::chrono::seconds(11)));
}

TEST_CASE("unauthenticated mail: pass, lookup, refuse-hosted", "[milter][flow][unauth]") {
    Fixture f;
    SECTION("refuse-hosted refuses senders of hosted domains at MAIL FROM") {
        f.cfg.unauthenticated = Unauthenticated::refuse_hosted;
        f.cfg.hosted_domains = {"example.com"};
        MessageFlow m(f.cfg, f.backend, f.cache);
        auto d = m.mail_from("", "<Alice@EXAMPLE.com>", "192.0.2.1");
        REQUIRE(d);
        CHECK(d->action == Action::reject);
        CHECK(d->reply.text == "Authentication required to send as <Alice@EXAMPLE.com>");
        MessageFlow other(f.cfg, f.backend, f.cache);
        CHECK(other.mail_from("", "<bob@elsewhere.org>", "192.0.2.1")->action == Action::accept);
    }
    SECTION("lookup refuses a blocked sender account, passes others") {
        f.cfg.unauthenticated = Unauthenticated::lookup;
        f.backend.sender_lookup.status = DirStatus::ok;
        f.backend.sender_lookup.account.blocked = true;
        MessageFlow m(f.cfg, f.backend, f.cache);
        auto d = m.mail_from("", "<alice@example.com>", "192.0.2.1");
        REQUIRE(d);
        CHECK(d->reply.code == "554");
        f.backend.sender_lookup.account.blocked = false;
        MessageFlow ok(f.cfg, f.backend, f.cache);
        CHECK(ok.mail_from("", "<alice@example.com>", "192.0.2.1")->action == Action::accept);
    }
}

TEST_CASE("relay hosts are charged by client address and deferred at their limit", "[milter][flow][relay]") {
    Fixture f;
    f.cfg.relay_search_base = "ou=relays,dc=x";
    f.backend.relay_lookup.status = DirStatus::ok;
    f.backend.relay_lookup.account.dn = "cn=app1,ou=relays,dc=x";
    MessageFlow m(f.cfg, f.backend, f.cache);
    CHECK_FALSE(m.mail_from("", "<app@example.com>", "192.0.2.7"));
    m.add_recipient();
    CHECK(m.end_of_data("R1").action == Action::accept);
    REQUIRE(f.backend.charges.size() == 1);
    CHECK(f.backend.charges[0].account == "cn=app1,ou=relays,dc=x");
    CHECK(f.backend.charges[0].recipients == 1);

    f.backend.result.response.verdict = Verdict::refused;
    f.backend.result.response.exceeded = Exceeded{"hour", Metric::messages, 100, 100};
    MessageFlow again(f.cfg, f.backend, f.cache);
    again.mail_from("", "<app@example.com>", "192.0.2.7");
    Decision d = again.end_of_data("R2");
    CHECK(d.action == Action::tempfail);
    CHECK(d.reply.code == "451");
    CHECK(d.reply.text == "hourly limit of 100 messages reached for this host");
    CHECK(f.backend.relay_lookups == 1);  // cached

    SECTION("an address with no relay entry passes untouched") {
        f.backend.relay_lookup.status = DirStatus::not_found;
        MessageFlow other(f.cfg, f.backend, f.cache);
        auto pass = other.mail_from("", "<x@example.org>", "198.51.100.1");
        REQUIRE(pass);
        CHECK(pass->action == Action::accept);
    }
}

TEST_CASE("deny lists refuse sender domains and client networks", "[milter][flow][deny]") {
    Fixture f;
    f.cfg.deny_search_base = "ou=deny,dc=x";
    f.backend.lists->sender_domains = {"spam.example"};
    f.backend.lists->networks = {"198.51.100.0/24"};
    auto run = [&](const std::string &login, const std::string &from, const std::string &client) {
        MessageFlow m(f.cfg, f.backend, f.cache);
        if (auto d = m.mail_from(login, from, client)) return *d;
        return m.end_of_data("Q");
    };
    auto d = run("alice", "<alice@mx.SPAM.example>", "192.0.2.1");
    CHECK(d.action == Action::reject);
    CHECK(d.reply.text == "Refused by policy: sender domain spam.example");
    CHECK(run("alice", "<alice@example.com>", "198.51.100.9").reply.text ==
          "Refused by policy: client network 198.51.100.0/24");
    CHECK(run("", "<x@spam.example>", "192.0.2.1").action == Action::reject);  // unauthenticated too
    CHECK(run("alice", "<alice@example.com>", "192.0.2.1").action == Action::accept);
    CHECK(run("alice", "<alice@notspam.example>", "192.0.2.1").reply.code == "553");  // foreign sender, not denied
    f.backend.lists.reset();  // directory down: failure policy
    CHECK(run("alice", "<alice@example.com>", "192.0.2.1").action == Action::tempfail);
}
