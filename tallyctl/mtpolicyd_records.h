// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* mtpolicyd_records.h - reading mtpolicyd's accounting rows and limit
 * attributes and turning them into Tally limits and charges, free of LDAP
 *
 * DESCRIPTION
 *   mtpolicyd's Accounting plugin (Mail::MtPolicyd::Plugin::Accounting)
 *   keeps one SQL table per request field, acct_<field> (acct_sasl_username
 *   for logins), with the columns id, key, time, count, count_rcpt, size,
 *   size_rcpt: key is the field's value, time the time_pattern formatted in
 *   mtpolicyd's local time ("2026-11-22" for %Y-%m-%d; the default pattern
 *   is %Y-%m), count the messages, count_rcpt the recipients (at least one
 *   per message), size the bytes and size_rcpt bytes times recipients.
 *   Quota compares one of those columns of the row of the current time key
 *   with a threshold, which LdapUserConfig may take from the account's
 *   mtpolicydMail*Limit attributes.
 *
 *   parse_acct_table() reads an export of such a table: CSV (RFC 4180,
 *   comma, double quotes, "" inside quotes, CRLF or LF) or the tab-separated
 *   form of "mysql -B" / SELECT ... INTO OUTFILE (backslash escapes, NULL
 *   or \N). The first line names the columns, unless columns are given.
 *
 *   plan_limits() says which Tally limit attributes to write for one
 *   account; charges_for() turns a period's usage into count-mode charges.
 *
 * BUGS
 *   The charge operation derives bytes x recipients from the bytes and
 *   recipients of each request. Importing size_rcpt exactly is therefore
 *   impossible in general; charges_for() sends the messages with the bytes
 *   that carry no recipients and the recipients with the share of bytes
 *   whose product comes nearest to size_rcpt: every count is exact except
 *   bytes x recipients, which is lower by less than one per recipient.
 */
#pragma once

#include "exop.h"
#include "metric.h"
#include "window.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::mtpolicyd {

/* AcctRow - one row of an acct_<field> table */
struct AcctRow {
    std::size_t line = 0;  // where the row starts in the input (1-based)
    std::string key;
    std::string time;
    Usage usage;           // count, count_rcpt, size, size_rcpt
    bool operator==(const AcctRow &) const = default;
};

enum class Format { automatic, csv, tsv };

struct ParseResult {
    std::vector<AcctRow> rows;
    std::vector<std::string> errors;  // "line N: ..."; any error means: import nothing
};

/* The columns parse_acct_table() needs, and in the order the SQL query
 * asks for them. */
inline constexpr std::array<const char *, 6> kColumns = {"key", "time", "count", "count_rcpt", "size", "size_rcpt"};

/* parse_acct_table - the rows of a CSV or tab-separated export. With
 * columns empty the first line names the columns (matched ignoring case
 * and surrounding backquotes; extra columns such as id are ignored);
 * otherwise columns names them and every line is a row. automatic picks
 * tab-separated when the first line holds a tab. The same key and time
 * twice is an error, as in the table (UNIQUE KEY time_key). */
ParseResult parse_acct_table(std::string_view text, Format format = Format::automatic,
                             const std::vector<std::string> &columns = {});

/* time_key - mtpolicyd's time key of moment now: pattern formatted in tz
 * (Time::Piece->new->strftime in mtpolicyd's local time). nullopt with
 * *error for a pattern Tally cannot format. */
std::optional<std::string> time_key(const std::string &pattern, const TimeZone &tz, std::int64_t now,
                                    std::string *error);

/* Selection - the rows of one period, and what was left out */
struct Selection {
    std::vector<AcctRow> current;
    std::size_t other_rows = 0;             // rows of other periods
    std::map<std::string, std::size_t> other_periods;  // period -> rows
};

/* select_period - the rows whose time is exactly key */
Selection select_period(const std::vector<AcctRow> &rows, const std::string &key);

/* mysql_query - the SELECT for one period of one table; nullopt when the
 * table name is not [A-Za-z0-9_]+ */
std::optional<std::string> mysql_query(const std::string &table, const std::string &key);

/* ---- limits ---- */

/* The mtpolicyd attribute holding each metric's limit (LdapUserConfig
 * config_fields, as in the case study's directory), indexed by Metric. */
using SourceAttributes = std::array<std::string, 4>;
SourceAttributes default_source_attributes();

/* Entry - an account's attributes, names lower-cased */
using Entry = std::map<std::string, std::vector<std::string>>;

/* LimitChange - one limit to write on an account */
struct LimitChange {
    Metric metric = Metric::messages;
    std::string source_attribute;        // mtpolicydMailMessageLimit
    std::string attribute;               // tallyMessagesPerDay, or tallyLimit for other windows
    std::string value;                   // "500", or "daily messages 500" for tallyLimit
    std::vector<std::string> old_values; // replaced values (for tallyLimit: the ones of this window and metric)
    bool operator==(const LimitChange &) const = default;
};

struct LimitPlan {
    std::vector<LimitChange> changes;
    std::vector<std::string> unchanged;  // "tallyMessagesPerDay 500"
    std::vector<std::string> kept;       // differing Tally values left alone (no overwrite)
    std::vector<std::string> errors;     // bad mtpolicyd values
    bool add_object_class = false;       // tallyAccount missing
};

/* plan_limits - the Tally limits of window that copy an account's mtpolicyd
 * limits. Values equal to what is there already are left alone; a
 * differing Tally value is replaced only with overwrite. */
LimitPlan plan_limits(const Entry &entry, const std::string &window, const SourceAttributes &source,
                      bool overwrite);

/* ---- usage ---- */

/* charge_id - the charge id of part (1 or 2) of a period's import */
std::string charge_id(const std::string &period, int part);

/* ImportCharges - the charges that add a period's usage to an account */
struct ImportCharges {
    std::vector<ChargeRequest> charges;  // mode count, with charge ids
    Usage imported;                      // what they add up to
    std::optional<std::string> error;    // too large for the charge operation
};

/* charges_for - count-mode charges adding usage (summed rows) to dn */
ImportCharges charges_for(const std::string &dn, const Usage &usage, const std::string &period);

/* sum_usage - the rows' usage added up (saturating) */
Usage sum_usage(const std::vector<AcctRow> &rows);

/* has_usage - whether any metric is non-zero */
bool has_usage(const Usage &u);

}  // namespace tally::mtpolicyd
