// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Filter escaping, address ownership, reply templates, failure policy.
#include "address.h"
#include "netmatch.h"
#include "ldap_filter.h"
#include "decision.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::engine;
using namespace tally::client;

TEST_CASE("filter values are escaped per RFC 4515", "[milter][filter]") {
    CHECK(escape_filter_value("alice") == "alice");
    CHECK(escape_filter_value("*") == "\\2A");
    CHECK(escape_filter_value(")(uid=*") == "\\29\\28uid=\\2A");
    CHECK(escape_filter_value(std::string("a\0b", 3)) == "a\\00b");
    CHECK(escape_filter_value("back\\slash") == "back\\5Cslash");
    auto f = expand_filter("(&(objectClass=inetOrgPerson)(uid=%u))", {"*)(uid=*@example.com", "", ""});
    REQUIRE(f);
    CHECK(*f == "(&(objectClass=inetOrgPerson)(uid=\\2A\\29\\28uid=\\2A))");
    CHECK(expand_filter("(mail=%s)", {"a@b", "", ""}).value() == "(mail=a@b)");
    CHECK(expand_filter("(&(uid=%u)(realm=%d))", {"a@b.c", "", ""}).value() == "(&(uid=a)(realm=b.c))");
    CHECK(expand_filter("(member=%D)", {"", "uid=a,dc=x", ""}).value() == "(member=uid=a,dc=x)");
    CHECK(expand_filter("(uid=%x)", {"a", "", ""}) == std::nullopt);
    CHECK(expand_filter("100%%", {"a", "", ""}).value() == "100%");
    CHECK(expand_filter("(ipHostNumber=%c)", {"", "", "10.0.0.1)(cn=*"}).value() == "(ipHostNumber=10.0.0.1\\29\\28cn=\\2A)");
}

TEST_CASE("envelope addresses", "[milter][address]") {
    CHECK(parse_envelope_address("<alice@example.com>") == "alice@example.com");
    CHECK(parse_envelope_address("alice@example.com") == "alice@example.com");
    CHECK(parse_envelope_address("<>") == "");
    CHECK_FALSE(parse_envelope_address("<a b@example.com>"));
    CHECK_FALSE(parse_envelope_address("<a\r\n@example.com>"));
    CHECK_FALSE(parse_envelope_address("<" + std::string(400, 'a') + "@x>"));
    CHECK(domain_of("Alice@Example.COM") == "example.com");
}

TEST_CASE("ownership ignores case and +detail", "[milter][address]") {
    std::vector<std::string> mine = {"Alice@Example.com", "sales@example.com"};
    CHECK(owns_address(mine, "alice@example.com", "+"));
    CHECK(owns_address(mine, "ALICE+news@EXAMPLE.com", "+"));
    CHECK(owns_address(mine, "sales@example.com", "+"));
    CHECK_FALSE(owns_address(mine, "alice+news@example.com", ""));
    CHECK_FALSE(owns_address(mine, "bob@example.com", "+"));
    CHECK_FALSE(owns_address(mine, "alice@example.com.evil", "+"));
    CHECK_FALSE(owns_address(mine, "+alice@example.com", "+"));
}

TEST_CASE("sender restrictions: blocked, inactive, foreign, null sender", "[milter][policy]") {
    Config c;
    Account a;
    a.dn = "uid=alice,dc=x";
    a.addresses = {"alice@example.com"};
    CHECK(check_sender(c, a, "alice", "alice@example.com").action == Action::accept);

    auto foreign = check_sender(c, a, "alice", "ceo@example.com");
    CHECK(foreign.action == Action::reject);
    CHECK(foreign.reply.code == "553");
    CHECK(foreign.reply.xcode == "5.7.1");
    CHECK(foreign.reply.text == "Sender address <ceo@example.com> is not owned by alice");

    auto null_sender = check_sender(c, a, "alice", "");
    CHECK(null_sender.action == Action::reject);
    c.null_sender_allowed = true;
    CHECK(check_sender(c, a, "alice", "").action == Action::accept);

    a.blocked = true;
    auto blocked = check_sender(c, a, "alice", "alice@example.com");
    CHECK(blocked.action == Action::reject);
    CHECK(blocked.reply.code == "554");
    CHECK(blocked.reply.text == "This account is not allowed to send emails");
    a.blocked_text = "Your account is suspended: call the helpdesk\r\n250 fake";
    auto own_text = check_sender(c, a, "alice", "alice@example.com");
    CHECK(own_text.reply.text == "Your account is suspended: call the helpdesk??250 fake");

    a.blocked = false;
    a.blocked_text.clear();
    a.inactive = true;
    CHECK(check_sender(c, a, "alice", "alice@example.com").reply.code == "554");
}

