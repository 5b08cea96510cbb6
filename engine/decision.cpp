// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy.cpp - sender restrictions, verdict replies, failure policy */
#include "decision.h"

#include "address.h"
#include "netmatch.h"

#include <sstream>

namespace tally::engine {

namespace {

/* clean - no control characters, no '%' (libmilter may treat it specially) */
std::string clean(std::string_view s, std::size_t max = 200) {
    std::string out;
    for (unsigned char ch : s) {
        if (out.size() >= max) break;
        out += (ch < ' ' || ch == 0x7f || ch == '%') ? '?' : static_cast<char>(ch);
    }
    return out;
}

}  // namespace

std::string_view action_name(Action a) {
    switch (a) {
    case Action::accept: return "accept";
    case Action::reject: return "reject";
    case Action::tempfail: return "tempfail";
    }
    return "?";
}

Reply format_reply(const std::string &tmpl, const std::map<std::string, std::string> &values) {
    std::string filled;
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] == '%' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
            auto end = tmpl.find('}', i);
            if (end != std::string::npos) {
                auto it = values.find(tmpl.substr(i + 2, end - i - 2));
                if (it != values.end()) filled += clean(it->second);
                i = end;
                continue;
            }
        }
        filled += tmpl[i];
    }
    Reply r;
    std::istringstream in(filled);
    in >> r.code >> r.xcode;
    std::getline(in, r.text);
    while (!r.text.empty() && r.text.front() == ' ') r.text.erase(0, 1);
    r.text = clean(r.text, 400);
    return r;
}

Decision check_sender(const Config &c, const Account &a, std::string_view login, std::string_view sender) {
    Decision d;
    if (a.blocked || a.inactive) {
        d.action = Action::reject;
        d.reason = a.blocked ? "account blocked" : "account not active";
        d.reply = format_reply(c.reply_blocked, {{"login", std::string(login)}});
        if (!a.blocked_text.empty()) d.reply.text = clean(a.blocked_text, 400);
        return d;
    }
    if (sender.empty()) {
        if (c.null_sender_allowed) return d;
        d.action = Action::reject;
        d.reason = "null sender";
        d.reply = format_reply(c.reply_foreign_sender, {{"sender", ""}, {"login", std::string(login)}});
        return d;
    }
    if (!owns_address(a.addresses, sender, c.detail_delimiter)) {
        d.action = Action::reject;
        d.reason = "sender not owned by the login";
        d.reply = format_reply(c.reply_foreign_sender, {{"sender", std::string(sender)}, {"login", std::string(login)}});
    }
    return d;
}

std::optional<std::string> denied(const DenyLists &lists, std::string_view sender, std::string_view client) {
    std::string domain = domain_of(sender);
    if (!domain.empty()) {
        for (const auto &d : lists.sender_domains) {
            std::string want = canonical_address(d, "");
            if (domain == want || (domain.size() > want.size() && domain.ends_with("." + want)))
                return "sender domain " + want;
        }
    }
    if (!client.empty())
        for (const auto &n : lists.networks)
            if (prefix_match(client, n, "")) return "client network " + n;
    return std::nullopt;
}

std::string window_adjective(std::string_view w) {
    if (w == "hour") return "hourly";
    if (w == "day") return "daily";
    if (w == "week") return "weekly";
    if (w == "month") return "monthly";
    return std::string(w);
}

Decision decide_charge(const ChargeResponse &r, const std::string &quota_template) {
    Decision d;
    if (r.verdict != Verdict::refused) return d;
    d.action = Action::reject;
    if (r.exceeded) {
        const Exceeded &x = *r.exceeded;
        d.reason = describe_exceeded(x);
        d.reply = format_reply(quota_template, {{"window", x.window},
                                               {"adjective", window_adjective(x.window)},
                                               {"metric", std::string(metric_name(x.metric))},
                                               {"limit", std::to_string(x.limit)},
                                               {"usage", std::to_string(x.usage)}});
    } else {
        d.reason = "limit reached";
        d.reply = format_reply(quota_template, {});
    }
    if (d.reply.code.starts_with("4")) d.action = Action::tempfail;  // defer, as for relay hosts
    return d;
}

Decision on_failure(const Config &c, FailAction a, std::string reason) {
    Decision d;
    d.reason = std::move(reason);
    switch (a) {
    case FailAction::accept: d.action = Action::accept; break;
    case FailAction::tempfail:
        d.action = Action::tempfail;
        d.reply = format_reply(c.reply_tempfail, {});
        break;
    case FailAction::reject:
        d.action = Action::reject;
        d.reply = format_reply(c.reply_reject, {});
        break;
    }
    return d;
}

std::string usage_summary(const ChargeResponse &r) {
    std::string s;
    for (const WindowReport &w : r.windows) {
        if (!s.empty()) s += ", ";
        const auto &lim = w.limits[static_cast<int>(Metric::messages)];
        s += w.window + " " + std::to_string(w.usage[Metric::messages]) + "/" +
             (lim ? std::to_string(*lim) : std::string("unlimited")) + " messages";
    }
    return s;
}

}  // namespace tally::engine
