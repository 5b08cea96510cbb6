// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyctl import-mtpolicyd against the real slapd: a directory profiled for
// mtpolicyd gets Tally limits, and a CSV export of acct_sasl_username gives
// the current period's usage, once.
#include "slapd_fixture.h"
#include "tallyctl_run.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

using namespace tally;
using namespace tally::test;

namespace {

constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z
const std::string kMt1 = person_dn("mt1");
const std::string kMt2 = person_dn("mt2");

SlapdOptions profiled() {
    SlapdOptions o;
    o.overlay_config = "tally-window hour\ntally-window day\ntally-timezone UTC\n";
    o.schema_files.push_back(source_path("tests/fixtures/mtpolicyd.schema"));
    o.data_ldif = R"(
dn: uid=mt1,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: mtpolicyd
uid: mt1
cn: MT1
sn: MT1
mail: mt1@example.com
mtpolicydMailMessageLimit: 500
mtpolicydMailRecipientLimit: 1000
mtpolicydMailSizeLimit: 10000000
mtpolicydMailSizeRecipientLimit: 50000000

dn: uid=mt2,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: mtpolicyd
objectClass: tallyAccount
uid: mt2
cn: MT2
sn: MT2
mail: mt2@example.com
mtpolicydMailMessageLimit: 20
mtpolicydMailSizeLimit: 100
tallyMessagesPerDay: 20
tallyBytesPerDay: 999
)";
    return o;
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string> &more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

Usage usage_of(client::Connection &c, const std::string &dn, const std::string &window = "day") {
    auto r = charge_one(c, dn, 0, 0, "", Mode::check);
    REQUIRE(r.ldap.code == LDAP_SUCCESS);
    Usage u;
    for (Metric m : kAllMetrics) u[m] = used(r.response, window, m);
    return u;
}

Usage usage(std::uint64_t m, std::uint64_t r, std::uint64_t b, std::uint64_t br) {
    Usage u;
    u.v = {m, r, b, br};
    return u;
}

}  // namespace

