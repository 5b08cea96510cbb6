// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// External recipients, exemptions and accounting-only accounts against the
// real slapd with the overlay: the hosted domains read from the directory,
// tallyExemptList entries (hostile values ignored with a log line), the
// fifth metric in counters and limits, tallyAccountingOnly resolved by the
// overlay so that both doors and tallyctl check agree.
#include "milter_process.h"
#include "miltertest_drive.h"
#include "policy_conn.h"
#include "slapd_fixture.h"
#include "tallyctl_run.h"

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

TEST_CASE("external recipients: counted in their own metric, refused past their limit", "[integration][external]") {
    Slapd s(hosted_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyExternalRecipientsPerDay", {"2"}) == LDAP_SUCCESS);
    MilterProcess m(s, kHostedOptions);
    m.start();
    auto r = drive(m, {{"alice", "<alice@example.com>", {"<bob@example.com>", "<x@out.example>", "<y@out.example>"}, "QE1"},
                       {"alice", "<alice@example.com>", {"<z@out.example>"}, "QE2"},
                       {"alice", "<alice@example.com>",
                        {"<a@example.com>", "<b@example.net>", "<c@Example.COM>", "<d@example.com>"}, "QE3"}});
    CHECK(r[0] == "eom continue");
    CHECK(r[1] == "eom replycode");  // a third external recipient in the day
    CHECK(r[2] == "eom continue");   // inside flows
    std::string log = m.log();
    INFO(log);
    CHECK_THAT(log, Catch::Contains("qid=QE1 ") && Catch::Contains("rcpts=3 external=2 "));
    CHECK_THAT(log, Catch::Contains("reply=\"550 5.7.1 daily limit of 2 external recipients reached\""));
    CHECK_THAT(log, Catch::Contains("reason=\"day limit of 2 externalRecipients reached (usage 2)\""));
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=2 recipients=7 ") &&
                                        Catch::Contains(" externalRecipients=2"));

    // tallyctl usage shows the metric; tallyctl check decides by address as tallyd would
    std::string out;
    CHECK(run_tallyctl(bind_options(s.uri(), kServiceDn), {"usage", kAlice}, &out) == 0);
    auto row = out.find("externalRecipients");
    REQUIRE(row != std::string::npos);
    std::string line = out.substr(row, out.find('\n', row) - row);
    CHECK(line.find(" 2 ") != std::string::npos);  // used 2
    CHECK(line.back() == '0');                      // left 0 of 2
    CHECK(run_tallyctl({"check", "-c", m.config_path(), "alice", "alice@example.com", "in@example.com,x@out.example",
                        "100"}, &out) == 1);
    CHECK_THAT(out, Catch::Contains("daily limit of 2 external recipients reached"));
    CHECK(run_tallyctl({"check", "-c", m.config_path(), "alice", "alice@example.com", "in@example.com", "100"},
                       &out) == 0);
}

TEST_CASE("exemptions: mail to postmaster@ is not counted and passes at the limit", "[integration][exempt]") {
    Slapd s(hosted_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"1"}) == LDAP_SUCCESS);
    MilterProcess m(s, kHostedOptions);
    m.start();
    auto r = drive(m, {{"alice", "<alice@example.com>", {"<bob@example.com>", "<postmaster@example.net>"}, "QX1"},
                       {"alice", "<alice@example.com>", {"<bob@example.com>"}, "QX2"},
                       {"alice", "<alice@example.com>", {"<Postmaster@example.com>", "<abuse@example.net>"}, "QX3"},
                       {"alice", "<alice@example.com>", {"<anyone@elsewhere.org>"}, "QX4"}});
    CHECK(r[0] == "eom continue");
    CHECK(r[1] == "eom replycode");  // at the limit
    CHECK(r[2] == "eom continue");   // to postmaster@ and abuse@ only: not charged, passes
    CHECK(r[3] == "eom replycode");  // "*@elsewhere.org" is no exemption
    std::string log = m.log();
    INFO(log);
    CHECK_THAT(log, Catch::Contains("exempt=\"1 exempt recipient: postmaster@ (at a hosted domain)\""));
    CHECK_THAT(log, Catch::Contains("qid=QX3 ") &&
                        Catch::Contains("reason=\"exempt: every recipient is on an exemption list; not charged\""));
    CHECK_THAT(log, Catch::Contains("exemption ignored, not an address, a domain or local@: cn=exempt,dc=example,dc=com: "
                                    "\"*@elsewhere.org\""));
    CHECK_THAT(log, Catch::Contains("\")(objectClass=*\""));
    // one message, one counted recipient (bob; postmaster@ left out)
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=1 recipients=1 "));
}

