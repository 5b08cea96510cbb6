// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* import_command.cpp - copy mtpolicyd limits and the current period's usage into Tally
 *
 * SYNOPSIS
 *   tallyctl [connection flags] import-mtpolicyd -b BASE [-f FILTER] [-W WINDOW]
 *       [-p TIME-PATTERN] [-z ZONE] [-k KEY-FILTER] [-A METRIC=ATTRIBUTE]...
 *       [--csv FILE [--columns LIST] | --mysql COMMAND [--table TABLE]]
 *       [--at EPOCH] [--no-limits] [--overwrite] [--force] [-n]
 *
 * DESCRIPTION
 *   Limits: every entry under BASE matching FILTER (default: any of the
 *   four mtpolicydMail*Limit attributes present) gets WINDOW's Tally limit
 *   attributes (tally<Metric>Per<Window>, or tallyLimit values for other
 *   windows) set from its mtpolicyd attributes, and tallyAccount added to
 *   its object classes when missing. Equal values are left alone; differing
 *   Tally values only with --overwrite.
 *
 *   Usage: the rows of the acct_<field> table (--csv export, or --mysql
 *   running the MariaDB/MySQL client in batch mode) whose time is the time
 *   key of now (TIME-PATTERN in ZONE, as mtpolicyd formats it) are summed
 *   per account, the account found by KEY-FILTER (%s the key, %u %d its
 *   parts, all escaped) under BASE, and added with count-mode charges
 *   (counted whatever the limits). An account that already has usage in
 *   the period is skipped unless --force; the charge ids
 *   "mtpolicyd:PERIOD:1" and ":2" make a --force rerun within
 *   tally-charge-id-ttl count nothing twice.
 *
 * DIAGNOSTICS
 *   Exit 0: all done. 1: something was left out (unknown or ambiguous keys,
 *   accounts skipped, Tally limits kept). 2: bad input (nothing is written
 *   when any row is bad), LDAP errors.
 */
#include "import_command.h"

#include "ldap_filter.h"
#include "ldap_ops.h"
#include "config.h"
#include "mtpolicyd_records.h"
#include "overlay_config.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <getopt.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tally {

