// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Which recipients count, and which count as external: exemption values
// (hostile ones refused, never matched loosely), classification of a
// message's recipients, the hosted-domain cache's lifetimes, and the flow
// charging what the classification says.
#include "fake_backend.h"
#include "message_flow.h"
#include "policy_door.h"
#include "recipients.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::engine;

namespace {
Exemptions exemptions(std::initializer_list<const char *> values) {
    Exemptions ex;
    for (const char *v : values) REQUIRE_FALSE(parse_exemption(v, ex));
    return ex;
}
}  // namespace

TEST_CASE("exemption values: an address, a domain, local@, nothing else", "[recipients][exempt]") {
    Exemptions ex;
    CHECK_FALSE(parse_exemption("Postmaster@Example.COM", ex));
    CHECK_FALSE(parse_exemption("lists.example.org", ex));
    CHECK_FALSE(parse_exemption("abuse@", ex));
    CHECK(ex.addresses == std::set<std::string>{"postmaster@example.com"});
    CHECK(ex.domains == std::set<std::string>{"lists.example.org"});
    CHECK(ex.local_parts == std::set<std::string>{"abuse"});

    // Refused with a reason, and nothing added: never a pattern.
    Exemptions none;
    for (const char *hostile : {"*", "*@example.com", "post*@example.com", "*.example.com", "@example.com",
                                "a@b@example.com", ")(mail=*", "post)(master@example.com", "user@exa mple.com",
                                "user@-example.com", "user@example..com", "", " example.com",
                                "example.com.", "p\\2a@example.com", "user@[192.0.2.1]", "ex\xc3\xa4mple.com",
                                "a@example.com\n"}) {
        INFO(hostile);
        CHECK(parse_exemption(hostile, none));
    }
    CHECK(none.empty());
    CHECK(parse_exemption(std::string(321, 'a'), none));
    CHECK_THAT(*parse_exemption("*", none), Catch::Contains("not an address"));
}

TEST_CASE("classification: hosted, external, exempt", "[recipients][external]") {
    HostedDomains hosted = {"example.com", "example.net"};
    Exemptions ex = exemptions({"postmaster@", "help@partner.example", "lists.example.org"});
    std::string why;
    CHECK(classify_recipient("<bob@example.com>", hosted, ex, "+") == RecipientClass::internal);
    CHECK(classify_recipient("Bob@EXAMPLE.NET", hosted, ex, "+") == RecipientClass::internal);
    CHECK(classify_recipient("<bob@gmail.example>", hosted, ex, "+") == RecipientClass::external);
    // subdomains are not hosted unless listed
    CHECK(classify_recipient("<bob@mail.example.com>", hosted, ex, "+") == RecipientClass::external);
    CHECK(classify_recipient("<postmaster@example.com>", hosted, ex, "+", &why) == RecipientClass::exempt);
    CHECK(why == "postmaster@ (at a hosted domain)");
    CHECK(classify_recipient("<postmaster+x@Example.Net>", hosted, ex, "+") == RecipientClass::exempt);
    // local@ is for hosted domains only: postmaster elsewhere counts
    CHECK(classify_recipient("<postmaster@gmail.example>", hosted, ex, "+") == RecipientClass::external);
    CHECK(classify_recipient("<help@partner.example>", hosted, ex, "+", &why) == RecipientClass::exempt);
    CHECK(why == "help@partner.example (address)");
    CHECK(classify_recipient("<other@partner.example>", hosted, ex, "+") == RecipientClass::external);
    CHECK(classify_recipient("<x@lists.example.org>", hosted, ex, "+", &why) == RecipientClass::exempt);
    CHECK(why == "lists.example.org (domain)");
    CHECK(classify_recipient("<x@sub.lists.example.org>", hosted, ex, "+") == RecipientClass::external);
    // what is not an address counts, as external
    CHECK(classify_recipient("", hosted, ex, "+") == RecipientClass::external);
    CHECK(classify_recipient("<>", hosted, ex, "+") == RecipientClass::external);
    CHECK(classify_recipient("<postmaster>", hosted, ex, "+") == RecipientClass::external);
    CHECK(classify_recipient("<*@example.com>", hosted, ex, "+") == RecipientClass::internal);
}