TEST_CASE("accounting-only: counted, never refused, by account or policy, and check agrees", "[integration][accounting]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"1"}) == LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyAccountingOnly", {"TRUE"}) == LDAP_SUCCESS);
    auto svc = s.connect(kServiceDn, kPassword);
    for (int i = 1; i <= 3; ++i) {
        auto c = charge_one(*svc, kAlice);
        REQUIRE(c.ldap.code == LDAP_SUCCESS);
        CHECK(c.response.verdict == Verdict::accepted);
        CHECK(used(c.response, "day") == static_cast<unsigned>(i));
        if (i > 1) CHECK(c.response.exceeded);
    }
    CHECK_THAT(s.log(), Catch::Contains("exceeded=day limit of 1 messages reached (usage 1) accountingOnly"));
    auto check = charge_one(*svc, kAlice, 1, 100, "", Mode::check);
    CHECK(check.response.verdict == Verdict::accepted);

    // FALSE on the account wins over a policy saying TRUE
    REQUIRE(ldap_add(*root, "cn=counted,ou=policies,dc=example,dc=com",
                     {{"objectClass", {"tallyPolicy"}}, {"cn", {"counted"}}, {"tallyAccountingOnly", {"TRUE"}}}) ==
            LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyPolicyDN", {"cn=counted,ou=policies,dc=example,dc=com"}) ==
            LDAP_SUCCESS);
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyAccountingOnly", {"FALSE"}) == LDAP_SUCCESS);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);
    // and without it, the policy's TRUE applies
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_DELETE, "tallyAccountingOnly", {}) == LDAP_SUCCESS);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);

    // through tallyd: accepted, and the log line says why
    MilterProcess m(s);
    m.start();
    auto r = drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "QA1"}});
    CHECK(r[0] == "eom continue");
    CHECK_THAT(m.log(), Catch::Contains("reason=\"counted, not refused (accounting-only): day limit of 1 messages") &&
                            Catch::Contains("exempt=\"accounting-only\""));
    std::string out;
    CHECK(run_tallyctl({"check", "-c", m.config_path(), "alice", "alice@example.com", "1", "100"}, &out) == 0);
}

TEST_CASE("external recipients through the policy door: remembered from RCPT by instance", "[integration][external][policy]") {
    Slapd s(hosted_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyLimit", {"day externalRecipients 1"}) == LDAP_SUCCESS);
    MilterProcess m(s, kHostedOptions);
    m.set("policy_listen", m.policy_address());
    m.start();
    PolicyConn c(m.policy_port());
    REQUIRE(c.ok());
    auto req = [](const std::string &state, const std::string &qid, const std::string &rcpt, int count = 0) {
        std::map<std::string, std::string> r = {{"request", "smtpd_access_policy"}, {"protocol_state", state},
                                                {"client_address", "192.0.2.10"},   {"sender", "alice@example.com"},
                                                {"sasl_username", "alice"},         {"instance", "inst." + qid},
                                                {"queue_id", qid},                  {"recipient", rcpt}};
        if (state == "END-OF-MESSAGE") {
            r["size"] = "500";
            r["recipient_count"] = std::to_string(count);
        }
        return r;
    };
    CHECK(c.ask(req("RCPT", "P1", "bob@example.com")) == "DUNNO");
    CHECK(c.ask(req("RCPT", "P1", "x@out.example")) == "DUNNO");
    CHECK(c.ask(req("RCPT", "P1", "postmaster@example.net")) == "DUNNO");
    CHECK(c.ask(req("END-OF-MESSAGE", "P1", "", 3)) == "DUNNO");
    CHECK_THAT(usage_of(s, kAlice), Catch::Contains("messages=1 recipients=2 ") &&
                                        Catch::Contains(" externalRecipients=1"));
    // a second external recipient in the day
    CHECK(c.ask(req("RCPT", "P2", "y@out.example")) == "DUNNO");
    CHECK(c.ask(req("END-OF-MESSAGE", "P2", "", 1)) == "550 5.7.1 daily limit of 1 external recipients reached");
    // inside only: passes
    CHECK(c.ask(req("RCPT", "P3", "carol@example.com")) == "DUNNO");
    CHECK(c.ask(req("END-OF-MESSAGE", "P3", "", 1)) == "DUNNO");
    // recipients never seen at RCPT count as external
    CHECK(c.ask(req("END-OF-MESSAGE", "P4", "", 1)) == "550 5.7.1 daily limit of 1 external recipients reached");
    CHECK_THAT(m.log(), Catch::Contains("qid=P4 ") && Catch::Contains("rcpts_unseen=1"));
}

TEST_CASE("hosted domains: unreadable at the start is the failure policy",
          "[integration][external]") {
    Slapd s(hosted_test_directory());
    s.start();
    MilterProcess m(s, "hosted_domain_search_base = ou=nowhere,dc=example,dc=com\n");
    m.start();
    auto r = drive(m, {{"alice", "<alice@example.com>", {"<bob@example.com>"}, "QH1"}});
    CHECK(r[0] == "eom replycode");
    CHECK_THAT(m.log(), Catch::Contains("reply=\"451 4.7.1 Service temporarily unavailable, try again later\""));
    CHECK_THAT(m.log(), Catch::Contains("hosted domains: hosted domain search:") &&
                            Catch::Contains("hosted domains not read"));
    CHECK(usage_of(s, kAlice).empty());
}
