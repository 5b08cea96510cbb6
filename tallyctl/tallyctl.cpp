// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tallyctl - read usage, charge and reset Tally counters
 *
 * SYNOPSIS
 *   tallyctl [-H uri] [-x] [-D binddn] [-w passwd | -y passwdfile] [-Y EXTERNAL]
 *            [-Z] COMMAND ...
 *   tallyctl usage ACCOUNT-DN
 *   tallyctl charge [-m messages] [-r recipients] [-b bytes] [-i charge-id]
 *                   [-M charge|check|count] ACCOUNT-DN
 *   tallyctl reset ACCOUNT-DN [WINDOW]
 *   tallyctl report -b BASE [-f FILTER] [-W WINDOW] [-m METRIC] [-s usage|percent] [-c]
 *   tallyctl report -b BASE [-f FILTER] -t [-c]
 *   tallyctl top -b BASE [-f FILTER] [-n N] [-c]
 *   tallyctl check -c MILTER-CONF [-a CLIENT] LOGIN SENDER RECIPIENTS BYTES
 *                   (RECIPIENTS: a count, or addresses separated by commas)
 *   tallyctl import-mtpolicyd -b BASE [options] [--csv FILE | --mysql COMMAND]
 *   tallyctl stats [--format text|prometheus]
 *
 * DESCRIPTION
 *   Connection flags are ldap-utils' (ldapsearch(1)); TLS settings come
 *   from ldap.conf(5) and LDAPTLS_* variables as for ldapsearch, and the
 *   server's certificate is always verified. "usage" asks the
 *   overlay for the account's usage without charging (a check of an empty
 *   message) and prints one row per window and metric. "charge" sends one
 *   charge, for diagnostics. "reset" clears the current counters of one
 *   window, or of all windows. "report" lists every account under BASE
 *   (default filter (objectClass=tallyAccount)) with its usage and limit of
 *   one window and metric, highest first, as a table or CSV (-c); with -t
 *   instead every window and metric whose usage reached its warning
 *   threshold (tallyWarning, soft limits); "top"
 *   lists the N accounts nearest to or over any of their limits. "check"
 *   asks what tallyd would answer to a message (what policyd-client
 *   is for mtpolicyd): it reads the milter's configuration, looks the login
 *   up, applies the sender restrictions and sends a check-mode charge, which
 *   counts nothing. LOGIN "-" means an unauthenticated client.
 *   "import-mtpolicyd" copies mtpolicyd limits and the current period's
 *   accounting rows into Tally (import_command.cpp).
 *   "stats" reads the overlay's counters under cn=Monitor (slapd's monitor
 *   database) and prints a block per database, or Prometheus's text
 *   exposition for node_exporter's textfile collector (monitor_stats.h).
 *
 * DIAGNOSTICS
 *   Exit 0: done (charge: accepted or duplicate). 1: the charge was
 *   refused. 2: usage error, LDAP error or refusal by the server; stats:
 *   no monitor database, no overlay entry under it, or an identity that
 *   may not read it, each said so.
 */
#include "import_command.h"
#include "ldap_client.h"
#include "ldap_ops.h"
#include "directory.h"
#include "message_flow.h"
#include "monitor_stats.h"
#include "report.h"
#include "usage_table.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {

using namespace tally;

/* usage_exit - the usage on stderr and exit 2 (a usage error), or with
 * help on stdout and exit 0 (-h, --help) */
[[noreturn]] void usage_exit(bool help = false) {
    std::fprintf(help ? stdout : stderr,
                 "usage: tallyctl [-H uri] [-x] [-D binddn] [-w passwd | -y passwdfile] [-Y EXTERNAL] [-Z] "
                 "COMMAND ...\n"
                 "  usage ACCOUNT-DN\n"
                 "  charge [-m messages] [-r recipients] [-b bytes] [-i charge-id] [-M charge|check|count] "
                 "ACCOUNT-DN\n"
                 "  reset ACCOUNT-DN [WINDOW]\n"
                 "  report -b BASE [-f FILTER] [-W WINDOW] [-m METRIC] [-s usage|percent] [-c]\n"
                 "  report -b BASE [-f FILTER] -t [-c]      (accounts at or over a warning threshold)\n"
                 "  top -b BASE [-f FILTER] [-n N] [-c]\n"
                 "  check -c MILTER-CONF [-a CLIENT] LOGIN SENDER RECIPIENTS|ADDR,ADDR,... BYTES\n"
                 "  import-mtpolicyd -b BASE [options] [--csv FILE | --mysql COMMAND]   (see tallyctl(1))\n"
                 "  stats [--format text|prometheus]\n"
                 "exit status: 0 done (charge, check: accepted or duplicate), 1 refused, 2 usage, LDAP or "
                 "server error\n");
    std::exit(help ? 0 : 2);
}

