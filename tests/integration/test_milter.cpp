// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyd driven through the milter protocol stage by stage (Debian's
// miltertest), against the real slapd with the overlay: lookups, sender
// restrictions, charges, replies, failure policy, hostile logins, reload.
#include "milter_process.h"
#include "miltertest_drive.h"
#include "slapd_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <signal.h>
#include <sys/stat.h>

using namespace tally;
using namespace tally::test;

namespace {


}  // namespace

TEST_CASE("milter: charges accepted messages and refuses past the limit", "[integration][milter]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyMessagesPerDay", {"2"}) == LDAP_SUCCESS);
    MilterProcess m(s);
    m.start();
    auto r = drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>", "<b@x.org>"}, "QID1"},
                       {"alice@example.com", "<alice@example.com>", {"<a@x.org>"}, "QID2"},
                       {"alice", "<alice@example.com>", {"<a@x.org>"}, "QID3"}});
    CHECK(r[0] == "eom continue");
    CHECK(r[1] == "eom continue");  // Cyrus-style login@realm finds the same account (%u)
    CHECK(r[2] == "eom replycode");
    std::string log = m.log();
    CHECK_THAT(log, Catch::Contains("qid=QID1 login=\"alice\" client=127.0.0.1 from=<alice@example.com> rcpts=2"));
    CHECK_THAT(log, Catch::Contains("verdict=accept reason=\"within limits\""));
    CHECK_THAT(log, Catch::Contains("qid=QID3"));
    CHECK_THAT(log, Catch::Contains("reply=\"550 5.7.1 daily limit of 2 messages reached\""));
    // the counter says what was accepted: 2 messages, 3 recipients
    auto counters = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(counters.size() == 1);
    CHECK_THAT(counters[0], Catch::Contains("messages=2 recipients=3 "));
}

TEST_CASE("milter: sender restrictions", "[integration][milter]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "sender_attributes = mail tallySendAs\n");
    m.start();
    auto r = drive(m, {{"alice", "<ceo@example.com>"},          // foreign sender
                       {"alice", "<ALICE+lists@Example.COM>"},  // +detail, any case
                       {"dora", "<dora@example.com>"},          // blocked, own text
                       {"alice", "<>"},                         // null sender
                       {"", "<anyone@elsewhere.org>"}});        // not authenticated: untouched
    CHECK(r[0] == "eom replycode");
    CHECK(r[1] == "eom continue");
    CHECK(r[2] == "eom replycode");
    CHECK(r[3] == "eom replycode");
    CHECK(r[4] == "mail accept");
    std::string log = m.log();
    CHECK_THAT(log, Catch::Contains("reply=\"553 5.7.1 Sender address <ceo@example.com> is not owned by alice\""));
    CHECK_THAT(log, Catch::Contains("reply=\"554 5.7.1 Account suspended, call 555-0100\""));
    CHECK_THAT(log, Catch::Contains("reason=\"account blocked\""));
}

TEST_CASE("milter: restrictions at MAIL FROM when stage = mail", "[integration][milter]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "stage = mail\n");
    m.start();
    auto r = drive(m, {{"dora", "<dora@example.com>"}, {"alice", "<bob@example.com>"}, {"alice", "<alice@example.com>"}});
    CHECK(r[0] == "mail replycode");
    CHECK(r[1] == "mail replycode");
    CHECK(r[2] == "eom continue");
}

TEST_CASE("milter: hostile logins never match another account", "[integration][milter][hostile]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "on_unknown_account = reject\n");
    m.start();
    auto r = drive(m, {{"*", "<alice@example.com>"},
                       {")(uid=*", "<alice@example.com>"},
                       {"alice)(uid=*", "<alice@example.com>"},
                       {"*)(|(uid=*", "<alice@example.com>"},
                       {std::string(300, 'a'), "<alice@example.com>"},
                       {"al\xff\xfeice", "<alice@example.com>"},
                       {"alice\\2a", "<alice@example.com>"}});
    for (const auto &x : r) CHECK(x == "eom replycode");
    std::string log = m.log();
    CHECK_THAT(log, !Catch::Contains("verdict=accept"));
    CHECK_THAT(log, Catch::Contains("reason=\"unknown account\""));
    // nothing was charged to anyone
    auto root = s.connect();
    CHECK(ldap_values(*root, kAlice, "tallyUsage").empty());
}

