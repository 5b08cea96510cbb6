// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Limit alerts: which replies raise one, and the texts an administrator gets
// (log line, command environment, mail), with hostile values kept on one line.
#include "alert.h"
#include "message_flow.h"
#include "config.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace tally;
using namespace tally::engine;

namespace {

ChargeResponse refused_first() {
    ChargeResponse r;
    r.verdict = Verdict::refused;
    r.exceeded = Exceeded{"day", Metric::messages, 2, 2};
    r.first_hit = true;
    WindowReport w;
    w.window = "day";
    w.period = "2026-11-22";
    r.windows.push_back(w);
    return r;
}

bool has(const std::vector<std::string> &v, const std::string &s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("only a first-hit reply raises an alert", "[alert]") {
    auto a = limit_alert(refused_first());
    REQUIRE(a);
    CHECK(a->window == "day");
    CHECK(a->period == "2026-11-22");
    CHECK(a->limit == 2);
    CHECK(a->refused);
    ChargeResponse later = refused_first();
    later.first_hit = false;
    CHECK_FALSE(limit_alert(later));
    ChargeResponse accepted;
    CHECK_FALSE(limit_alert(accepted));
}

TEST_CASE("alert texts name the account, window, limit and message", "[alert]") {
    LimitAlert a = *limit_alert(refused_first());
    a.account = "uid=alice,ou=people,dc=example,dc=com";
    a.login = "alice@example.com";
    a.sender = "alice@example.com";
    a.client = "127.0.0.1";
    a.queue_id = "4XbT2c1NqVz";
    std::string line = alert_log_line(a);
    CHECK(line.find("limit reached: account=\"uid=alice,ou=people,dc=example,dc=com\"") == 0);
    CHECK(line.find("window=day period=2026-11-22 metric=messages limit=2 usage=2 qid=4XbT2c1NqVz") !=
          std::string::npos);

    auto env = alert_environment(a);
    CHECK(has(env, "TALLY_ACCOUNT=uid=alice,ou=people,dc=example,dc=com"));
    CHECK(has(env, "TALLY_LOGIN=alice@example.com"));
    CHECK(has(env, "TALLY_WINDOW=day"));
    CHECK(has(env, "TALLY_PERIOD=2026-11-22"));
    CHECK(has(env, "TALLY_METRIC=messages"));
    CHECK(has(env, "TALLY_LIMIT=2"));
    CHECK(has(env, "TALLY_USAGE=2"));
    CHECK(has(env, "TALLY_REFUSED=yes"));

    std::string mail = alert_mail(a, "tally@example.com", "postmaster@example.com");
    CHECK(mail.find("From: tally@example.com\nTo: postmaster@example.com\n") == 0);
    CHECK(mail.find("Subject: Tally: alice@example.com reached the daily limit of 2 messages\n") != std::string::npos);
    CHECK(mail.find("Auto-Submitted: auto-generated\n") != std::string::npos);
    CHECK(mail.find("\n\n") != std::string::npos);
}

TEST_CASE("hostile values cannot add header lines or log lines", "[alert]") {
    LimitAlert a = *limit_alert(refused_first());
    a.login = "eve\r\nBcc: victim@example.org";
    a.sender = "x\n";
    std::string mail = alert_mail(a, "", "postmaster@example.com");
    std::string headers = mail.substr(0, mail.find("\n\n"));
    CHECK(headers.find("\nBcc:") == std::string::npos);
    CHECK(headers.find("From:") == std::string::npos);  // none configured: sendmail's default
    CHECK(alert_log_line(a).find('\n') == std::string::npos);
    for (const auto &e : alert_environment(a)) CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("alert options are checked", "[alert][config]") {
    const std::string base = "search_base = dc=example,dc=com\n";
    Config c;
    CHECK(parse_config_text(base + "alert_mail_to = postmaster@example.com\nalert_command = logger -t tally\n"
                                   "alert_timeout = 5\n",
                            c)
              .empty());
    CHECK(c.alert_mail_to == "postmaster@example.com");
    CHECK(c.alert_sendmail == "/usr/sbin/sendmail");
    CHECK(c.alert_timeout == 5);
    for (const char *bad : {"alert_mail_to = postmaster\n", "alert_mail_to = -oQ/tmp@x\n",
                            "alert_mail_to = a@b c@d\n", "alert_timeout = 0\n",
                            "alert_mail_to = a@b\nalert_sendmail = sendmail\n"}) {
        Config d;
        CHECK_FALSE(parse_config_text(base + bad, d).empty());
    }
}