[[noreturn]] void die(const std::string &msg) {
    std::fprintf(stderr, "tallyctl: %s\n", msg.c_str());
    std::exit(2);
}

std::uint64_t number_arg(const char *s, const char *what) {
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') die(std::string("bad ") + what + ": " + s);
    return v;
}

int report_ldap_error(const client::ExopResult &r) {
    std::fprintf(stderr, "tallyctl: %s (%d)%s%s%s%s\n", ldap_err2string(r.code), r.code, r.text.empty() ? "" : ": ",
                 r.text.c_str(), r.referral.empty() ? "" : "; referral: ", r.referral.c_str());
    return 2;
}

int cmd_usage(client::Connection &c, int argc, char **argv) {
    if (argc != 2) usage_exit();
    ChargeRequest req;
    req.account = argv[1];
    req.messages = 0;
    req.mode = Mode::check;
    auto out = client::charge(c, req);
    if (out.ldap.code != LDAP_SUCCESS) return report_ldap_error(out.ldap);
    std::fputs(format_usage_table(req.account, out.response).c_str(), stdout);
    return 0;
}

int cmd_charge(client::Connection &c, int argc, char **argv) {
    ChargeRequest req;
    optind = 1;
    int opt;
    while ((opt = getopt(argc, argv, "m:r:b:i:M:")) != -1) {
        switch (opt) {
        case 'm': req.messages = number_arg(optarg, "message count"); break;
        case 'r': req.recipients = number_arg(optarg, "recipient count"); break;
        case 'b': req.bytes = number_arg(optarg, "byte count"); break;
        case 'i': req.charge_id = optarg; break;
        case 'M':
            if (!std::strcmp(optarg, "charge")) req.mode = Mode::charge;
            else if (!std::strcmp(optarg, "check")) req.mode = Mode::check;
            else if (!std::strcmp(optarg, "count")) req.mode = Mode::count;
            else die(std::string("bad mode: ") + optarg);
            break;
        default: usage_exit();
        }
    }
    if (optind + 1 != argc) usage_exit();
    req.account = argv[optind];
    auto out = client::charge(c, req);
    if (out.ldap.code != LDAP_SUCCESS) return report_ldap_error(out.ldap);
    const ChargeResponse &r = out.response;
    std::printf("verdict: %s\n", std::string(verdict_name(r.verdict)).c_str());
    if (r.exceeded)
        std::printf("exceeded: %s%s\n", describe_refusal(r).c_str(),
                    r.first_hit ? " (first time this period: alert)" : "");
    std::fputs(format_usage_table(req.account, r).c_str(), stdout);
    return r.verdict == Verdict::refused ? 1 : 0;
}

int cmd_reset(client::Connection &c, int argc, char **argv) {
    if (argc < 2 || argc > 3) usage_exit();
    ResetRequest req;
    req.account = argv[1];
    if (argc == 3) req.window = argv[2];
    auto r = client::reset(c, req);
    if (r.code != LDAP_SUCCESS) return report_ldap_error(r);
    std::printf("reset %s of %s\n", req.window.empty() ? "all windows" : req.window.c_str(), req.account.c_str());
    return 0;
}

/* account_dns - every entry under base matching filter */
std::vector<std::string> account_dns(client::Connection &c, const std::string &base, const std::string &filter) {
    client::Search q;
    q.base = base;
    q.filter = filter;
    q.attributes = {"1.1"};
    q.timeout_ms = -1;  // a report over many accounts may take longer than one operation
    client::SearchResult r = client::search(c, q);
    if (!r.result.ok() && r.result.code != LDAP_SIZELIMIT_EXCEEDED)
        die("search under " + base + ": " + r.result.describe());
    std::vector<std::string> dns;
    for (const auto &e : r.entries) dns.push_back(e.dn);
    return dns;
}

