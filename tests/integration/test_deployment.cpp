// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// How the overlay is deployed: version check at load, cn=config (slapd.d) and
// the schema LDIF, read-only replicas, and tallyctl against a real slapd.
#include "slapd_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace tally;
using namespace tally::test;
namespace fs = std::filesystem;

namespace {

/* use_up_alice - with a day limit of 2: alice's first two charges accepted, the third refused */
void use_up_alice(const Slapd &s) {
    auto svc = s.connect(kServiceDn, kPassword);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::refused);
}

}  // namespace

TEST_CASE("a module built for another slapd version refuses to load, saying why", "[integration][deploy]") {
    TempDir d;
    std::ofstream(d.path + "/slapd.conf") << openldap().adapt("include /etc/ldap/schema/core.schema\n"
                                                             "modulepath /usr/lib/ldap\n")
                                          << "moduleload " << openldap().wrong_version_module << "\n";
    int rc = run_command({openldap().tool("slaptest"), "-f", d.path + "/slapd.conf", "-u"}, d.path + "/out");
    std::string out = read_text(d.path + "/out");
    CHECK(rc != 0);
    CHECK_THAT(out, Catch::Contains("built for slapd 0.0.0-test"));
    CHECK_THAT(out, Catch::Contains("rebuild Tally against this slapd"));
}

TEST_CASE("cn=config: the overlay runs from slapd.d and changes persist", "[integration][deploy][config]") {
    SlapdOptions o;
    o.config_dir = true;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 2\n";
    Slapd s(o);
    s.start();
    use_up_alice(s);
    auto svc = s.connect(kServiceDn, kPassword);
    auto cfg = s.connect(kConfigDn, kRootPw);
    const std::string overlay_dn = "olcOverlay={0}tally,olcDatabase={1}mdb,cn=config";
    REQUIRE(ldap_modify(*cfg, overlay_dn, LDAP_MOD_REPLACE, "olcTallyDefaultLimit", {"day messages 3"}) ==
            LDAP_SUCCESS);
    CHECK(charge_one(*svc, kAlice).response.verdict == Verdict::accepted);
    s.stop();
    s.start();  // the new limit was written to slapd.d
    auto svc2 = s.connect(kServiceDn, kPassword);
    auto r = charge_one(*svc2, kAlice);
    CHECK(r.response.verdict == Verdict::refused);
    CHECK(r.response.exceeded->limit == 3);
}

TEST_CASE("schema/tally.ldif loads into a running cn=config", "[integration][deploy]") {
    TempDir d;
    int port = free_loopback_port();
    std::ofstream(d.path + "/slapd.conf") << openldap().adapt("include /etc/ldap/schema/core.schema\n"
                                                             "include /etc/ldap/schema/cosine.schema\n"
                                                             "include /etc/ldap/schema/inetorgperson.schema\n"
                                                             "database config\nrootdn cn=admin,cn=config\nrootpw secret\n");
    fs::create_directories(d.path + "/slapd.d");
    REQUIRE(run_command({openldap().tool("slaptest"), "-f", d.path + "/slapd.conf", "-F", d.path + "/slapd.d"},
                        d.path + "/log") == 0);
    std::string uri = "ldap://127.0.0.1:" + std::to_string(port) + "/";
    Process slapd({openldap().slapd(), "-h", uri, "-F", d.path + "/slapd.d", "-d", "0"});
    std::unique_ptr<client::Connection> c;
    for (int i = 0; i < 100 && !c; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        client::ConnectOptions co;
        co.uri = uri;
        co.bind_dn = "cn=admin,cn=config";
        co.password = "secret";
        std::string err;
        c = client::Connection::open(co, &err);
    }
    REQUIRE(c);
    int rc = run_command({"/usr/bin/ldapadd", "-x", "-H", uri, "-D", "cn=admin,cn=config", "-w", "secret", "-f",
                          source_path("schema/tally.ldif")},
                         d.path + "/ldapadd.log");
    INFO(read_text(d.path + "/ldapadd.log"));
    REQUIRE(rc == 0);
    auto classes = ldap_values(*c, "cn={3}tally,cn=schema,cn=config", "olcObjectClasses");
    REQUIRE(classes.size() == 6);
    CHECK_THAT(classes[0], Catch::Contains("tallyAccount"));
    CHECK_THAT(classes[1], Catch::Contains("tallyPolicy"));
    CHECK_THAT(classes[2], Catch::Contains("tallyDenyList"));
    CHECK_THAT(classes[3], Catch::Contains("tallyAggregate"));
    CHECK_THAT(classes[4], Catch::Contains("tallyAggregateMember"));
    CHECK_THAT(classes[5], Catch::Contains("tallyExemptList"));
    // 16 + 4 limits (externalRecipients), tallyLimit, policy, sender and deny
    // attributes, tallyAccountingOnly, tallyExemptRecipient, tallyAggregateLimit, tallyAggregateDN
    CHECK(ldap_values(*c, "cn={3}tally,cn=schema,cn=config", "olcAttributeTypes").size() == 32);
}

