// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyctl import-mtpolicyd, the pure part: reading acct_* exports (CSV and
// mysql -B), choosing the period, mapping limits, and the import charges.
#include "mtpolicyd_records.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::mtpolicyd;

namespace {

Usage usage(std::uint64_t m, std::uint64_t r, std::uint64_t b, std::uint64_t br) {
    Usage u;
    u.v = {m, r, b, br};
    return u;
}

/* rows_of - the rows of an export that must parse without errors */
std::vector<AcctRow> rows_of(std::string_view text, Format format = Format::automatic,
                             const std::vector<std::string> &columns = {}) {
    auto r = parse_acct_table(text, format, columns);
    REQUIRE(r.errors.empty());
    return r.rows;
}

/* only_error - the one error of an export that must not parse; nothing of it is imported */
std::string only_error(std::string_view text) {
    auto r = parse_acct_table(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.rows.empty());  // any bad row: nothing is imported
    return r.errors[0];
}

std::string joined(const std::vector<std::string> &v) {
    std::string s;
    for (const auto &x : v) s += x + "\n";
    return s;
}

}  // namespace

TEST_CASE("a CSV export with a header maps columns by name, in any order", "[tallyctl][mtpolicyd]") {
    auto rows = rows_of("id,time,key,count,count_rcpt,size,size_rcpt\r\n"
                        "1,2026-11-22,alice@example.com,11,11,147081,147081\r\n"
                        "2,2026-11-22,\"bob, \"\"the\"\" builder\",10,100,133710,1337100\r\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].key == "alice@example.com");
    CHECK(rows[0].time == "2026-11-22");
    CHECK(rows[0].usage == usage(11, 11, 147081, 147081));
    CHECK(rows[0].line == 2);
    CHECK(rows[1].key == "bob, \"the\" builder");
    CHECK(rows[1].usage == usage(10, 100, 133710, 1337100));
}

TEST_CASE("quoted CSV fields may hold newlines, line numbers stay right", "[tallyctl][mtpolicyd]") {
    CHECK(only_error("\xEF\xBB\xBF`key`,`time`,`count`,`count_rcpt`,`size`,`size_rcpt`\n"
                     "\"two\nlines\",2026-11-22,1,1,1,1\n"
                     "\n"
                     "carol,2026-11-22,x,1,1,1\n") == "line 5: count \"x\" is not a whole number");
}

TEST_CASE("bad rows are refused with their line numbers", "[tallyctl][mtpolicyd]") {
    auto r = parse_acct_table("key,time,count,count_rcpt,size,size_rcpt\n"
                              "a,2026-11-22,1,1,10\n"
                              "b,2026-11-22,1,-1,10,10\n"
                              "c,2026-11-22,1,1,10,99999999999999999999999\n"
                              "d,2026-11-22,1,1,10,10\n"
                              "d,2026-11-22,2,2,20,20\n"
                              ",2026-11-22,1,1,1,1\n"
                              "e,2026-11-22,\"1\"x,1,1,1\n");
    const std::string all = joined(r.errors);
    CHECK_THAT(all, Catch::Contains("line 2: 5 fields where 6 columns are named"));
    CHECK_THAT(all, Catch::Contains("line 3: count_rcpt \"-1\" is not a whole number"));
    CHECK_THAT(all, Catch::Contains("line 4: size_rcpt \"99999999999999999999999\" is not a whole number"));
    CHECK_THAT(all, Catch::Contains("line 6: key \"d\" and time \"2026-11-22\" already on line 5"));
    CHECK_THAT(all, Catch::Contains("line 7: key is empty"));
    CHECK_THAT(all, Catch::Contains("line 8: text after the closing quote of a field"));
    CHECK(r.rows.empty());
}

TEST_CASE("a quote that is never closed is an error naming where it opened", "[tallyctl][mtpolicyd]") {
    CHECK(only_error("key,time,count,count_rcpt,size,size_rcpt\n"
                     "a,2026-11-22,1,1,1,1\n"
                     "\"b,2026-11-22,1,1,1,1\n"
                     "c,2026-11-22,1,1,1,1\n") == "line 3: a quoted field is never closed");
}

TEST_CASE("a header without a needed column says which", "[tallyctl][mtpolicyd]") {
    auto r = parse_acct_table("key,time,count,count_rcpt,size\nalice,2026-11-22,1,1,1\n");
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::StartsWith("line 1: the header has no column \"size_rcpt\""));
    r = parse_acct_table("");
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::StartsWith("no header line"));
}