namespace {

using namespace tally::mtpolicyd;

[[noreturn]] void fail(const std::string &msg) {
    std::fprintf(stderr, "tallyctl: import-mtpolicyd: %s\n", msg.c_str());
    std::exit(2);
}

[[noreturn]] void import_usage_exit() {
    std::fprintf(stderr,
                 "usage: tallyctl [connection flags] import-mtpolicyd -b BASE [-f FILTER] [-W WINDOW] "
                 "[-p TIME-PATTERN] [-z ZONE]\n"
                 "         [-k KEY-FILTER] [-A METRIC=ATTRIBUTE]... [--csv FILE [--columns LIST] | "
                 "--mysql COMMAND [--table TABLE]]\n"
                 "         [--at EPOCH] [--no-limits] [--overwrite] [--force] [-n|--dry-run]\n");
    std::exit(2);
}

struct Options {
    std::string base, filter, window = "day", pattern, zone = "localtime";
    std::string key_filter = engine::Config{}.search_filter;
    SourceAttributes source = default_source_attributes();
    std::string csv, columns, mysql, table = "acct_sasl_username";
    std::optional<std::int64_t> at;
    bool limits = true, overwrite = false, force = false, dry_run = false;
};

std::vector<std::string> split(const std::string &s, const char *seps) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t j = s.find_first_of(seps, i);
        if (j == std::string::npos) j = s.size();
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

/* read_input - the whole file, or stdin for "-" */
std::string read_input(const std::string &path) {
    if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path + ": " + std::strerror(errno));
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/* run_mysql - the client's batch output of query; words are the command and its options */
std::string run_mysql(const std::vector<std::string> &words, const std::string &query) {
    std::vector<std::string> args = words;
    args.insert(args.end(), {"--batch", "--column-names", "-e", query});
    int fds[2];
    if (pipe(fds) != 0) fail(std::string("pipe: ") + std::strerror(errno));
    pid_t pid = fork();
    if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        std::vector<char *> argv;
        for (auto &a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "tallyctl: import-mtpolicyd: %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) out.append(buf, static_cast<std::size_t>(n));
        else if (n == 0 || errno != EINTR) break;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("\"" + words[0] + "\" failed (exit status " +
             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) + "); nothing imported");
    return out;
}

/* search - entries under base matching filter with the attributes asked for (names lower-cased) */
std::vector<std::pair<std::string, Entry>> search(client::Connection &c, const std::string &base,
                                                  const std::string &filter, const std::vector<std::string> &attrs,
                                                  int size_limit, int *rc_out) {
    client::Search q;
    q.base = base;
    q.filter = filter;
    q.attributes = attrs;
    q.size_limit = size_limit;
    q.timeout_ms = -1;  // a whole directory may take longer than one operation
    client::SearchResult r = client::search(c, q);
    *rc_out = r.result.code;
    std::vector<std::pair<std::string, Entry>> out;
    if (!r.result.ok() && r.result.code != LDAP_SIZELIMIT_EXCEEDED) return out;
    for (auto &e : r.entries) {
        Entry entry;
        for (auto &[name, values] : e.attributes) {
            std::string lower = name;
            for (char &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            entry[lower] = std::move(values);
        }
        out.emplace_back(std::move(e.dn), std::move(entry));
    }
    return out;
}

struct Tally {
    int changed = 0, unchanged = 0, imported = 0, unknown = 0, skipped = 0, errors = 0, left_out = 0;
};

/* copy_limits - the limits pass */
void copy_limits(client::Connection &c, const Options &o, Tally &t) {
    std::string filter = o.filter;
    if (filter.empty()) {
        filter = "(|";
        for (const auto &a : o.source) filter += "(" + a + "=*)";
        filter += ")";
    }
    OverlayConfig none;
    std::vector<std::string> attrs = {"objectClass", "tallyLimit"};
    for (Metric m : kClassicMetrics) {  // mtpolicyd has these four
        attrs.push_back(o.source[static_cast<int>(m)]);
        std::string a = limit_attribute_name(none, o.window, m);
        if (!a.empty()) attrs.push_back(a);
    }
    int rc = 0;
    auto entries = search(c, o.base, filter, attrs, 0, &rc);
    if (rc != LDAP_SUCCESS) fail("search under " + o.base + " for " + filter + ": " + ldap_err2string(rc));
    const char *would = o.dry_run ? "would set" : "set";
    for (const auto &[dn, entry] : entries) {
        LimitPlan p = plan_limits(entry, o.window, o.source, o.overwrite);
        for (const auto &e : p.errors) {
            std::fprintf(stderr, "tallyctl: limits %s: %s\n", dn.c_str(), e.c_str());
            ++t.errors;
        }
        for (const auto &k : p.kept) {
            std::printf("limits %s: kept %s; --overwrite replaces it\n", dn.c_str(), k.c_str());
            ++t.left_out;
        }
        for (const auto &u : p.unchanged) std::printf("limits %s: unchanged %s\n", dn.c_str(), u.c_str());
        if (p.changes.empty()) {
            if (p.errors.empty() && p.kept.empty()) ++t.unchanged;
            continue;
        }
        for (const auto &ch : p.changes) {
            std::string was;
            for (const auto &v : ch.old_values) was += (was.empty() ? "" : ", ") + v;
            std::printf("limits %s: %s %s%s%s (from %s; was %s)\n", dn.c_str(), would, ch.attribute.c_str(),
                        ch.attribute == "tallyLimit" ? ": " : " ", ch.value.c_str(), ch.source_attribute.c_str(),
                        was.empty() ? "none" : was.c_str());
        }
        if (p.add_object_class) std::printf("limits %s: %s objectClass tallyAccount\n", dn.c_str(), o.dry_run ? "would add" : "add");
        if (o.dry_run) {
            ++t.changed;
            continue;
        }
        // One modify per entry.
        std::vector<client::Modification> mods;
        if (p.add_object_class) mods.push_back({LDAP_MOD_ADD, "objectClass", {"tallyAccount"}});
        for (const auto &ch : p.changes) {
            if (ch.attribute == "tallyLimit") {
                if (!ch.old_values.empty()) mods.push_back({LDAP_MOD_DELETE, ch.attribute, ch.old_values});
                mods.push_back({LDAP_MOD_ADD, ch.attribute, {ch.value}});
            } else {
                mods.push_back({LDAP_MOD_REPLACE, ch.attribute, {ch.value}});
            }
        }
        client::LdapResult m = client::modify(c, dn, mods);
        if (!m.ok()) {
            std::fprintf(stderr, "tallyctl: limits %s: not written: %s\n", dn.c_str(), m.describe().c_str());
            ++t.errors;
            if (m.code == LDAP_SERVER_DOWN) fail("connection lost");
            continue;
        }
        ++t.changed;
    }
}

std::string describe(const Usage &u) {
    std::string s;
    for (Metric m : kClassicMetrics)  // what mtpolicyd counts: no external recipients
        s += (s.empty() ? "" : " ") + std::string(metric_name(m)) + "=" + std::to_string(u[m]);
    return s;
}

/* import_usage - the usage pass over the rows of the period key */
void import_usage(client::Connection &c, const Options &o, const std::vector<AcctRow> &rows, const std::string &key,
                  Tally &t) {
    Selection sel = select_period(rows, key);
    std::printf("usage: %zu rows of period %s (time pattern %s) for the %s window", sel.current.size(), key.c_str(),
                o.pattern.c_str(), o.window.c_str());
    if (sel.other_rows) {
        std::printf("; %zu rows of other periods ignored (", sel.other_rows);
        bool first = true;
        for (const auto &[p, n] : sel.other_periods) {
            std::printf("%s%s: %zu", first ? "" : ", ", p.c_str(), n);
            first = false;
        }
        std::printf(")");
    }
    std::printf("\n");

    // Rows by account: two keys of one account (case variants) are added up.
    std::map<std::string, std::vector<const AcctRow *>> by_dn;
    std::vector<std::string> order;
    for (const AcctRow &r : sel.current) {
        client::FilterValues fv;
        fv.login = r.key;
        auto filter = client::expand_filter(o.key_filter, fv);
        if (!filter) fail("bad key filter " + o.key_filter);
        int rc = 0;
        auto found = search(c, o.base, *filter, {"1.1"}, 2, &rc);
        if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED && rc != LDAP_NO_SUCH_OBJECT) {
            std::fprintf(stderr, "tallyctl: usage line %zu key \"%s\": search %s: %s\n", r.line, r.key.c_str(),
                         filter->c_str(), ldap_err2string(rc));
            ++t.errors;
            if (rc == LDAP_SERVER_DOWN) fail("connection lost");
            continue;
        }
        if (found.empty()) {
            std::fprintf(stderr, "tallyctl: usage line %zu: unknown key \"%s\" (no entry under %s matches %s); "
                                 "not imported\n", r.line, r.key.c_str(), o.base.c_str(), filter->c_str());
            ++t.unknown;
            continue;
        }
        if (found.size() > 1) {
            std::fprintf(stderr, "tallyctl: usage line %zu: key \"%s\" matches several entries (%s); not imported\n",
                         r.line, r.key.c_str(), filter->c_str());
            ++t.unknown;
            continue;
        }
        const std::string &dn = found[0].first;
        if (!by_dn.count(dn)) order.push_back(dn);
        by_dn[dn].push_back(&r);
    }

    const bool check_period = builtin_pattern(o.window).empty() || builtin_pattern(o.window) == o.pattern;
    for (const std::string &dn : order) {
        std::vector<AcctRow> mine;
        std::string keys;
        for (const AcctRow *r : by_dn[dn]) {
            mine.push_back(*r);
            keys += (keys.empty() ? "" : ", ") + r->key;
        }
        const Usage want = sum_usage(mine);

        // What the overlay holds now for this window.
        ChargeRequest read;
        read.account = dn;
        read.messages = 0;
        read.mode = Mode::check;
        auto now = client::charge(c, read);
        if (now.ldap.code != LDAP_SUCCESS) {
            std::fprintf(stderr, "tallyctl: usage %s: reading usage: %s%s%s\n", dn.c_str(),
                         ldap_err2string(now.ldap.code), now.ldap.text.empty() ? "" : ": ", now.ldap.text.c_str());
            ++t.errors;
            if (now.ldap.transport_error()) fail("connection lost");
            continue;
        }
        const WindowReport *w = nullptr;
        for (const auto &wr : now.response.windows)
            if (wr.window == o.window) w = &wr;
        if (!w) fail("the overlay has no window \"" + o.window + "\" (tally-window); nothing imported for " + dn);
        if (check_period && w->period != key) {
            std::fprintf(stderr, "tallyctl: usage %s: the overlay's %s period is %s, the rows are of %s; not imported "
                                 "(clocks or time zones differ: see --timezone)\n",
                         dn.c_str(), o.window.c_str(), w->period.c_str(), key.c_str());
            ++t.errors;
            continue;
        }
        if (has_usage(w->usage) && !o.force) {
            std::printf("usage %s: skipped, already has usage in %s %s (%s); --force adds %s\n", dn.c_str(),
                        o.window.c_str(), w->period.c_str(), describe(w->usage).c_str(), describe(want).c_str());
            ++t.skipped;
            continue;
        }
        ImportCharges plan = charges_for(dn, want, key);
        if (plan.error) {
            std::fprintf(stderr, "tallyctl: usage %s: %s; not imported\n", dn.c_str(), plan.error->c_str());
            ++t.errors;
            continue;
        }
        std::string approx;
        if (plan.imported[Metric::byteRecipients] != want[Metric::byteRecipients])
            approx = " (size_rcpt " + std::to_string(want[Metric::byteRecipients]) + ")";
        if (o.dry_run) {
            std::printf("usage %s: would import %s%s from %s\n", dn.c_str(), describe(plan.imported).c_str(),
                        approx.c_str(), keys.c_str());
            ++t.imported;
            continue;
        }
        int counted = 0, duplicates = 0;
        bool failed = false;
        for (const ChargeRequest &req : plan.charges) {
            auto out = client::charge(c, req);
            if (out.ldap.code != LDAP_SUCCESS) {
                std::fprintf(stderr, "tallyctl: usage %s: charge %s: %s%s%s\n", dn.c_str(), req.charge_id.c_str(),
                             ldap_err2string(out.ldap.code), out.ldap.text.empty() ? "" : ": ",
                             out.ldap.text.c_str());
                if (out.ldap.transport_error()) fail("connection lost");
                failed = true;
                break;
            }
            if (out.response.verdict == Verdict::duplicate) ++duplicates;
            else ++counted;
        }
        if (failed) {
            ++t.errors;
            continue;
        }
        if (counted == 0 && duplicates > 0) {
            std::printf("usage %s: already imported (charge ids %s and :2 within tally-charge-id-ttl); nothing added\n",
                        dn.c_str(), charge_id(key, 1).c_str());
            ++t.skipped;
            continue;
        }
        std::printf("usage %s: imported %s%s from %s%s\n", dn.c_str(), describe(plan.imported).c_str(),
                    approx.c_str(), keys.c_str(), duplicates ? " (part of it had been imported before)" : "");
        ++t.imported;
    }
}

}  // namespace