TEST_CASE("the overlay is added to a running cn=config from the example LDIF", "[integration][deploy][config]") {
    SlapdOptions o;
    o.config_dir = true;
    o.with_overlay = false;
    o.sample_acl = false;  // its rules name the module's attributes
    Slapd s(o);
    s.start();
    auto cfg = s.connect(kConfigDn, kRootPw);
    // the examples, with the module path of this build
    std::string module = read_text(source_path("slapd-conf/tally-module.ldif"));
    module.replace(module.rfind("olcModuleLoad: tally.so"), 23, "olcModuleLoad: " + openldap().tally_module);
    std::ofstream(s.dir() + "/module.ldif") << module;
    for (const std::string &ldif : {s.dir() + "/module.ldif", source_path("slapd-conf/tally-overlay.ldif")}) {
        int rc = run_command({"/usr/bin/ldapadd", "-x", "-H", s.uri(), "-D", kConfigDn, "-w", kRootPw, "-f", ldif},
                             s.dir() + "/ldapadd.log");
        INFO(read_text(s.dir() + "/ldapadd.log"));
        REQUIRE(rc == 0);
    }
    auto root = s.connect();  // no ACL file here: only the rootdn may charge
    auto r = charge_one(*root, kAlice);
    REQUIRE(r.ldap.code == LDAP_SUCCESS);
    REQUIRE(r.response.windows.size() == 2);
    CHECK(r.response.windows[0].window == "hour");
    CHECK(r.response.windows[0].limits[0] == 100u);
    CHECK(r.response.windows[1].limits[1] == 5000u);
}

TEST_CASE("the example slapd.conf is valid", "[integration][deploy]") {
    TempDir d;
    std::string conf = read_text(source_path("slapd-conf/slapd.conf"));
    auto replace = [&](const std::string &from, const std::string &to) {
        auto at = conf.find(from);
        REQUIRE(at != std::string::npos);
        conf.replace(at, from.size(), to);
    };
    replace("/usr/share/tally/schema/tally.schema", source_path("schema/tally.schema"));
    replace("moduleload      tally.so", "moduleload " + openldap().tally_module);
    replace("/var/lib/ldap", d.path);
    replace("/run/slapd/slapd.pid", d.path + "/slapd.pid");
    replace("/run/slapd/slapd.args", d.path + "/slapd.args");
    replace("/etc/ldap/tally-acl.conf", source_path("slapd-conf/tally-acl.conf"));
    std::ofstream(d.path + "/slapd.conf") << openldap().adapt(conf);
    int rc = run_command({openldap().tool("slaptest"), "-u", "-f", d.path + "/slapd.conf"}, d.path + "/out");
    INFO(read_text(d.path + "/out"));
    CHECK(rc == 0);
}