TEST_CASE("quota replies name the window, metric and limit", "[milter][policy]") {
    Config c;
    ChargeResponse r;
    r.verdict = Verdict::refused;
    r.exceeded = Exceeded{"day", Metric::messages, 500, 500};
    auto d = decide_charge(r, c.reply_quota);
    CHECK(d.action == Action::reject);
    CHECK(d.reply.code == "550");
    CHECK(d.reply.text == "daily limit of 500 messages reached");
    CHECK(d.reason == "day limit of 500 messages reached (usage 500)");

    c.reply_quota = "451 4.7.1 %{window} quota: %{usage}/%{limit} %{metric}";
    d = decide_charge(r, c.reply_quota);
    CHECK(d.action == Action::tempfail);  // a 4xx template defers
    CHECK(d.reply.text == "day quota: 500/500 messages");

    r.verdict = Verdict::accepted;
    CHECK(decide_charge(r, c.reply_quota).action == Action::accept);
    r.verdict = Verdict::duplicate;
    CHECK(decide_charge(r, c.reply_quota).action == Action::accept);
}

TEST_CASE("failure policy per class", "[milter][policy]") {
    Config c;
    auto t = on_failure(c, FailAction::tempfail, "directory unavailable", ReasonClass::directory_unavailable);
    CHECK(t.action == Action::tempfail);
    CHECK(t.reply.code == "451");
    CHECK(t.reply.xcode == "4.7.1");
    CHECK(on_failure(c, FailAction::reject, "x", ReasonClass::directory_error).reply.code == "550");
    auto a = on_failure(c, FailAction::accept, "x", ReasonClass::directory_error);
    CHECK(a.action == Action::accept);
    CHECK(a.reply.code.empty());
}

TEST_CASE("reply templates cannot be used to inject lines", "[milter][policy]") {
    auto r = format_reply("553 5.7.1 Sender <%{sender}> refused", {{"sender", "a\r\n250 2.0.0 ok%n"}});
    CHECK(r.text == "Sender <a??250 2.0.0 ok?n> refused");
}

TEST_CASE("client addresses in networks", "[milter][relay]") {
    CHECK(prefix_match("10.1.2.3", "10.1.0.0", "255.255.0.0") == 16);
    CHECK(prefix_match("10.1.2.3", "10.1.0.0", "16") == 16);
    CHECK(prefix_match("10.1.2.3", "10.1.0.0/16", "") == 16);
    CHECK(prefix_match("10.1.2.3", "10.1.2.3", "") == 32);
    CHECK_FALSE(prefix_match("10.2.0.1", "10.1.0.0", "255.255.0.0"));
    CHECK_FALSE(prefix_match("10.1.2.3", "10.1.0.0", "255.0.255.0"));  // not contiguous
    CHECK_FALSE(prefix_match("10.1.2.3", "10.1.0.0", "33"));
    CHECK_FALSE(prefix_match("10.1.2.3", "2001:db8::", "32"));
    CHECK(prefix_match("2001:db8::5", "2001:db8::", "32") == 32);
    CHECK_FALSE(prefix_match("not an address", "10.0.0.0", "8"));
    CHECK(prefix_match("127.0.0.1", "0.0.0.0", "0") == 0);
}