/* usage_of_all - a check-mode charge per account; accounts we may not read are skipped */
std::vector<AccountUsage> usage_of_all(client::Connection &c, const std::vector<std::string> &dns) {
    std::vector<AccountUsage> out;
    for (const auto &dn : dns) {
        ChargeRequest req;
        req.account = dn;
        req.messages = 0;
        req.mode = Mode::check;
        auto r = client::charge(c, req);
        if (r.ldap.code == LDAP_SUCCESS) out.push_back({dn, r.response});
        else if (r.ldap.transport_error()) die("charge: " + r.ldap.text);
    }
    return out;
}

int cmd_report(client::Connection &c, int argc, char **argv, bool top) {
    std::string base, filter = "(|(objectClass=tallyAccount)(objectClass=tallyAggregate))", window, metric = "messages";
    SortBy sort = SortBy::usage;
    bool csv = false, warned = false;
    std::size_t n = 10;
    optind = 1;
    int opt;
    while ((opt = getopt(argc, argv, top ? "b:f:cn:" : "b:f:W:m:s:ct")) != -1) {
        switch (opt) {
        case 'b': base = optarg; break;
        case 'f': filter = optarg; break;
        case 'W': window = optarg; break;
        case 'm': metric = optarg; break;
        case 's':
            if (!std::strcmp(optarg, "usage")) sort = SortBy::usage;
            else if (!std::strcmp(optarg, "percent")) sort = SortBy::percent;
            else die(std::string("bad sort: ") + optarg);
            break;
        case 'c': csv = true; break;
        case 'n': n = static_cast<std::size_t>(number_arg(optarg, "count")); break;
        case 't': warned = true; break;
        default: usage_exit();
        }
    }
    if (base.empty() || optind != argc) usage_exit();
    auto m = parse_metric(metric);
    if (!m) die("unknown metric " + metric + " (messages, recipients, bytes, byteRecipients, externalRecipients)");
    auto accounts = usage_of_all(c, account_dns(c, base, filter));
    if (top) {
        std::fputs(format_rows(top_rows(accounts, n), csv).c_str(), stdout);
        return 0;
    }
    if (warned) {
        std::fputs(format_rows(warned_rows(accounts), csv, true).c_str(), stdout);
        return 0;
    }
    // Without -W every window, one after the other: the one that refuses an
    // account is not always the first (an account over its day limit is far
    // from its hour limit).
    std::vector<std::string> windows;
    if (!window.empty()) windows.push_back(window);
    else if (!accounts.empty())
        for (const auto &w : accounts[0].usage.windows) windows.push_back(w.window);
    std::vector<ReportRow> rows;
    for (const std::string &w : windows) {
        auto part = report_rows(accounts, w, *m, sort);
        rows.insert(rows.end(), part.begin(), part.end());
    }
    std::fputs(format_rows(rows, csv).c_str(), stdout);
    return 0;
}

/* identity_of - who the server thinks we are, for messages: a DN, "anonymous", or what we bound as */
std::string identity_of(client::Connection &c, const client::ConnectOptions &o) {
    if (auto id = client::whoami(c)) {
        if (id->empty()) return "anonymous";
        return id->rfind("dn:", 0) == 0 ? id->substr(3) : *id;
    }
    if (o.sasl_external) return "the SASL EXTERNAL identity";
    return o.bind_dn.empty() ? "anonymous" : o.bind_dn;
}

/* acl_hint - the access a monitoring identity needs, in slapd.conf's words */
std::string acl_hint(const std::string &who) {
    std::string by = who == "anonymous" ? "anonymous" : "dn.exact=\"" + who + "\"";
    return "cn=Monitor needs an ACL that lets it read, in the monitor database: "
           "access to dn.subtree=\"cn=Monitor\" by " +
           by + " read (cn=config: olcAccess of olcDatabase={N}monitor)";
}

constexpr const char *kMonitorBase = "cn=Monitor";

