// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// What the daemon's metrics count: each message's outcome (verdict and
// reason class) as the engine classifies it, through both doors' flows with
// a fake directory; the metrics_listen option; and the exposition the
// registry writes (every family with HELP and TYPE, series at zero).
#include "config.h"
#include "fake_backend.h"
#include "listen_address.h"
#include "message_flow.h"
#include "metrics.h"
#include "policy_door.h"

#include <catch2/catch.hpp>
#include <prometheus/text_serializer.h>

#include <regex>
#include <sstream>

using namespace tally;
using namespace tally::engine;

namespace {

const std::string kMinimal = "search_base = ou=people,dc=example,dc=com\n";

/* outcome - settle one authenticated message from alice through the flow */
Outcome eom(FlowFixture &f, const std::string &sender = "<alice@example.com>", const std::string &login = "alice") {
    MessageFlow m(f.cfg, f.backend, f.cache);
    if (m.mail_from(login, sender, "192.0.2.10")) return m.outcome();
    m.add_recipient();
    m.end_of_data("Q1");
    Outcome o = m.outcome();
    // whatever the flow produces, the metrics created its series at startup
    CHECK(possible_outcome(o.verdict, o.reason));
    return o;
}

bool same(Outcome a, MessageVerdict v, ReasonClass r) { return a.verdict == v && a.reason == r; }

/* exposition - the registry as Prometheus scrapes it */
std::string exposition(daemon::Metrics &m) {
    return prometheus::TextSerializer().Serialize(m.collect());
}

/* value - the sample of one series line ("name{labels}"), or -1 */
double value(const std::string &text, const std::string &series) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
    return -1;
}

}  // namespace

TEST_CASE("outcomes: verdict and reason class of each way a message ends", "[metrics][flow]") {
    FlowFixture f;
    SECTION("within limits, and a duplicate, are accepted") {
        CHECK(same(eom(f), MessageVerdict::accepted, ReasonClass::none));
        f.backend.result.response.verdict = Verdict::duplicate;
        CHECK(same(eom(f), MessageVerdict::accepted, ReasonClass::none));
    }
    SECTION("over a limit: refused, quota; with a 4xx reply template deferred, quota") {
        f.backend.result.response.verdict = Verdict::refused;
        f.backend.result.response.exceeded = Exceeded{"day", Metric::messages, 500, 500};
        CHECK(same(eom(f), MessageVerdict::refused, ReasonClass::quota));
        f.cfg.reply_quota = "451 4.7.1 %{adjective} limit reached";
        CHECK(same(eom(f), MessageVerdict::deferred, ReasonClass::quota));
    }
    SECTION("sender restrictions") {
        CHECK(same(eom(f, "<ceo@example.com>"), MessageVerdict::refused, ReasonClass::foreign_sender));
        CHECK(same(eom(f, "<>"), MessageVerdict::refused, ReasonClass::foreign_sender));
        CHECK(same(eom(f, "<a b@example.com>"), MessageVerdict::refused, ReasonClass::foreign_sender));
        f.backend.lookup.account.blocked = true;  // carol: not cached yet
        CHECK(same(eom(f, "<alice@example.com>", "carol"), MessageVerdict::refused, ReasonClass::blocked));
    }
    SECTION("deny lists") {
        f.cfg.deny_search_base = "ou=deny,dc=x";
        f.backend.lists->sender_domains = {"example.com"};
        CHECK(same(eom(f), MessageVerdict::refused, ReasonClass::deny_list));
    }
    SECTION("unauthenticated mail: passed untouched, or refused in a hosted domain") {
        CHECK(same(eom(f, "<x@elsewhere.org>", ""), MessageVerdict::accepted, ReasonClass::none));
        f.cfg.unauthenticated = Unauthenticated::refuse_hosted;
        f.cfg.hosted_domains = {"example.com"};
        CHECK(same(eom(f, "<alice@example.com>", ""), MessageVerdict::refused, ReasonClass::unauthenticated));
    }
    SECTION("failures: deferred by default, each with its class") {
        f.backend.lookup.status = DirStatus::unavailable;
        CHECK(same(eom(f), MessageVerdict::deferred, ReasonClass::directory_unavailable));
        f.backend.lookup.status = DirStatus::refused;
        CHECK(same(eom(f), MessageVerdict::deferred, ReasonClass::identity_refused));
        f.backend.lookup.status = DirStatus::not_found;
        CHECK(same(eom(f, "<m@example.com>", "mallory"), MessageVerdict::deferred, ReasonClass::unknown_account));
        f.cfg.on_unknown_account = FailAction::reject;
        CHECK(same(eom(f, "<m@example.com>", "mallory2"), MessageVerdict::refused, ReasonClass::unknown_account));
    }
    SECTION("a failure policy that accepts: uncounted, with the failure's class") {
        f.cfg.on_charge_error = FailAction::accept;
        f.backend.result.status = DirStatus::error;
        CHECK(same(eom(f), MessageVerdict::uncounted, ReasonClass::directory_error));
        f.cfg.on_directory_unavailable = FailAction::accept;
        f.backend.lookup.status = DirStatus::unavailable;
        CHECK(same(eom(f, "<alice@example.com>", "bob"), MessageVerdict::uncounted, ReasonClass::directory_unavailable));
    }
    SECTION("with stage = mail an uncounted message stays uncounted at end of data") {
        f.cfg.stage = Stage::mail;
        f.cfg.on_directory_unavailable = FailAction::accept;
        f.backend.lookup.status = DirStatus::unavailable;
        CHECK(same(eom(f), MessageVerdict::uncounted, ReasonClass::directory_unavailable));
        CHECK(f.backend.charges.empty());
    }
    SECTION("a relay host whose lookup failed and is accepted is uncounted, and marked so in the log") {
        f.cfg.relay_search_base = "ou=hosts,dc=x";
        f.cfg.on_directory_unavailable = FailAction::accept;
        f.backend.relay_lookup.status = DirStatus::unavailable;
        MessageFlow m(f.cfg, f.backend, f.cache);
        auto d = m.mail_from("", "<x@elsewhere.org>", "192.0.2.99");
        REQUIRE(d);
        CHECK(same(m.outcome(), MessageVerdict::uncounted, ReasonClass::directory_unavailable));
        CHECK_THAT(m.log_line(), Catch::Contains("UNCOUNTED"));
    }
}