TEST_CASE("mysql -B output: tabs, backslash escapes, NULL", "[tallyctl][mtpolicyd]") {
    auto rows = rows_of("key\ttime\tcount\tcount_rcpt\tsize\tsize_rcpt\n"
                        "tab\\there\t2026-11-22\t3\t4\t500\t900\n"
                        "back\\\\slash\t2026-11-22\t1\t1\t1\t1\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].key == "tab\there");
    CHECK(rows[0].usage == usage(3, 4, 500, 900));
    CHECK(rows[1].key == "back\\slash");
    auto r = parse_acct_table("key\ttime\tcount\tcount_rcpt\tsize\tsize_rcpt\nalice\t2026-11-22\t\\N\t1\t1\t1\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] == "line 2: count is NULL");
}

TEST_CASE("SELECT ... INTO OUTFILE without a header, columns named on the command line", "[tallyctl][mtpolicyd]") {
    std::vector<std::string> cols = {"id", "key", "time", "count", "count_rcpt", "size", "size_rcpt"};
    auto rows = rows_of("7\talice\t2026-11-22\t2\t3\t40\t60\n", Format::automatic, cols);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].line == 1);
    CHECK(rows[0].usage == usage(2, 3, 40, 60));
    auto r = parse_acct_table("alice,2026-11-22,2\n", Format::csv, {"key", "time", "count"});
    REQUIRE_FALSE(r.errors.empty());
    CHECK_THAT(r.errors[0], Catch::StartsWith("--columns has no column \"count_rcpt\""));
}

TEST_CASE("the period is mtpolicyd time key of now, other periods are left out", "[tallyctl][mtpolicyd]") {
    std::string err;
    auto utc = TimeZone::locate("UTC", &err);
    REQUIRE(utc);
    constexpr std::int64_t kMorning = 1795341600;  // 2026-11-22T10:00:00Z
    CHECK(time_key("%Y-%m-%d", *utc, kMorning, &err) == "2026-11-22");
    CHECK(time_key("%Y-%m", *utc, kMorning, &err) == "2026-11");  // mtpolicyd's default pattern
    auto tokyo = TimeZone::locate("Asia/Tokyo", &err);
    REQUIRE(tokyo);
    CHECK(time_key("%Y-%m-%d", *tokyo, kMorning + 15 * 3600, &err) == "2026-11-23");
    CHECK_FALSE(time_key("%Y-%m-%d %S", *utc, kMorning, &err));
    CHECK_THAT(err, Catch::Contains("%S"));

    std::vector<AcctRow> rows(4);
    rows[0].key = "a", rows[0].time = "2026-11-22";
    rows[1].key = "a", rows[1].time = "2026-11-21";
    rows[2].key = "b", rows[2].time = "2026-11-22";
    rows[3].key = "c", rows[3].time = "2026-11-21";
    auto sel = select_period(rows, "2026-11-22");
    REQUIRE(sel.current.size() == 2);
    CHECK(sel.current[0].key == "a");
    CHECK(sel.current[1].key == "b");
    CHECK(sel.other_rows == 2);
    CHECK(sel.other_periods == std::map<std::string, std::size_t>{{"2026-11-21", 2}});
}

TEST_CASE("the MariaDB query names one table and one period, quoted", "[tallyctl][mtpolicyd]") {
    CHECK(mysql_query("acct_sasl_username", "2026-11-22") ==
          "SELECT `key`, `time`, `count`, `count_rcpt`, `size`, `size_rcpt` FROM `acct_sasl_username` WHERE `time` = "
          "'2026-11-22'");
    CHECK(mysql_query("acct_x", "it's\\") == "SELECT `key`, `time`, `count`, `count_rcpt`, `size`, `size_rcpt` FROM "
                                             "`acct_x` WHERE `time` = 'it\\'s\\\\'");
    CHECK_FALSE(mysql_query("acct`; DROP TABLE x", "2026-11-22"));
    CHECK_FALSE(mysql_query("", "2026-11-22"));
}

TEST_CASE("mtpolicyd limits become the window's Tally limit attributes", "[tallyctl][mtpolicyd]") {
    Entry e = {{"objectclass", {"inetOrgPerson", "mtpolicyd"}},
               {"mtpolicydmailmessagelimit", {"500"}},
               {"mtpolicydmailrecipientlimit", {"0"}},
               {"mtpolicydmailsizerecipientlimit", {"many"}}};
    auto p = plan_limits(e, "day", default_source_attributes(), false);
    REQUIRE(p.changes.size() == 2);
    CHECK(p.changes[0] == LimitChange{Metric::messages, "mtpolicydMailMessageLimit", "tallyMessagesPerDay", "500", {}});
    CHECK(p.changes[1] ==
          LimitChange{Metric::recipients, "mtpolicydMailRecipientLimit", "tallyRecipientsPerDay", "0", {}});
    CHECK(p.add_object_class);
    REQUIRE(p.errors.size() == 1);
    CHECK(p.errors[0] == "mtpolicydMailSizeRecipientLimit \"many\" is not a whole number; not copied");

    // another window: tallyMessagesPerMonth
    p = plan_limits(e, "month", default_source_attributes(), false);
    CHECK(p.changes.at(0).attribute == "tallyMessagesPerMonth");
}