int cmd_stats(client::Connection &c, const client::ConnectOptions &o, int argc, char **argv) {
    bool prometheus = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], format;
        if (a == "--format" && i + 1 < argc) format = argv[++i];
        else if (a.rfind("--format=", 0) == 0) format = a.substr(9);
        else usage_exit();
        if (format == "prometheus") prometheus = true;
        else if (format == "text") prometheus = false;
        else die("bad format: " + format + " (text, prometheus)");
    }
    client::Search q;
    q.base = kMonitorBase;
    q.filter = "(objectClass=tallyMonitor)";
    q.attributes = stats_attributes();
    client::SearchResult r = client::search(c, q);
    if (r.result.code == LDAP_NO_SUCH_OBJECT) {
        // no cn=Monitor, or one we may not even see: the root DSE says which
        if (client::read_values(c, "", "monitorContext").empty())
            die("slapd has no monitor database (slapd.conf: database monitor; cn=config: an olcDatabase=monitor "
                "entry), so the overlay's counters are nowhere to read");
        std::string who = identity_of(c, o);
        die("slapd has a monitor database but " + who + " may not read " + kMonitorBase + ": " + acl_hint(who));
    }
    if (r.result.code == LDAP_INSUFFICIENT_ACCESS || r.result.code == LDAP_STRONG_AUTH_REQUIRED ||
        r.result.code == LDAP_CONFIDENTIALITY_REQUIRED) {
        std::string who = identity_of(c, o);
        die("searching " + std::string(kMonitorBase) + " as " + who + ": " + r.result.describe() + "; " +
            acl_hint(who));
    }
    if (!r.result.ok()) die("searching " + std::string(kMonitorBase) + ": " + r.result.describe());
    if (r.entries.empty()) {
        // Can we see the monitor's database entries at all?
        client::Search dbs;
        dbs.base = std::string("cn=Databases,") + kMonitorBase;
        dbs.scope = LDAP_SCOPE_ONELEVEL;
        dbs.attributes = {"1.1"};
        if (client::search(c, dbs).entries.empty()) {
            std::string who = identity_of(c, o);
            die(who + " sees no database entries under " + kMonitorBase + ": " + acl_hint(who));
        }
        die("no database under " + std::string(kMonitorBase) +
            " carries tallyMonitor: the tally overlay is not loaded on any database (overlay tally), or this "
            "slapd's tally.so predates its cn=Monitor counters");
    }
    std::vector<std::string> problems;
    std::vector<DatabaseStats> stats;
    for (const auto &e : r.entries) {
        stats.push_back(parse_database_stats(e.dn, e.attributes, &problems));
        if (!stats.back().has_any())
            problems.push_back(e.dn + ": none of the tallyMon* counters came back: " + identity_of(c, o) +
                               " may read the entry but not those attributes (ACL on attrs=tallyMon*?)");
    }
    for (const auto &p : problems) std::fprintf(stderr, "tallyctl: %s\n", p.c_str());
    std::fputs((prometheus ? format_stats_prometheus(stats) : format_stats_text(stats)).c_str(), stdout);
    return problems.empty() ? 0 : 2;
}

/* CheckOnly - the milter's directory, with every charge turned into a check */
class CheckOnly : public engine::Backend {
public:
    explicit CheckOnly(daemon::Directory &d) : d_(d) {}
    engine::LookupResult find_account(const std::string &l) override { return d_.find_account(l); }
    engine::LookupResult find_sender(const std::string &a) override { return d_.find_sender(a); }
    engine::LookupResult find_relay(const std::string &c) override { return d_.find_relay(c); }
    engine::ChargeResult charge(const ChargeRequest &req) override {
        ChargeRequest check = req;
        check.mode = Mode::check;
        return d_.charge(check);
    }
    engine::DenyListsResult deny_lists() override { return d_.deny_lists(); }
    engine::HostedDomainsResult hosted_domains() override { return d_.hosted_domains(); }
    engine::ExemptionsResult exemptions() override { return d_.exemptions(); }
    void cancel_later(const ChargeRequest &) override {}  // a check counts nothing

private:
    daemon::Directory &d_;
};