TEST_CASE("milter: directory down means 451, and mail flows again when it is back", "[integration][milter]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "cache_ttl = 0\n");
    m.start();
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "QA"}})[0] == "eom continue");
    s.stop();
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "QB"}})[0] == "eom replycode");
    CHECK_THAT(m.log(), Catch::Contains("reply=\"451 4.7.1 Service temporarily unavailable, try again later\""));
    s.start();  // same port; the milter reconnects by itself
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "QB"}})[0] == "eom continue");
    auto root = s.connect();
    auto counters = ldap_values(*root, kAlice, "tallyUsage");
    REQUIRE(counters.size() == 1);
    CHECK_THAT(counters[0], Catch::Contains("messages=2 "));
}

TEST_CASE("milter: failure policy accept lets mail through, logged as uncounted", "[integration][milter]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "on_unknown_account = accept\n");
    m.start();
    CHECK(drive(m, {{"nobody", "<nobody@example.com>", {"<a@x.org>"}, "QIDX"}})[0] == "eom continue");
    CHECK_THAT(m.log(), Catch::Contains("qid=QIDX login=\"nobody\""));
    CHECK_THAT(m.log(), Catch::Contains("UNCOUNTED"));
}

TEST_CASE("milter: -n checks the configuration, reload keeps a good one", "[integration][milter][config]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    int rc = run_command({MilterProcess::binary(), "-n", "-c", m.config_path()}, m.dir() + "/n.out");
    CHECK(rc == 0);
    CHECK_THAT(read_text(m.dir() + "/n.out"), Catch::Contains("is valid"));
    std::ofstream(m.dir() + "/bad.conf") << "search_base = dc=x\nfrobnicate = 1\nldap_pool_size = -3\n";
    rc = run_command({MilterProcess::binary(), "-n", "-c", m.dir() + "/bad.conf"}, m.dir() + "/bad.out");
    CHECK(rc == 1);
    std::string out = read_text(m.dir() + "/bad.out");
    CHECK_THAT(out, Catch::Contains("bad.conf:2: unknown option \"frobnicate\""));
    CHECK_THAT(out, Catch::Contains("bad.conf:3: ldap_pool_size"));

    m.start();
    CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom continue");
    // a broken file is refused and the old configuration keeps running
    std::string good = read_text(m.config_path());
    std::ofstream(m.config_path(), std::ios::app) << "stage = sometimes\n";
    m.reload();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK_THAT(m.log(), Catch::Contains("reload refused"));
    CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom continue");
    // a good file takes effect for new connections
    std::ofstream(m.config_path()) << good << "reply_foreign_sender = 553 5.7.1 Not yours: %{sender}\n";
    m.reload();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK_THAT(m.log(), Catch::Contains("configuration reloaded"));
    CHECK(drive(m, {{"alice", "<bob@example.com>"}})[0] == "eom replycode");
    CHECK_THAT(m.log(), Catch::Contains("reply=\"553 5.7.1 Not yours: bob@example.com\""));
}

TEST_CASE("milter: the example configuration is valid", "[integration][milter][config]") {
    TempDir d;
    std::string conf = read_text(source_path("daemon/tallyd.conf"));
    std::ofstream(d.path + "/pw") << "secret\n";
    auto at = conf.find("/etc/tallyd/ldap.password");
    REQUIRE(at != std::string::npos);
    conf.replace(at, std::string("/etc/tallyd/ldap.password").size(), d.path + "/pw");
    std::ofstream(d.path + "/tallyd.conf") << conf;
    int rc = run_command({MilterProcess::binary(), "-n", "-c", d.path + "/tallyd.conf"}, d.path + "/out");
    INFO(read_text(d.path + "/out"));
    CHECK(rc == 0);
}