TEST_CASE("a message's recipients: exempt ones left out, unseen ones external", "[recipients][external]") {
    HostedDomains hosted = {"example.com"};
    Exemptions ex = exemptions({"postmaster@"});
    SECTION("every recipient seen") {
        auto r = classify_message(4, {"<a@example.com>", "<b@out.example>", "<postmaster@example.com>", "<c@out.example>"},
                                  true, hosted, ex, "+");
        CHECK(r.all_known);
        CHECK(r.counted == 3);
        CHECK(r.external == 2);
        CHECK(r.exempt == 1);
        CHECK(r.exempt_why == "postmaster@ (at a hosted domain)");
    }
    SECTION("all exempt: nothing counted") {
        auto r = classify_message(1, {"<postmaster@example.com>"}, true, hosted, ex, "+");
        CHECK(r.counted == 0);
        CHECK(r.exempt == 1);
    }
    SECTION("fewer seen than the MTA accepted: the unseen count as external, none exempt") {
        auto r = classify_message(3, {"<postmaster@example.com>"}, true, hosted, ex, "+");
        CHECK_FALSE(r.all_known);
        CHECK(r.counted == 3);
        CHECK(r.exempt == 0);
        CHECK(r.external == 2);
    }
    SECTION("none seen (the RCPT state was not asked): all external") {
        auto r = classify_message(5, {}, true, hosted, ex, "+");
        CHECK(r.counted == 5);
        CHECK(r.external == 5);
    }
    SECTION("more seen than accepted (the MTA refused some later): none exempt, at most all external") {
        auto r = classify_message(1, {"<postmaster@example.com>", "<x@out.example>"}, true, hosted, ex, "+");
        CHECK(r.counted == 1);
        CHECK(r.exempt == 0);
        CHECK(r.external == 1);
    }
    SECTION("not classifying: every recipient counts, none external") {
        auto r = classify_message(2, {}, false, hosted, ex, "+");
        CHECK(r.counted == 2);
        CHECK(r.external == 0);
    }
}

TEST_CASE("hosted domains cache: fresh, then stale within stale_max, then nothing", "[recipients][cache]") {
    HostedDomainsCache c(300, 3600, 10);
    CHECK(c.needs_refresh(0));
    CHECK_FALSE(c.usable(0));
    c.failed(0);
    CHECK_FALSE(c.needs_refresh(5));  // retried at most every 10 s
    CHECK(c.needs_refresh(10));
    c.refreshed({"example.com"}, 10);
    REQUIRE(c.usable(10));
    CHECK(c.usable(10)->count("example.com"));
    CHECK_FALSE(c.needs_refresh(309));
    CHECK(c.needs_refresh(310));
    c.failed(310);                     // the directory fails: the last set stays
    CHECK(c.usable(3609));
    CHECK_FALSE(c.usable(3610));      // an hour after the last good read: none
    CHECK(c.needs_refresh(3610));
    c.refreshed({"example.net"}, 3611);
    REQUIRE(c.usable(3611));
    CHECK(c.usable(3611)->count("example.net"));
    CHECK(c.age(3700) == 89);

    HostedDomainsCache strict(300, 0);  // stale_max 0: only within the ttl
    strict.refreshed({"a.example"}, 0);
    CHECK(strict.usable(299));
    CHECK_FALSE(strict.usable(300));
}

namespace {
struct ExternalFlow : FlowFixture {
    ExternalFlow() {
        cfg.hosted_domain_search_base = "dc=x";
        backend.hosted = HostedDomains{"example.com"};
    }
    Decision send(std::vector<std::string> rcpts, const std::string &sender = "<alice@example.com>") {
        MessageFlow flow(cfg, backend, cache);
        REQUIRE_FALSE(flow.mail_from("alice", sender, "192.0.2.1"));
        for (const auto &r : rcpts) flow.add_recipient(r);
        flow.add_bytes(100);
        Decision d = flow.end_of_data("Q1");
        line = flow.log_line();
        return d;
    }
    std::string line;
};
}  // namespace