int cmd_check(int argc, char **argv) {
    std::string conf, client = "127.0.0.1";
    optind = 1;
    int opt;
    while ((opt = getopt(argc, argv, "c:a:")) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 'a': client = optarg; break;
        default: usage_exit();
        }
    }
    if (conf.empty() || argc - optind != 4) usage_exit();
    std::vector<std::string> errors;
    auto cfg = engine::load_config(conf, errors);
    if (!cfg) die(errors.empty() ? "bad configuration" : errors.front());
    std::string login = argv[optind], sender = argv[optind + 1];
    if (login == "-") login.clear();
    // RECIPIENTS: a count, or the addresses, comma-separated (then which are
    // external or exempt is decided as tallyd would).
    std::string rcpt_arg = argv[optind + 2];
    std::vector<std::string> rcpt_addresses;
    if (rcpt_arg.find('@') != std::string::npos) {
        for (std::size_t i = 0; i <= rcpt_arg.size();) {
            std::size_t j = rcpt_arg.find(',', i);
            if (j == std::string::npos) j = rcpt_arg.size();
            if (j > i) rcpt_addresses.push_back(rcpt_arg.substr(i, j - i));
            i = j + 1;
        }
    }
    std::uint64_t rcpts = rcpt_addresses.empty() ? number_arg(rcpt_arg.c_str(), "recipient count") : rcpt_addresses.size();
    std::uint64_t bytes = number_arg(argv[optind + 3], "byte count");
    try {
        daemon::Directory dir(*cfg);
        CheckOnly backend(dir);
        engine::AccountCache cache(0, std::chrono::seconds(0));
        engine::MessageFlow flow(*cfg, backend, cache);
        auto d = flow.mail_from(login, "<" + sender + ">", client);
        if (!d) {
            for (std::uint64_t i = 0; i < rcpts; ++i)
                flow.add_recipient(rcpt_addresses.empty() ? std::string() : "<" + rcpt_addresses[i] + ">");
            flow.add_bytes(bytes);
            d = flow.end_of_data("");
        }
        std::printf("verdict: %s\n", std::string(engine::action_name(d->action)).c_str());
        if (!d->reply.code.empty())
            std::printf("reply: %s %s %s\n", d->reply.code.c_str(), d->reply.xcode.c_str(), d->reply.text.c_str());
        std::printf("log: %s\n", flow.log_line().c_str());
        return d->action == engine::Action::accept ? 0 : 1;
    } catch (const std::exception &e) {
        die(e.what());
    }
}

}  // namespace

int main(int argc, char **argv) {
    client::ConnectOptions o;
    std::string password_file;
    // -h first (anywhere else it could be a value, e.g. of -w), --help anywhere
    if (argc > 1 && !std::strcmp(argv[1], "-h")) usage_exit(true);
    for (int i = 1; i < argc; ++i)
        if (!std::strcmp(argv[i], "--help")) usage_exit(true);
    int opt;
    while ((opt = getopt(argc, argv, "+H:xD:w:y:Y:Z")) != -1) {
        switch (opt) {
        case 'H': o.uri = optarg; break;
        case 'x': o.sasl_external = false; break;
        case 'D': o.bind_dn = optarg; break;
        case 'w': o.password = optarg; break;
        case 'y': password_file = optarg; break;
        case 'Y':
            if (strcasecmp(optarg, "EXTERNAL") != 0) die("only SASL EXTERNAL is supported");
            o.sasl_external = true;
            break;
        case 'Z': o.start_tls = true; break;
        default: usage_exit();
        }
    }
    if (!password_file.empty()) {
        std::string err;
        auto pw = client::read_password_file(password_file, &err);
        if (!pw) die(err);
        o.password = *pw;
    }
    if (optind >= argc) usage_exit();
    std::string cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (cmd == "check") return cmd_check(sub_argc, sub_argv);  // connects as the milter's configuration says
    if (cmd == "import-mtpolicyd") return cmd_import_mtpolicyd(o, sub_argc, sub_argv);  // reads its input first
    if (cmd != "usage" && cmd != "charge" && cmd != "reset" && cmd != "report" && cmd != "top" && cmd != "stats")
        usage_exit();
    std::string err;
    auto conn = client::Connection::open(o, &err);
    if (!conn) die(err);
    if (cmd == "usage") return cmd_usage(*conn, sub_argc, sub_argv);
    if (cmd == "charge") return cmd_charge(*conn, sub_argc, sub_argv);
    if (cmd == "report" || cmd == "top") return cmd_report(*conn, sub_argc, sub_argv, cmd == "top");
    if (cmd == "stats") return cmd_stats(*conn, o, sub_argc, sub_argv);
    return cmd_reset(*conn, sub_argc, sub_argv);
}