TEST_CASE("milter: relay hosts are accounted by client address and deferred", "[integration][milter][relay]") {
    SlapdOptions o = milter_test_directory();
    o.data_ldif += R"(
dn: ou=relays,dc=example,dc=com
objectClass: organizationalUnit
ou: relays

dn: cn=loopback-apps,ou=relays,dc=example,dc=com
objectClass: ipNetwork
objectClass: tallyAccount
cn: loopback-apps
ipNetworkNumber: 127.0.0.0
ipNetmaskNumber: 255.0.0.0
tallyMessagesPerDay: 1
)";
    Slapd s(o);
    s.start();
    MilterProcess m(s, "relay_search_base = ou=relays,dc=example,dc=com\n");
    m.start();
    auto r = drive(m, {{"", "<app@example.com>", {"<a@x.org>"}, "R1"}, {"", "<app@example.com>", {"<a@x.org>"}, "R2"}});
    CHECK(r[0] == "eom continue");
    CHECK(r[1] == "eom replycode");
    CHECK_THAT(m.log(), Catch::Contains("reply=\"451 4.7.1 daily limit of 1 messages reached for this host\""));
    auto root = s.connect();
    auto counters = ldap_values(*root, "cn=loopback-apps,ou=relays,dc=example,dc=com", "tallyUsage");
    REQUIRE(counters.size() == 1);
    CHECK_THAT(counters[0], Catch::Contains("messages=1 "));
}

TEST_CASE("milter: unauthenticated senders in hosted domains must authenticate", "[integration][milter]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s, "unauthenticated = refuse-hosted\nhosted_domains = example.com\n");
    m.start();
    auto r = drive(m, {{"", "<alice@example.com>"}, {"", "<someone@elsewhere.org>"}});
    CHECK(r[0] == "mail replycode");
    CHECK(r[1] == "mail accept");
}

TEST_CASE("milter: deny lists in the directory", "[integration][milter][deny]") {
    SlapdOptions o = milter_test_directory();
    o.data_ldif += R"(
dn: cn=deny,dc=example,dc=com
objectClass: tallyDenyList
cn: deny
tallyDenySenderDomain: spam.example
tallyDenyNetwork: 127.0.0.2/32
)";
    Slapd s(o);
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_ADD, "tallySendAs", {"alice@spam.example"}) == LDAP_SUCCESS);
    MilterProcess m(s, "deny_search_base = dc=example,dc=com\n");
    m.start();
    auto r = drive(m, {{"alice", "<alice@spam.example>"}, {"alice", "<alice@example.com>"}});
    CHECK(r[0] == "eom replycode");
    CHECK(r[1] == "eom continue");
    CHECK_THAT(m.log(), Catch::Contains("reply=\"554 5.7.1 Refused by policy: sender domain spam.example\""));
}