TEST_CASE("flow: external recipients are charged in their own metric", "[recipients][external][flow]") {
    ExternalFlow f;
    Decision d = f.send({"<bob@example.com>", "<x@out.example>", "<y@out.example>"});
    CHECK(d.action == Action::accept);
    REQUIRE(f.backend.charges.size() == 1);
    CHECK(f.backend.charges[0].recipients == 3);
    CHECK(f.backend.charges[0].external_recipients == 2);
    CHECK_THAT(f.line, Catch::Contains("rcpts=3 external=2"));

    SECTION("hosted domains unknown and no earlier set: the failure policy, nothing charged") {
        f.backend.hosted.reset();
        f.backend.charges.clear();
        Decision down = f.send({"<x@out.example>"});
        CHECK(down.action == Action::tempfail);
        CHECK(f.backend.charges.empty());
        CHECK_THAT(f.line, Catch::Contains("hosted domains"));
        f.cfg.on_directory_unavailable = FailAction::accept;
        Decision passed = f.send({"<x@out.example>"});
        CHECK(passed.action == Action::accept);
        CHECK(f.backend.charges.empty());
        CHECK_THAT(f.line, Catch::Contains("UNCOUNTED"));
    }
    SECTION("the quota reply names external recipients") {
        f.backend.result.response.verdict = Verdict::refused;
        f.backend.result.response.exceeded = Exceeded{"day", Metric::externalRecipients, 200, 199};
        Decision refused = f.send({"<x@out.example>", "<y@out.example>"});
        CHECK(refused.action == Action::reject);
        CHECK(refused.reply.text == "daily limit of 200 external recipients reached");
        CHECK(refused.reason == "day limit of 200 externalRecipients reached (usage 199)");
    }
}

TEST_CASE("flow: exemptions", "[recipients][exempt][flow]") {
    ExternalFlow f;
    f.cfg.exempt_search_base = "dc=x";
    f.backend.exempt = exemptions({"postmaster@", "abuse@"});
    SECTION("every recipient exempt: not charged, and the log says why") {
        Decision d = f.send({"<postmaster@example.com>", "<Abuse@example.com>"});
        CHECK(d.action == Action::accept);
        CHECK(f.backend.charges.empty());
        CHECK_THAT(f.line, Catch::Contains("reason=\"exempt: every recipient is on an exemption list; not charged\""));
        CHECK_THAT(f.line, Catch::Contains("exempt=\"2 exempt recipients: postmaster@ (at a hosted domain)\""));
    }
    SECTION("a mixed message: the exempt recipients are left out") {
        Decision d = f.send({"<postmaster@example.com>", "<x@out.example>"});
        CHECK(d.action == Action::accept);
        REQUIRE(f.backend.charges.size() == 1);
        CHECK(f.backend.charges[0].recipients == 1);
        CHECK(f.backend.charges[0].external_recipients == 1);
        CHECK_THAT(f.line, Catch::Contains("exempt=\"1 exempt recipient: postmaster@"));
    }
    SECTION("exemptions without hosted domains: left out, nothing counted as external") {
        f.cfg.hosted_domain_search_base.clear();
        f.cfg.hosted_domains = {"example.com"};
        Decision d = f.send({"<postmaster@example.com>", "<x@out.example>"});
        CHECK(d.action == Action::accept);
        REQUIRE(f.backend.charges.size() == 1);
        CHECK(f.backend.charges[0].recipients == 1);
        CHECK(f.backend.charges[0].external_recipients == 0);
        CHECK(f.backend.hosted_reads == 0);
    }
    SECTION("the exemption lists unreadable: the failure policy") {
        f.backend.exempt.reset();
        Decision d = f.send({"<postmaster@example.com>"});
        CHECK(d.action == Action::tempfail);
        CHECK(f.backend.charges.empty());
    }
}