int cmd_import_mtpolicyd(const client::ConnectOptions &conn_opts, int argc, char **argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // report lines and problems in order
    Options o;
    enum { kCsv = 1000, kColumns, kMysql, kTable, kAt, kNoLimits, kOverwrite, kForce };
    static const struct option longopts[] = {
        {"base", required_argument, nullptr, 'b'},     {"filter", required_argument, nullptr, 'f'},
        {"window", required_argument, nullptr, 'W'},   {"time-pattern", required_argument, nullptr, 'p'},
        {"timezone", required_argument, nullptr, 'z'}, {"key-filter", required_argument, nullptr, 'k'},
        {"attribute", required_argument, nullptr, 'A'}, {"dry-run", no_argument, nullptr, 'n'},
        {"csv", required_argument, nullptr, kCsv},     {"columns", required_argument, nullptr, kColumns},
        {"mysql", required_argument, nullptr, kMysql}, {"table", required_argument, nullptr, kTable},
        {"at", required_argument, nullptr, kAt},       {"no-limits", no_argument, nullptr, kNoLimits},
        {"overwrite", no_argument, nullptr, kOverwrite}, {"force", no_argument, nullptr, kForce},
        {nullptr, 0, nullptr, 0}};
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:f:W:p:z:k:A:n", longopts, nullptr)) != -1) {
        switch (opt) {
        case 'b': o.base = optarg; break;
        case 'f': o.filter = optarg; break;
        case 'W': o.window = optarg; break;
        case 'p': o.pattern = optarg; break;
        case 'z': o.zone = optarg; break;
        case 'k': o.key_filter = optarg; break;
        case 'A': {
            std::string a = optarg;
            auto eq = a.find('=');
            auto m = eq == std::string::npos ? std::nullopt : parse_metric(a.substr(0, eq));
            if (!m || eq + 1 >= a.size()) fail("bad -A " + a + " (METRIC=ATTRIBUTE, e.g. messages=mtpolicydMailMessageLimit)");
            o.source[static_cast<int>(*m)] = a.substr(eq + 1);
            break;
        }
        case 'n': o.dry_run = true; break;
        case kCsv: o.csv = optarg; break;
        case kColumns: o.columns = optarg; break;
        case kMysql: o.mysql = optarg; break;
        case kTable: o.table = optarg; break;
        case kAt: {
            char *end = nullptr;
            errno = 0;
            long long v = std::strtoll(optarg, &end, 10);
            if (!*optarg || *end || errno) fail(std::string("bad --at ") + optarg + " (seconds since the epoch)");
            o.at = v;
            break;
        }
        case kNoLimits: o.limits = false; break;
        case kOverwrite: o.overwrite = true; break;
        case kForce: o.force = true; break;
        default: import_usage_exit();
        }
    }
    if (o.base.empty() || optind != argc) import_usage_exit();
    if (!o.csv.empty() && !o.mysql.empty()) fail("--csv and --mysql exclude each other");
    const bool usage = !o.csv.empty() || !o.mysql.empty();
    if (!usage && !o.limits) fail("nothing to do: --no-limits without --csv or --mysql");
    if (!o.columns.empty() && o.csv.empty()) fail("--columns goes with --csv");
    if (!client::expand_filter(o.key_filter, {})) fail("bad key filter " + o.key_filter + " (%s %u %d %%)");

    WindowDef wd;
    if (auto e = parse_window(o.window, builtin_pattern(o.window).empty() ? "%Y" : "", wd))
        fail("window " + o.window + ": " + *e);
    if (o.pattern.empty()) {
        o.pattern = std::string(builtin_pattern(o.window));
        if (o.pattern.empty()) fail("window " + o.window + " is not built in: give mtpolicyd's time_pattern with -p");
    }
    std::string err;
    auto tz = TimeZone::locate(o.zone, &err);
    if (!tz) fail(err);
    const std::int64_t now = o.at ? *o.at : static_cast<std::int64_t>(std::time(nullptr));
    auto key = time_key(o.pattern, *tz, now, &err);
    if (!key) fail(err);

    // Read and check every row before touching the directory.
    std::vector<AcctRow> rows;
    if (usage) {
        std::string text;
        std::vector<std::string> columns;
        if (!o.csv.empty()) {
            text = read_input(o.csv);
            if (!o.columns.empty()) columns = split(o.columns, ",");
        } else {
            auto q = mysql_query(o.table, *key);
            if (!q) fail("bad table name " + o.table + " (letters, digits, _)");
            auto words = split(o.mysql, " \t");
            if (words.empty()) fail("empty --mysql command");
            text = run_mysql(words, *q);
        }
        ParseResult pr = parse_acct_table(text, Format::automatic, columns);
        if (!pr.errors.empty()) {
            const std::string src = o.csv.empty() ? "mysql output" : o.csv;
            for (const auto &e : pr.errors) std::fprintf(stderr, "tallyctl: %s: %s\n", src.c_str(), e.c_str());
            fail("bad input; nothing imported");
        }
        rows = std::move(pr.rows);
    }

    std::string cerr_text;
    auto conn = client::Connection::open(conn_opts, &cerr_text);
    if (!conn) fail(cerr_text);
    Tally t;
    if (o.limits) copy_limits(*conn, o, t);
    if (usage) import_usage(*conn, o, rows, *key, t);
    std::printf("summary:%s", o.dry_run ? " (dry run, nothing written)" : "");
    if (o.limits) std::printf(" limits of %d accounts %s, %d unchanged;", t.changed, o.dry_run ? "to change" : "changed", t.unchanged);
    if (usage)
        std::printf(" usage of %d accounts %s, %d skipped, %d unknown keys;", t.imported,
                    o.dry_run ? "to import" : "imported", t.skipped, t.unknown);
    std::printf(" %d errors\n", t.errors);
    if (t.errors) return 2;
    return t.unknown || t.skipped || t.left_out ? 1 : 0;
}

}  // namespace tally