TEST_CASE("milter: runs as a daemon with a PID file, as an unprivileged user, and stops on SIGTERM",
          "[integration][milter][daemon]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);  // not started: run here as a daemon instead
    m.set("foreground", "no");
    m.set("pid_file", m.dir() + "/milter.pid");
    m.set("user", "nobody");
    chmod(m.dir().c_str(), 0777);  // so nobody may remove the PID file at exit
    REQUIRE(run_command({MilterProcess::binary(), "-c", m.config_path()}, m.dir() + "/daemon.out") == 0);
    pid_t pid = 0;
    for (int i = 0; i < 100 && pid == 0; ++i) {
        std::ifstream(m.dir() + "/milter.pid") >> pid;
        if (!pid) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE(pid > 0);
    // once it answers it has dropped its privileges (the PID file is written just before)
    CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom continue");
    std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
    CHECK_THAT(status, Catch::Contains("Uid:\t65534\t65534\t65534\t65534"));
    kill(pid, SIGTERM);
    bool gone = wait_gone(pid, std::chrono::seconds(10));  // libmilter notices within ~5 s
    CHECK(gone);
    if (!gone) kill(pid, SIGKILL);
    CHECK_FALSE(std::filesystem::exists(m.dir() + "/milter.pid"));
}

TEST_CASE("milter: aliases delivering to the account, and a mapped status attribute", "[integration][milter]") {
    SlapdOptions o = milter_test_directory();
    o.schema_files = {source_path("tests/fixtures/mtpolicyd.schema"), source_path("tests/fixtures/mailhub.schema")};
    o.data_ldif += R"(
dn: ou=aliases,dc=example,dc=com
objectClass: organizationalUnit
ou: aliases

dn: cn=sales,ou=aliases,dc=example,dc=com
objectClass: mailAlias
cn: sales
mail: sales@example.com
mailAliasedName: alice

dn: cn=support,ou=aliases,dc=example,dc=com
objectClass: mailAlias
cn: support
mail: support@example.com
mailAliasedName: bob

dn: uid=erin,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: mtpolicyd
uid: erin
cn: Erin
sn: Erin
mail: erin@example.com
mailUserStatus: disabled
)";
    Slapd s(o);
    s.start();
    MilterProcess m(s,
                    "alias_search_base = ou=aliases,dc=example,dc=com\n"
                    "alias_search_filter = (&(objectClass=mailAlias)(mailAliasedName=%u))\n");
    m.start();
    auto r = drive(m, {{"alice", "<sales@example.com>"},      // alias of alice
                       {"alice", "<support@example.com>"}});  // alias of bob
    CHECK(r[0] == "eom continue");
    CHECK(r[1] == "eom replycode");
    m.stop();

    // status_attribute as in mtpolicyd's filter: only "active" accounts send;
    // an account without the attribute is not active either.
    MilterProcess status(s, "status_attribute = mailUserStatus\n");
    status.start();
    r = drive(status, {{"erin", "<erin@example.com>"}, {"alice", "<alice@example.com>"}});
    CHECK(r[0] == "eom replycode");
    CHECK(r[1] == "eom replycode");
    CHECK_THAT(status.log(), Catch::Contains("reason=\"account not active\""));
}

TEST_CASE("milter: fails over to the next LDAP server and goes back to the first", "[integration][milter][failover]") {
    Slapd a(milter_test_directory()), b(milter_test_directory());
    a.start();
    b.start();
    MilterProcess m(a, "cache_ttl = 0\nldap_failback = 1\n");
    m.set("ldap_uri", a.uri() + " " + b.uri());
    m.start();
    auto messages = [](client::Connection &c) {
        auto v = ldap_values(c, kAlice, "tallyUsage");
        if (v.empty()) return 0;
        auto at = v[0].find("messages=");
        return std::stoi(v[0].substr(at + 9));
    };
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "F1"}})[0] == "eom continue");
    a.stop();
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "F2"}})[0] == "eom continue");
    a.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK(drive(m, {{"alice", "<alice@example.com>", {"<a@x.org>"}, "F3"},
                    {"alice", "<alice@example.com>", {"<a@x.org>"}, "F4"},
                    {"alice", "<alice@example.com>", {"<a@x.org>"}, "F5"}}) ==
          std::vector<std::string>(3, "eom continue"));
    auto ca = a.connect(), cb = b.connect();
    int on_a = messages(*ca), on_b = messages(*cb);
    INFO("on A " << on_a << ", on B " << on_b << "\n" << m.log());
    CHECK(on_a + on_b == 5);  // each message charged exactly once
    CHECK(on_b >= 1);         // F2 went to B while A was down
    CHECK(on_a >= 2);         // F1, and A again once it was back
}