TEST_CASE("flow: the null sender is exempt only by option", "[recipients][exempt][flow]") {
    ExternalFlow f;
    f.cfg.null_sender_allowed = true;
    f.send({"<x@out.example>"}, "<>");
    CHECK(f.backend.charges.size() == 1);  // default: bounces count
    f.cfg.exempt_null_sender = true;
    Decision d = f.send({"<x@out.example>"}, "<>");
    CHECK(d.action == Action::accept);
    CHECK(f.backend.charges.size() == 1);
    CHECK_THAT(f.line, Catch::Contains("exempt=\"null sender (exempt_null_sender)\""));
    CHECK_THAT(f.line, Catch::Contains("not charged"));
}

TEST_CASE("flow: accounting-only says so in the log line", "[recipients][accounting][flow]") {
    ExternalFlow f;
    f.backend.result.response.verdict = Verdict::accepted;
    f.backend.result.response.exceeded = Exceeded{"day", Metric::messages, 3, 3};
    Decision d = f.send({"<bob@example.com>"});
    CHECK(d.action == Action::accept);
    CHECK_THAT(f.line, Catch::Contains("reason=\"counted, not refused (accounting-only): day limit of 3 messages"));
    CHECK_THAT(f.line, Catch::Contains("exempt=\"accounting-only\""));
}

TEST_CASE("policy door: recipients remembered by instance from RCPT to END-OF-MESSAGE", "[recipients][policy]") {
    ExternalFlow f;
    policy::PolicyMemory memory;
    auto request = [](const std::string &state, const std::string &instance, const std::string &rcpt,
                      const std::string &count = "2") {
        policy::PolicyRequest r;
        r.attributes = {{"request", "smtpd_access_policy"}, {"protocol_state", state},
                        {"client_address", "192.0.2.10"},   {"sender", "alice@example.com"},
                        {"sasl_username", "alice"},         {"instance", instance},
                        {"recipient", rcpt},                {"queue_id", "4QxYz1abcdef"},
                        {"size", "100"},                    {"recipient_count", count}};
        return r;
    };
    auto ask = [&](const policy::PolicyRequest &r) { return policy::answer(f.cfg, f.backend, f.cache, memory, r); };

    CHECK(ask(request("RCPT", "i1", "bob@example.com")).action == "DUNNO");
    CHECK(ask(request("RCPT", "i1", "x@out.example")).action == "DUNNO");
    CHECK(ask(request("RCPT", "i2", "y@out.example")).action == "DUNNO");  // another message
    CHECK(memory.recipients.total() == 3);
    auto eom = ask(request("END-OF-MESSAGE", "i1", ""));
    CHECK(eom.action == "DUNNO");
    REQUIRE(f.backend.charges.size() == 1);
    CHECK(f.backend.charges[0].recipients == 2);
    CHECK(f.backend.charges[0].external_recipients == 1);
    CHECK(memory.recipients.total() == 1);  // taken once

    SECTION("an instance never seen at RCPT: every recipient external, logged as unseen") {
        auto a = ask(request("END-OF-MESSAGE", "i9", "", "4"));
        REQUIRE(f.backend.charges.size() == 2);
        CHECK(f.backend.charges[1].recipients == 4);
        CHECK(f.backend.charges[1].external_recipients == 4);
        CHECK_THAT(a.log_line, Catch::Contains("external=4 rcpts_unseen=4"));
    }
}

TEST_CASE("policy door: the recipient memory is bounded", "[recipients][policy]") {
    policy::SeenRecipients seen(5, 2);
    seen.add("a", "1@x");
    seen.add("a", "2@x");
    seen.add("a", "3@x");  // beyond 2 per message: not kept
    CHECK(seen.total() == 2);
    seen.add("b", "1@x");
    seen.add("c", "1@x");
    seen.add("c", "2@x");
    seen.add("d", "1@x");  // 6 > 5: the oldest message (a) goes
    CHECK(seen.total() == 4);
    CHECK(seen.take("a").empty());
    CHECK(seen.take("c").size() == 2);
    CHECK(seen.take("c").empty());
    CHECK(seen.total() == 2);
    seen.add("", "1@x");  // no instance: nothing to key it by
    CHECK(seen.total() == 2);
}