TEST_CASE("import-mtpolicyd copies limits and the current period's usage, once", "[integration][tallyctl][import]") {
    Slapd s(profiled());
    s.start();
    s.set_clock(kMorning);
    TempDir d;
    std::ofstream(d.path + "/pw") << "secret\n";
    // 2026-11-22 is today at kMorning (UTC); the 21st and 20th are past days.
    std::ofstream(d.path + "/acct.csv") << "id,key,time,count,count_rcpt,size,size_rcpt\n"
                                           "1,mt1@example.com,2026-11-22,3,7,3000,7000\n"
                                           "2,mt1@example.com,2026-11-21,50,50,5000,5000\n"
                                           "3,mt2@example.com,2026-11-22,25,25,100,150\n"
                                           "4,ghost@example.com,2026-11-22,1,1,1,1\n"
                                           "5,\"*)(mail=*\",2026-11-22,1,1,1,1\n"
                                           "6,alice@example.com,2026-11-20,9,9,9,9\n";
    const std::vector<std::string> op = {"-H", s.uri(), "-x", "-D", kAdminDn, "-y", d.path + "/pw"};
    const std::vector<std::string> svc = {"-H", s.uri(), "-x", "-D", kServiceDn, "-y", d.path + "/pw"};
    const std::vector<std::string> common = {"import-mtpolicyd", "-b", kPeople, "-z", "UTC", "--at",
                                             std::to_string(kMorning), "-k", "(mail=%s)"};
    auto admin = s.connect();
    std::string out;

    // A dry run says what would change and changes nothing.
    CHECK(run_tallyctl(with(with(op, common), {"-n", "--csv", d.path + "/acct.csv"}), &out) == 1);
    CHECK_THAT(out, Catch::Contains("limits " + kMt1 +
                                    ": would set tallyMessagesPerDay 500 (from mtpolicydMailMessageLimit; was none)"));
    CHECK_THAT(out, Catch::Contains("usage " + kMt1 + ": would import messages=3 recipients=7 bytes=3000 "
                                    "byteRecipients=7000 from mt1@example.com"));
    CHECK(ldap_values(*admin, kMt1, "tallyMessagesPerDay").empty());
    CHECK(usage_of(*admin, kMt1) == usage(0, 0, 0, 0));

    // Limits, as an administrator: written, tallyAccount added; equal ones
    // left alone, a differing Tally limit kept (exit 1: something left out).
    CHECK(run_tallyctl(with(with(op, common), {}), &out) == 1);
    CHECK(ldap_values(*admin, kMt1, "tallyMessagesPerDay") == std::vector<std::string>{"500"});
    CHECK(ldap_values(*admin, kMt1, "tallyRecipientsPerDay") == std::vector<std::string>{"1000"});
    CHECK(ldap_values(*admin, kMt1, "tallyBytesPerDay") == std::vector<std::string>{"10000000"});
    CHECK(ldap_values(*admin, kMt1, "tallyByteRecipientsPerDay") == std::vector<std::string>{"50000000"});
    auto classes = ldap_values(*admin, kMt1, "objectClass");
    CHECK(std::find(classes.begin(), classes.end(), "tallyAccount") != classes.end());
    CHECK_THAT(out, Catch::Contains("limits " + kMt2 + ": unchanged tallyMessagesPerDay 20"));
    CHECK_THAT(out, Catch::Contains("limits " + kMt2 + ": kept tallyBytesPerDay 999 (mtpolicyd says 100)"));
    CHECK(ldap_values(*admin, kMt2, "tallyBytesPerDay") == std::vector<std::string>{"999"});
    // ...and the overlay enforces them: the limits are Tally's own now
    auto check = charge_one(*admin, kMt1, 1001, 1, "", Mode::check);
    CHECK(check.response.verdict == Verdict::refused);
    CHECK(check.response.exceeded->metric == Metric::recipients);
    CHECK(check.response.exceeded->limit == 1000);

    // Usage, as the service (it may charge): today's rows only, the unknown
    // keys reported (the hostile one escaped, matching nothing).
    const auto import = with(with(svc, common), {"--no-limits", "--csv", d.path + "/acct.csv"});
    CHECK(run_tallyctl(import, &out) == 1);
    CHECK_THAT(out, Catch::Contains("unknown key \"ghost@example.com\""));
    CHECK_THAT(out, Catch::Contains("unknown key \"*)(mail=*\""));
    CHECK_THAT(out, Catch::Contains("2 rows of other periods ignored (2026-11-20: 1, 2026-11-21: 1)"));
    CHECK(usage_of(*admin, kMt1) == usage(3, 7, 3000, 7000));
    // counted although over mt2's limit of 20 messages a day: what was sent was sent
    CHECK(usage_of(*admin, kMt2) == usage(25, 25, 100, 150));
    CHECK(usage_of(*admin, kAlice) == usage(0, 0, 0, 0));

    // Running it again counts nothing twice: the accounts have usage now...
    CHECK(run_tallyctl(import, &out) == 1);
    CHECK_THAT(out, Catch::Contains("usage " + kMt1 + ": skipped, already has usage in day 2026-11-22"));
    CHECK(usage_of(*admin, kMt1) == usage(3, 7, 3000, 7000));
    // ...and even with --force the charge ids are recognised (within tally-charge-id-ttl).
    CHECK(run_tallyctl(with(import, {"--force"}), &out) == 1);
    CHECK_THAT(out, Catch::Contains("usage " + kMt1 + ": already imported"));
    CHECK(usage_of(*admin, kMt1) == usage(3, 7, 3000, 7000));
    CHECK(usage_of(*admin, kMt2) == usage(25, 25, 100, 150));
}