TEST_CASE("milter: SASL EXTERNAL over ldapi://", "[integration][milter]") {
    SlapdOptions o = milter_test_directory();
    o.ldapi = true;
    // root's peer credentials act as the milter's service identity
    o.extra_global_config = "authz-regexp \"^gidNumber=0[+]uidNumber=0,cn=peercred,cn=external,cn=auth$\" "
                            "\"cn=tally-milter,ou=services,dc=example,dc=com\"\n";
    Slapd s(o);
    s.start();
    MilterProcess m(s, "ldap_sasl_external = yes\n");
    m.set("ldap_uri", s.ldapi_uri());
    m.start();
    CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom continue");
    auto root = s.connect();
    CHECK(ldap_values(*root, kAlice, "tallyUsage").size() == 1);
    CHECK_THAT(s.log(), Catch::Contains("mech=EXTERNAL"));
}

TEST_CASE("milter: StartTLS and ldaps with a CA file, an unverifiable certificate is refused",
          "[integration][milter][tls]") {
    SlapdOptions o = milter_test_directory();
    o.tls = true;
    Slapd s(o);
    s.start();
    SECTION("StartTLS") {
        MilterProcess m(s, "ldap_starttls = yes\nldap_ca_file = " + s.ca_file() + "\n");
        m.start();
        CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom continue");
        CHECK_THAT(s.log(), Catch::Contains("EXT oid=1.3.6.1.4.1.1466.20037"));
    }
    SECTION("ldaps") {
        MilterProcess m(s, "ldap_ca_file = " + s.ca_file() + "\n");
        m.set("ldap_uri", s.ldaps_uri());
        m.start();
        CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom continue");
    }
    SECTION("a certificate from another CA is refused: tempfail, nothing sent in clear") {
        TempDir other;
        make_test_ca(other.path, "Some Other CA");
        MilterProcess m(s, "ldap_starttls = yes\nldap_ca_file = " + other.path + "/ca.pem\n");
        m.start();
        CHECK(drive(m, {{"alice", "<alice@example.com>"}})[0] == "eom replycode");
        CHECK_THAT(m.log(), Catch::Contains("StartTLS failed"));
        MilterProcess ldaps(s, "ldap_ca_file = " + other.path + "/ca.pem\n");
        ldaps.set("ldap_uri", s.ldaps_uri());
        ldaps.start();
        CHECK(drive(ldaps, {{"alice", "<alice@example.com>"}})[0] == "eom replycode");
        auto root = s.connect();
        CHECK(ldap_values(*root, kAlice, "tallyUsage").empty());
    }
}

TEST_CASE("tallyctl check answers what the milter would, without counting", "[integration][milter][tallyctl]") {
    Slapd s(milter_test_directory());
    s.start();
    auto root = s.connect();
    REQUIRE(ldap_modify(*root, kAlice, LDAP_MOD_REPLACE, "tallyRecipientsPerDay", {"5"}) == LDAP_SUCCESS);
    MilterProcess m(s);  // only its configuration file is used
    auto check = [&](const std::vector<std::string> &args, std::string *out) {
        return run_tallyctl({"check", "-c", m.config_path()}, args, out);
    };
    std::string out;
    CHECK(check({"alice", "alice@example.com", "5", "1000"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("verdict: accept"));
    CHECK(check({"alice", "alice@example.com", "6", "1000"}, &out) == 1);
    CHECK_THAT(out, Catch::Contains("reply: 550 5.7.1 daily limit of 5 recipients reached"));
    CHECK(check({"alice", "ceo@example.com", "1", "10"}, &out) == 1);
    CHECK_THAT(out, Catch::Contains("reply: 553 5.7.1"));
    CHECK(check({"dora", "dora@example.com", "1", "10"}, &out) == 1);
    CHECK_THAT(out, Catch::Contains("reply: 554 5.7.1 Account suspended, call 555-0100"));
    CHECK(check({"-", "someone@elsewhere.org", "1", "10"}, &out) == 0);
    CHECK(ldap_values(*root, kAlice, "tallyUsage").empty());  // nothing was counted
}