TEST_CASE("equal Tally limits stay, differing ones only with overwrite", "[tallyctl][mtpolicyd]") {
    Entry e = {{"objectclass", {"inetOrgPerson", "tallyaccount"}},
               {"mtpolicydmailmessagelimit", {"500"}},
               {"mtpolicydmailsizelimit", {"1000"}},
               {"tallymessagesperday", {"500"}},
               {"tallybytesperday", {"unlimited"}}};
    auto p = plan_limits(e, "day", default_source_attributes(), false);
    CHECK(p.changes.empty());
    CHECK(p.unchanged == std::vector<std::string>{"tallyMessagesPerDay 500"});
    CHECK(p.kept == std::vector<std::string>{"tallyBytesPerDay unlimited (mtpolicyd says 1000)"});
    p = plan_limits(e, "day", default_source_attributes(), true);
    REQUIRE(p.changes.size() == 1);
    CHECK(p.changes[0].attribute == "tallyBytesPerDay");
    CHECK(p.changes[0].old_values == std::vector<std::string>{"unlimited"});
    CHECK_FALSE(p.add_object_class);  // tallyAccount is there, in any case
}

TEST_CASE("other windows get tallyLimit values, mapped attribute names are honoured", "[tallyctl][mtpolicyd]") {
    Entry e = {{"objectclass", {"tallyAccount"}},
               {"quota", {"70"}},
               {"tallylimit", {"daily messages 50", "daily bytes 9", "hour messages 5"}}};
    SourceAttributes src = default_source_attributes();
    src[static_cast<int>(Metric::messages)] = "Quota";
    auto p = plan_limits(e, "daily", src, true);
    REQUIRE(p.changes.size() == 1);
    CHECK(p.changes[0] ==
          LimitChange{Metric::messages, "Quota", "tallyLimit", "daily messages 70", {"daily messages 50"}});
    p = plan_limits(e, "daily", src, false);
    CHECK(p.changes.empty());
    CHECK(p.kept == std::vector<std::string>{"tallyLimit: daily messages 50 (mtpolicyd says 70)"});
}

TEST_CASE("usage becomes count-mode charges with fixed ids, bytes x recipients as near as possible",
          "[tallyctl][mtpolicyd]") {
    // mtpolicyd's documentation example: 10 messages to 10 recipients each
    auto c = charges_for("uid=a", usage(10, 100, 133710, 1337100), "2026-11-22");
    REQUIRE_FALSE(c.error);
    REQUIRE(c.charges.size() == 2);
    CHECK(c.charges[0] == ChargeRequest{"uid=a", 10, 0, 120339, "mtpolicyd:2026-11-22:1", Mode::count});
    CHECK(c.charges[1] == ChargeRequest{"uid=a", 0, 100, 13371, "mtpolicyd:2026-11-22:2", Mode::count});
    CHECK(c.imported == usage(10, 100, 133710, 1337100));  // exact here

    // not divisible: lower by less than one per recipient, never higher
    c = charges_for("uid=a", usage(2, 3, 1001, 2001), "2026-11-22");
    CHECK(c.imported[Metric::messages] == 2);
    CHECK(c.imported[Metric::recipients] == 3);
    CHECK(c.imported[Metric::bytes] == 1001);
    CHECK(c.imported[Metric::byteRecipients] <= 2001);
    CHECK(c.imported[Metric::byteRecipients] > 2001 - 3);

    // inconsistent rows (size_rcpt above size x recipients): bytes stay exact
    c = charges_for("uid=a", usage(1, 2, 10, 1000), "p");
    CHECK(c.imported == usage(1, 2, 10, 20));
    REQUIRE(c.charges.size() == 2);
    CHECK(c.charges[0].bytes == 0);  // every byte travels with the recipients
    CHECK(c.charges[1].bytes == 10);

    // nothing to import: no charges
    CHECK(charges_for("uid=a", usage(0, 0, 0, 0), "p").charges.empty());
    // too much for the charge operation
    CHECK(charges_for("uid=a", usage(2'000'000, 1, 1, 1), "p").error);
}

TEST_CASE("charge ids stay valid for any period text", "[tallyctl][mtpolicyd]") {
    CHECK(charge_id("2026-11-22", 1) == "mtpolicyd:2026-11-22:1");
    CHECK(charge_id("2026 W47/x", 2) == "mtpolicyd:2026_W47_x:2");
    CHECK(charge_id(std::string(300, 'y'), 1).size() <= 128);
}

TEST_CASE("rows of one account are added up", "[tallyctl][mtpolicyd]") {
    std::vector<AcctRow> rows(2);
    rows[0].usage = usage(1, 2, 3, 4);
    rows[1].usage = usage(10, 20, 30, 40);
    CHECK(sum_usage(rows) == usage(11, 22, 33, 44));
    CHECK(has_usage(usage(0, 0, 0, 1)));
    CHECK_FALSE(has_usage(usage(0, 0, 0, 0)));
}