TEST_CASE("possible outcomes: accepted only without a reason, uncounted only by a failure", "[metrics][flow]") {
    CHECK(possible_outcome(MessageVerdict::accepted, ReasonClass::none));
    CHECK_FALSE(possible_outcome(MessageVerdict::accepted, ReasonClass::quota));
    CHECK_FALSE(possible_outcome(MessageVerdict::refused, ReasonClass::none));
    CHECK(possible_outcome(MessageVerdict::uncounted, ReasonClass::directory_error));
    CHECK_FALSE(possible_outcome(MessageVerdict::uncounted, ReasonClass::quota));
    CHECK(possible_outcome(MessageVerdict::deferred, ReasonClass::bad_request));
    CHECK(outcome_of(Decision{Action::tempfail, {}, "x", ReasonClass::bad_request}, false).verdict ==
          MessageVerdict::deferred);
}

TEST_CASE("policy door: a message is counted once, however many requests it takes", "[metrics][policy]") {
    FlowFixture f;
    policy::PolicyMemory memory;
    auto request = [](const std::string &state, const std::string &instance, const std::string &sender) {
        policy::PolicyRequest r;
        r.attributes = {{"request", "smtpd_access_policy"}, {"protocol_state", state}, {"client_address", "192.0.2.10"},
                        {"sender", sender}, {"sasl_username", "alice"}, {"instance", instance},
                        {"queue_id", "4QxYz1abcdef"}, {"size", "100"}, {"recipient_count", "2"}};
        return r;
    };
    auto ask = [&](const policy::PolicyRequest &r) { return policy::answer(f.cfg, f.backend, f.cache, memory, r); };

    SECTION("a passing RCPT settles nothing; its END-OF-MESSAGE is the accepted message") {
        auto rcpt = ask(request("RCPT", "i1", "alice@example.com"));
        CHECK_FALSE(rcpt.outcome);
        CHECK_FALSE(rcpt.end_of_message);
        auto end = ask(request("END-OF-MESSAGE", "i1", "alice@example.com"));
        REQUIRE(end.outcome);
        CHECK(same(*end.outcome, MessageVerdict::accepted, ReasonClass::none));
        CHECK(end.end_of_message);
    }
    SECTION("refused at RCPT: counted at the first recipient only, not again at END-OF-MESSAGE") {
        auto first = ask(request("RCPT", "i2", "ceo@example.com"));
        REQUIRE(first.outcome);
        CHECK(same(*first.outcome, MessageVerdict::refused, ReasonClass::foreign_sender));
        CHECK_FALSE(ask(request("RCPT", "i2", "ceo@example.com")).outcome);
        auto end = ask(request("END-OF-MESSAGE", "i2", "ceo@example.com"));
        CHECK_FALSE(end.outcome);
        CHECK(end.end_of_message);  // its answer time is still an end of data
        CHECK_THAT(end.action, Catch::StartsWith("553"));
    }
    SECTION("a malformed request is deferred, bad_request") {
        auto r = request("END-OF-MESSAGE", "i3", "alice@example.com");
        r.attributes.erase("size");
        auto a = ask(r);
        REQUIRE(a.outcome);
        CHECK(same(*a.outcome, MessageVerdict::deferred, ReasonClass::bad_request));
        CHECK(f.backend.charges.empty());
    }
}