TEST_CASE("import-mtpolicyd refuses bad input and a period the overlay is not in", "[integration][tallyctl][import]") {
    Slapd s(profiled());
    s.start();
    s.set_clock(kMorning);
    TempDir d;
    std::ofstream(d.path + "/pw") << "secret\n";
    const std::vector<std::string> svc = {"-H", s.uri(), "-x", "-D", kServiceDn, "-y", d.path + "/pw",
                                          "import-mtpolicyd", "-b", kPeople, "-z", "UTC", "-k", "(mail=%s)",
                                          "--no-limits"};
    auto admin = s.connect();
    std::string out;

    // One bad row: nothing at all is imported, and the line is named.
    std::ofstream(d.path + "/bad.csv") << "key,time,count,count_rcpt,size,size_rcpt\n"
                                          "alice@example.com,2026-11-22,1,1,10,10\n"
                                          "mt1@example.com,2026-11-22,one,1,10,10\n";
    CHECK(run_tallyctl(with(svc, {"--at", std::to_string(kMorning), "--csv", d.path + "/bad.csv"}), &out) == 2);
    CHECK_THAT(out, Catch::Contains("line 3: count \"one\" is not a whole number"));
    CHECK(usage_of(*admin, kAlice) == usage(0, 0, 0, 0));

    // The rows of yesterday while the overlay is in today: refused.
    std::ofstream(d.path + "/old.csv") << "key\ttime\tcount\tcount_rcpt\tsize\tsize_rcpt\n"
                                          "alice@example.com\t2026-11-21\t4\t4\t40\t40\n";
    CHECK(run_tallyctl(with(svc, {"--at", std::to_string(kMorning - 86400), "--csv", d.path + "/old.csv"}), &out) == 2);
    CHECK_THAT(out, Catch::Contains("the overlay's day period is 2026-11-22, the rows are of 2026-11-21"));
    CHECK(usage_of(*admin, kAlice) == usage(0, 0, 0, 0));

    // The same file as mysql -B prints it, in the right period: imported.
    std::ofstream(d.path + "/today.tsv") << "key\ttime\tcount\tcount_rcpt\tsize\tsize_rcpt\n"
                                            "alice@example.com\t2026-11-22\t4\t4\t40\t40\n";
    CHECK(run_tallyctl(with(svc, {"--at", std::to_string(kMorning), "--csv", d.path + "/today.tsv"}), &out) == 0);
    CHECK(usage_of(*admin, kAlice) == usage(4, 4, 40, 40));
}

TEST_CASE("import-mtpolicyd --mysql runs the client in batch mode for one period", "[integration][tallyctl][import]") {
    Slapd s(profiled());
    s.start();
    s.set_clock(kMorning);
    TempDir d;
    std::ofstream(d.path + "/pw") << "secret\n";
    // A stand-in for the mysql client: records its arguments, prints what
    // "mysql --batch" prints for acct_sasl_username (or fails when asked to).
    const std::string fake = d.path + "/fake-mysql";
    std::ofstream(fake) << "#!/bin/sh\n"
                           "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$(dirname \"$0\")/args\"\n"
                           "[ \"$1\" = --fail ] && { echo 'ERROR 1045 (28000): Access denied' >&2; exit 1; }\n"
                           "printf 'key\\ttime\\tcount\\tcount_rcpt\\tsize\\tsize_rcpt\\n'\n"
                           "printf 'mt1@example.com\\t2026-11-22\\t2\\t5\\t2000\\t4000\\n'\n";
    REQUIRE(run_command({"/bin/chmod", "755", fake}, d.path + "/chmod.out") == 0);
    const std::vector<std::string> svc = {"-H", s.uri(), "-x", "-D", kServiceDn, "-y", d.path + "/pw",
                                          "import-mtpolicyd", "-b", kPeople, "-z", "UTC", "-k", "(mail=%s)",
                                          "--no-limits", "--at", std::to_string(kMorning)};
    auto admin = s.connect();
    std::string out;

    CHECK(run_tallyctl(with(svc, {"--mysql", fake + " --defaults-extra-file=/etc/mtpolicyd/my.cnf mtpolicyd"}), &out) ==
          0);
    CHECK(read_text(d.path + "/args") ==
          "--defaults-extra-file=/etc/mtpolicyd/my.cnf\nmtpolicyd\n--batch\n--column-names\n-e\n"
          "SELECT `key`, `time`, `count`, `count_rcpt`, `size`, `size_rcpt` FROM `acct_sasl_username` "
          "WHERE `time` = '2026-11-22'\n");
    CHECK(usage_of(*admin, kMt1) == usage(2, 5, 2000, 4000));

    // A failing client: nothing imported, its status reported.
    CHECK(run_tallyctl(with(svc, {"--mysql", fake + " --fail", "--force"}), &out) == 2);
    CHECK_THAT(out, Catch::Contains("Access denied"));
    CHECK_THAT(out, Catch::Contains("failed (exit status 1); nothing imported"));
    CHECK(usage_of(*admin, kMt1) == usage(2, 5, 2000, 4000));
    // A table name that could smuggle SQL is refused before anything runs.
    CHECK(run_tallyctl(with(svc, {"--mysql", fake, "--table", "acct_x`; DROP TABLE y"}), &out) == 2);
    CHECK_THAT(out, Catch::Contains("bad table name"));
}