TEST_CASE("a read-only replica answers usage, refers charges to the provider, and replicates counters",
          "[integration][deploy][replica]") {
    SlapdOptions p;
    p.extra_modules = "moduleload syncprov\n";
    p.extra_database_config = "index entryCSN,entryUUID eq\noverlay syncprov\n";
    p.overlay_config = "tally-window day\ntally-timezone UTC\n";
    Slapd provider(p);
    provider.start();

    SlapdOptions c;
    c.load_sample = false;
    c.overlay_config = p.overlay_config;
    c.extra_database_config =
        "syncrepl rid=001 provider=" + provider.uri() +
        " type=refreshAndPersist searchbase=\"dc=example,dc=com\" bindmethod=simple"
        " binddn=\"cn=admin,dc=example,dc=com\" credentials=secret retry=\"1 +\" attrs=\"*,+\"\n"
        "updateref " + provider.uri() + "\n";
    Slapd consumer(c);
    consumer.start();

    auto on_provider = provider.connect(kServiceDn, kPassword);
    std::unique_ptr<client::Connection> on_consumer;
    for (int i = 0; i < 100 && !on_consumer; ++i) {  // the service entry arrives by replication
        try {
            on_consumer = consumer.connect(kServiceDn, kPassword);
        } catch (...) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    REQUIRE(on_consumer);
    auto r = charge_one(*on_consumer, kAlice);
    CHECK(r.ldap.code == LDAP_REFERRAL);
    CHECK_THAT(r.ldap.referral, Catch::Contains(std::to_string(provider.port())));
    ResetRequest reset{kAlice, ""};
    CHECK(client::reset(*on_consumer, reset).code == LDAP_REFERRAL);

    for (int i = 0; i < 3; ++i) REQUIRE(charge_one(*on_provider, kAlice).response.verdict == Verdict::accepted);
    std::uint64_t seen = 0;
    for (int i = 0; i < 100 && seen != 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        auto check = charge_one(*on_consumer, kAlice, 0, 0, "", Mode::check);
        REQUIRE(check.ldap.code == LDAP_SUCCESS);
        seen = used(check.response, "day");
    }
    CHECK(seen == 3);
}

TEST_CASE("tallyctl shows usage, charges and resets", "[integration][tallyctl]") {
    SlapdOptions o;
    o.overlay_config = "tally-window day\ntally-timezone UTC\ntally-default-limit day messages 2\n";
    Slapd s(o);
    s.start();
    TempDir d;
    std::ofstream(d.path + "/pw") << "secret\n";
    // the service reads its password from a file (-y), the operator gives it (-w)
    const std::vector<std::string> svc = {"-H", s.uri(), "-x", "-D", kServiceDn, "-y", d.path + "/pw"};
    std::string out;
    CHECK(run_tallyctl(svc, {"charge", "-r", "3", "-b", "1000", "-i", "Q1", kAlice}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("verdict: accepted"));
    CHECK(run_tallyctl(svc, {"charge", kAlice}, &out) == 0);
    CHECK(run_tallyctl(svc, {"charge", kAlice}, &out) == 1);
    CHECK_THAT(out, Catch::Contains("exceeded: day limit of 2 messages reached (usage 2)"));
    CHECK(run_tallyctl(svc, {"usage", kAlice}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*day +[0-9-]+ +messages +2 +2 +0\\n(.|\\n)*"));
    CHECK_THAT(out, Catch::Matches("(.|\\n)*day +[0-9-]+ +byteRecipients +3000 +unlimited +-\\n(.|\\n)*"));
    // the service may not reset; the operator may
    CHECK(run_tallyctl(svc, {"reset", kAlice}, &out) == 2);
    CHECK_THAT(out, Catch::Contains("Insufficient access"));
    const auto op = bind_options(s.uri(), kAdminDn);
    CHECK(run_tallyctl(op, {"reset", kAlice, "day"}, &out) == 0);
    CHECK(run_tallyctl(svc, {"charge", kAlice}, &out) == 0);
    // reports over every account under a base
    CHECK(run_tallyctl(op, {"report", "-b", kPeople, "-s", "percent"}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*ACCOUNT +WINDOW(.|\\n)*\\nuid=alice,ou=people,dc=example,dc=com +day +[0-9-]+ "
                                   "+messages +1 +2 +50%\\n(.|\\n)*"));
    CHECK_THAT(out, Catch::Contains(kBob));
    CHECK(run_tallyctl(op, {"report", "-b", "dc=example,dc=com", "-c", "-m", "recipients"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("\"uid=alice,ou=people,dc=example,dc=com\",day,"));
    CHECK(run_tallyctl(op, {"top", "-b", "dc=example,dc=com", "-n", "1"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains(kAlice));
    // usage errors and unreachable servers exit 2 with a message
    CHECK(run_tallyctl({"frobnicate"}, &out) == 2);
    CHECK(run_tallyctl({"-H", "ldap://127.0.0.1:1/", "usage", kAlice}, &out) == 2);
    CHECK_THAT(out, Catch::Contains("Can't contact LDAP server"));
    // -h and --help print the usage and succeed (they used to say "invalid option")
    for (const std::vector<std::string> &help : std::vector<std::vector<std::string>>{{"-h"}, {"--help"}, {"charge", "--help"}}) {
        CHECK(run_tallyctl(help, &out) == 0);
        CHECK_THAT(out, Catch::StartsWith("usage: tallyctl") && Catch::Contains("exit status: 0"));
    }
}

TEST_CASE("tallyctl report without -W shows every window, so a day limit reached is seen", "[integration][deploy]") {
    SlapdOptions o;
    o.overlay_config = "tally-window hour\ntally-window day\ntally-timezone UTC\n"
                       "tally-default-limit hour messages 100\ntally-default-limit day messages 2\n";
    Slapd s(o);
    s.start();
    use_up_alice(s);
    const auto op = bind_options(s.uri(), kAdminDn);
    std::string out;
    CHECK(run_tallyctl(op, {"report", "-b", kPeople, "-s", "percent"}, &out) == 0);
    CHECK_THAT(out, Catch::Matches("(.|\\n)*\\nuid=alice,ou=people,dc=example,dc=com +hour +[0-9T-]+ +messages +2 +100 +2%\\n(.|\\n)*"));
    CHECK_THAT(out, Catch::Matches("(.|\\n)*\\nuid=alice,ou=people,dc=example,dc=com +day +[0-9-]+ +messages +2 +2 +100%\\n(.|\\n)*"));
    CHECK(run_tallyctl(op, {"report", "-b", kPeople, "-W", "hour"}, &out) == 0);
    CHECK_THAT(out, !Catch::Contains(" day "));
}