TEST_CASE("metrics_listen: ADDRESS:PORT, written out, numeric, off by default", "[metrics][config]") {
    Config c;
    REQUIRE(parse_config_text(kMinimal, c).empty());
    CHECK(c.metrics_listen.empty());
    REQUIRE(parse_config_text(kMinimal + "metrics_listen = 127.0.0.1:9479\n", c).empty());
    CHECK(c.metrics_listen == "127.0.0.1:9479");
    CHECK(parse_config_text(kMinimal + "metrics_listen = [::1]:9479\n", c).empty());
    // a non-loopback address, written explicitly, is allowed
    CHECK(parse_config_text(kMinimal + "metrics_listen = 192.0.2.7:9479\n", c).empty());
    for (const char *bad : {"9479", ":9479", "localhost:9479", "inet:127.0.0.1:9479", "9479@127.0.0.1",
                            "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "unix:/run/m.sock"}) {
        INFO(bad);
        Config d;
        auto errs = parse_config_text(kMinimal + "metrics_listen = " + bad + "\n", d);
        REQUIRE(errs.size() == 1);
        CHECK_THAT(errs[0].message, Catch::Contains("metrics_listen must be ADDRESS:PORT"));
    }
    Config d;
    auto clash = parse_config_text(kMinimal + "policy_listen = inet:127.0.0.1:9479\nmetrics_listen = 127.0.0.1:9479\n", d);
    REQUIRE(clash.size() == 1);
    CHECK_THAT(clash[0].message, Catch::Contains("port of policy_listen"));
    CHECK_THAT(parse_config_text(kMinimal + "metrics_listen = 0.0.0.0:8893\n", d).at(0).message,
               Catch::Contains("port of socket"));
}

TEST_CASE("loopback listen addresses", "[metrics][config]") {
    CHECK(parse_http_listen_address("127.0.0.1:9479")->loopback());
    CHECK(parse_http_listen_address("127.1.2.3:9479")->loopback());
    CHECK(parse_http_listen_address("[::1]:9479")->loopback());
    CHECK_FALSE(parse_http_listen_address("0.0.0.0:9479")->loopback());
    CHECK_FALSE(parse_http_listen_address("[::]:9479")->loopback());
    CHECK_FALSE(parse_http_listen_address("192.0.2.7:9479")->loopback());
}

TEST_CASE("the exposition: every family with HELP and TYPE, series at zero, counts where they belong",
          "[metrics][exposition]") {
    daemon::Metrics m;
    m.ldap_server("ldap://127.0.0.1:3890");
    std::string text = exposition(m);
    // every family is announced with both lines, before any sample
    std::regex type_line("# TYPE (tally_[a-z_]+) (counter|gauge|histogram)");
    int families = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) {
        ++families;
        INFO((*it)[1]);
        CHECK_THAT(text, Catch::Contains("# HELP " + (*it)[1].str() + " "));
    }
    CHECK(families == 13);
    for (const char *name : {"tally_messages_total", "tally_end_of_data_seconds", "tally_ldap_operations_total",
                             "tally_ldap_errors_total", "tally_ldap_failovers_total", "tally_ldap_unavailable_total",
                             "tally_account_cache_lookups_total", "tally_alerts_total", "tally_cancels_queued_total",
                             "tally_cancels_sent_total", "tally_cancels_lost_total", "tally_reloads_total",
                             "tally_configuration_loaded_timestamp_seconds"}) {
        INFO(name);
        CHECK_THAT(text, Catch::Contains("# TYPE " + std::string(name) + " "));
    }
    // the alert rules' series exist at zero before anything happened
    CHECK(value(text, R"(tally_messages_total{door="milter",reason="directory_error",verdict="uncounted"})") == 0);
    CHECK(value(text, R"(tally_messages_total{door="policy",reason="quota",verdict="refused"})") == 0);
    CHECK(value(text, R"(tally_ldap_errors_total{operation="connect",server="ldap://127.0.0.1:3890"})") == 0);
    // no series for pairs that cannot happen
    CHECK(value(text, R"(tally_messages_total{door="milter",reason="quota",verdict="accepted"})") == -1);

    m.message(daemon::Door::milter, {MessageVerdict::accepted, ReasonClass::none});
    m.message(daemon::Door::milter, {MessageVerdict::accepted, ReasonClass::none});
    m.message(daemon::Door::policy, {MessageVerdict::refused, ReasonClass::quota});
    m.end_of_data(daemon::Door::milter, 0.0007);
    m.end_of_data(daemon::Door::milter, 0.2);
    m.cache_lookup(true);
    m.cache_lookup(false);
    m.cache_lookup(false);
    m.alert(true, false);
    m.cancel_queued();
    m.cancel_lost(daemon::Metrics::CancelLoss::expired);
    m.reload(false);
    m.ldap_server("ldap://127.0.0.1:3890").search->Increment();  // the same series, not a second one
    text = exposition(m);
    CHECK(value(text, R"(tally_messages_total{door="milter",reason="none",verdict="accepted"})") == 2);
    CHECK(value(text, R"(tally_messages_total{door="policy",reason="quota",verdict="refused"})") == 1);
    CHECK(value(text, R"(tally_messages_total{door="policy",reason="none",verdict="accepted"})") == 0);
    CHECK(value(text, R"(tally_end_of_data_seconds_bucket{door="milter",le="0.001"})") == 1);
    CHECK(value(text, R"(tally_end_of_data_seconds_bucket{door="milter",le="0.005"})") == 1);
    CHECK(value(text, R"(tally_end_of_data_seconds_bucket{door="milter",le="0.25"})") == 2);
    CHECK(value(text, R"(tally_end_of_data_seconds_count{door="milter"})") == 2);
    CHECK(value(text, R"(tally_account_cache_lookups_total{result="hit"})") == 1);
    CHECK(value(text, R"(tally_account_cache_lookups_total{result="miss"})") == 2);
    CHECK(value(text, R"(tally_alerts_total{channel="mail",result="failed"})") == 1);
    CHECK(value(text, R"(tally_alerts_total{channel="command",result="sent"})") == 0);
    CHECK(value(text, R"(tally_cancels_queued_total)") == 1);
    CHECK(value(text, R"(tally_cancels_lost_total{cause="expired"})") == 1);
    CHECK(value(text, R"(tally_reloads_total{result="refused"})") == 1);
    CHECK(value(text, R"(tally_ldap_operations_total{operation="search",server="ldap://127.0.0.1:3890"})") == 1);
}
