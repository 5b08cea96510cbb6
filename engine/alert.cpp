// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* alert.cpp - log line, command environment and mail text of a limit alert */
#include "alert.h"

#include "decision.h"

namespace tally::engine {

namespace {

/* one_line - values come from SMTP clients and the directory: no control
 * characters may reach a header, an environment entry or a log line */
std::string one_line(const std::string &s) {
    std::string out;
    for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    return out;
}

std::string who(const LimitAlert &a) { return one_line(a.login.empty() ? a.account : a.login); }

std::string what(const LimitAlert &a) {
    if (a.warning)
        return window_adjective(a.window) + " warning threshold of " + std::to_string(a.threshold) + " " +
               std::string(metric_name(a.metric));
    return window_adjective(a.window) + (a.aggregate.empty() ? "" : " aggregate") + " limit of " + std::to_string(a.limit) + " " +
           std::string(metric_name(a.metric));
}

}  // namespace

namespace {

std::optional<LimitAlert> warning_alert(const ChargeResponse &r) {
    if (!r.warning) return std::nullopt;
    LimitAlert a;
    a.warning = true;
    a.refused = false;
    a.window = r.warning->window;
    a.metric = r.warning->metric;
    a.threshold = r.warning->threshold;
    a.usage = r.warning->usage;
    a.unlimited = !r.warning->limit;
    a.limit = r.warning->limit.value_or(0);
    for (const WindowReport &w : r.windows)
        if (w.window == a.window) a.period = w.period;
    return a;
}

std::string limit_text(const LimitAlert &a) { return a.unlimited ? "unlimited" : std::to_string(a.limit); }

}  // namespace

std::optional<LimitAlert> limit_alert(const ChargeResponse &r) {
    if (!r.first_hit || !r.exceeded) return warning_alert(r);
    LimitAlert a;
    a.window = r.exceeded->window;
    a.metric = r.exceeded->metric;
    a.limit = r.exceeded->limit;
    a.usage = r.exceeded->usage;
    a.refused = r.verdict == Verdict::refused;
    const bool aggregate = r.exceeded->level == Level::aggregate;
    if (aggregate) a.aggregate = r.aggregate_dn.empty() ? "?" : r.aggregate_dn;
    for (const WindowReport &w : aggregate ? r.aggregate_windows : r.windows)
        if (w.window == a.window) a.period = w.period;
    return a;
}

std::string alert_log_line(const LimitAlert &a) {
    if (a.warning)
        return "warning threshold reached: account=\"" + one_line(a.account) + "\" login=\"" + one_line(a.login) +
               "\" window=" + one_line(a.window) + " period=" + one_line(a.period) +
               " metric=" + std::string(metric_name(a.metric)) + " threshold=" + std::to_string(a.threshold) +
               " usage=" + std::to_string(a.usage) + " limit=" + limit_text(a) +
               " qid=" + (a.queue_id.empty() ? "-" : one_line(a.queue_id)) +
               " (message accepted; alerted once this period)";
    return "limit reached: account=\"" + one_line(a.account) + "\" login=\"" + one_line(a.login) +
           "\" window=" + one_line(a.window) + " period=" + one_line(a.period) +
           " metric=" + std::string(metric_name(a.metric)) + " limit=" + std::to_string(a.limit) +
           " usage=" + std::to_string(a.usage) +
           (a.aggregate.empty() ? "" : " level=aggregate aggregate=\"" + one_line(a.aggregate) + "\"") + " qid=" + (a.queue_id.empty() ? "-" : one_line(a.queue_id)) +
           (a.refused ? " (first refusal this period; later ones are not alerted)"
                      : " (counted anyway: accounting only; alerted once this period)");
}

std::vector<std::string> alert_environment(const LimitAlert &a) {
    return {"TALLY_ACCOUNT=" + one_line(a.account),   "TALLY_LOGIN=" + one_line(a.login),
            "TALLY_SENDER=" + one_line(a.sender),     "TALLY_CLIENT=" + one_line(a.client),
            "TALLY_QUEUE_ID=" + one_line(a.queue_id), "TALLY_WINDOW=" + one_line(a.window),
            "TALLY_PERIOD=" + one_line(a.period),     "TALLY_METRIC=" + std::string(metric_name(a.metric)),
            "TALLY_LIMIT=" + limit_text(a),          "TALLY_USAGE=" + std::to_string(a.usage),
            std::string("TALLY_REFUSED=") + (a.refused ? "yes" : "no"),
            std::string("TALLY_LEVEL=") + (a.aggregate.empty() ? "account" : "aggregate"),
            "TALLY_AGGREGATE=" + one_line(a.aggregate),
            std::string("TALLY_ALERT=") + (a.warning ? "warning" : "limit"),
            "TALLY_THRESHOLD=" + (a.warning ? std::to_string(a.threshold) : std::string())};
}

std::string alert_mail(const LimitAlert &a, const std::string &from, const std::string &to) {
    std::string m;
    if (!from.empty()) m += "From: " + one_line(from) + "\n";
    m += "To: " + one_line(to) + "\n";
    m += "Subject: Tally: " + who(a) + " reached the " + what(a) + "\n";
    m += "Auto-Submitted: auto-generated\n";
    m += "Content-Type: text/plain; charset=utf-8\n\n";
    m += who(a) + " reached the " + what(a) + " (" + one_line(a.window) + " " + one_line(a.period) + ").\n\n";
    m += "account:  " + one_line(a.account) + "\n";
    if (!a.aggregate.empty())
        m += "aggregate: " + one_line(a.aggregate) + " (the limit is shared by all its accounts)\n";
    if (!a.login.empty()) m += "login:    " + one_line(a.login) + "\n";
    if (a.warning)
        m += "usage:    " + std::to_string(a.usage) + " " + std::string(metric_name(a.metric)) +
             " with the message; the limit is " + limit_text(a) + "\n";
    else
        m += "usage:    " + std::to_string(a.usage) + " " + std::string(metric_name(a.metric)) + " before the message\n";
    m += "message:  queue id " + (a.queue_id.empty() ? std::string("-") : one_line(a.queue_id)) + ", from <" +
         one_line(a.sender) + ">, client " + (a.client.empty() ? std::string("-") : one_line(a.client)) + "\n";
    if (a.warning) {
        m += "\nThe message was accepted: a warning threshold refuses nothing. Messages are refused only "
             "at the limit. You get this mail once per account, window and period.\n";
        return m;
    }
    m += a.refused ? "\nThis message was refused, and so will be every message over the limit until the "
                     "period ends or an administrator resets the counters (tallyctl reset). You get this "
                     "mail once per account, window and period.\n"
                   : "\nThe message was counted anyway (accounting only). You get this mail once per "
                     "account, window and period.\n";
    return m;
}

}  // namespace tally::engine
