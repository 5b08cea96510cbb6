// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// End to end through a real Postfix: the external-recipients limit, mail to
// postmaster@ passing at the limit uncounted, an accounting-only account
// never refused; through the milter and through check_policy_service
// (where the recipients come from the RCPT requests, by Postfix's instance).
#include "mail_stack.h"
#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::test;

namespace {

std::string usage_of(Slapd &s, const std::string &dn) {
    auto root = s.connect();
    auto v = ldap_values(*root, dn, "tallyUsage");
    return v.empty() ? "" : v.front();
}

}  // namespace

TEST_CASE("e2e external: outside recipients refused past their limit, inside flows, postmaster@ passes at the limit",
          "[e2e][milter][external]") {
    MailStackOptions o;
    o.slapd = hosted_test_directory();
    o.milter = {{"hosted_domain_search_base", "ou=domains,dc=example,dc=com"},
                {"exempt_search_base", "dc=example,dc=com"}};
    MailStack stack(o);
    Slapd &s = stack.slapd;
    Postfix &p = stack.postfix;
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyExternalRecipientsPerDay", {"2"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"3"}) == LDAP_SUCCESS);

    auto r1 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com",
                                                  {"bob@example.com", "x@elsewhere.org", "y@elsewhere.org"}));
    INFO(r1.transcript << "\ndaemon log:\n" << stack.milter.log());
    CHECK(r1.code == 250);
    auto r2 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"z@elsewhere.org"}));
    CHECK(r2.code == 550);
    CHECK_THAT(r2.reply, Catch::Contains("550 5.7.1 daily limit of 2 external recipients reached"));
    auto r3 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"carol@example.com"}));
    CHECK(r3.code == 250);
    CHECK(p.wait_delivered(2, 20000));
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=2 recipients=4 ") &&
                                        Catch::Contains(" externalRecipients=2"));

    // one more message reaches the limit of 3; then only mail to postmaster@ passes, uncounted
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"carol@example.com"})).code == 250);
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"carol@example.com"})).code == 550);
    auto pm = smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"postmaster@example.com"}));
    CHECK(pm.code == 250);
    CHECK(p.wait_delivered(4, 20000));
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=3 recipients=5 "));
    CHECK_THAT(stack.milter.log(), Catch::Contains("exempt=\"1 exempt recipient: postmaster@ (at a hosted domain)\""));
}

TEST_CASE("e2e external: an accounting-only account is counted and never refused", "[e2e][milter][accounting]") {
    MailStack stack;
    auto root = stack.slapd.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"1"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyAccountingOnly", {"TRUE"}) == LDAP_SUCCESS);
    for (int i = 0; i < 3; ++i) {
        auto r = smtp_send(stack.postfix.smtp_port(), submission("alice", "alice@example.com"));
        INFO(r.transcript << "\ndaemon log:\n" << stack.milter.log());
        CHECK(r.code == 250);
    }
    CHECK(stack.postfix.wait_delivered(3, 20000));
    CHECK_THAT(usage_of(stack.slapd, kAlice), Catch::Contains("messages=3 "));
    CHECK_THAT(stack.milter.log(), Catch::Contains("counted, not refused (accounting-only)"));
}

TEST_CASE("e2e external: through check_policy_service, recipients come from the RCPT requests",
          "[e2e][policy][external]") {
    Slapd s(hosted_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyExternalRecipientsPerDay", {"1"}) == LDAP_SUCCESS);
    MilterProcess m(s, kHostedOptions);
    m.set("policy_listen", m.policy_address());
    m.set("socket", "none");
    m.start();
    PostfixOptions po;
    po.users = {{"alice", "secret"}};
    std::string service = "check_policy_service " + m.policy_address();
    po.extra_main_cf = "smtpd_recipient_restrictions = permit_mynetworks, " + service +
                       ", permit_sasl_authenticated, reject\nsmtpd_end_of_data_restrictions = " + service + "\n";
    Postfix p(po);

    auto r1 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com",
                                                  {"bob@example.com", "x@elsewhere.org", "postmaster@example.com"}));
    INFO(r1.transcript << "\ndaemon log:\n" << m.log() << "\nmaillog:\n" << p.maillog());
    CHECK(r1.code == 250);
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=1 recipients=2 ") &&
                                        Catch::Contains(" externalRecipients=1"));
    auto r2 = smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"y@elsewhere.org"}));
    CHECK(r2.code == 550);
    CHECK_THAT(r2.reply, Catch::EndsWith("daily limit of 1 external recipients reached"));
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"carol@example.com"})).code == 250);
    CHECK(smtp_send(p.smtp_port(), submission("alice", "alice@example.com", {"postmaster@example.com"})).code == 250);
    CHECK(p.wait_delivered(3, 20000));
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=2 recipients=3 "));
    CHECK_THAT(m.log(), Catch::Contains("reason=\"exempt: every recipient is on an exemption list; not charged\""));
}
