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

std::string_view reason_class_name(ReasonClass r) {
    switch (r) {
    case ReasonClass::none: return "none";
    case ReasonClass::quota: return "quota";
    case ReasonClass::blocked: return "blocked";
    case ReasonClass::foreign_sender: return "foreign_sender";
    case ReasonClass::deny_list: return "deny_list";
    case ReasonClass::unauthenticated: return "unauthenticated";
    case ReasonClass::unknown_account: return "unknown_account";
    case ReasonClass::directory_unavailable: return "directory_unavailable";
    case ReasonClass::identity_refused: return "identity_refused";
    case ReasonClass::directory_error: return "directory_error";
    case ReasonClass::bad_request: return "bad_request";
    }
    return "?";
}

std::string_view verdict_name(MessageVerdict v) {
    switch (v) {
    case MessageVerdict::accepted: return "accepted";
    case MessageVerdict::refused: return "refused";
    case MessageVerdict::deferred: return "deferred";
    case MessageVerdict::uncounted: return "uncounted";
    }
    return "?";
}

Outcome outcome_of(const Decision &d, bool uncounted) {
    switch (d.action) {
    // an accept that carries a failure class was let through by a failure policy: never charged
    case Action::accept:
        return {uncounted || d.reason_class != ReasonClass::none ? MessageVerdict::uncounted : MessageVerdict::accepted,
                d.reason_class};
    case Action::reject: return {MessageVerdict::refused, d.reason_class};
    case Action::tempfail: break;
    }
    return {MessageVerdict::deferred, d.reason_class};
}

bool possible_outcome(MessageVerdict v, ReasonClass r) {
    const bool failure = r == ReasonClass::unknown_account || r == ReasonClass::directory_unavailable ||
                         r == ReasonClass::identity_refused || r == ReasonClass::directory_error;
    switch (v) {
    case MessageVerdict::accepted: return r == ReasonClass::none;
    // a failure policy may answer accept (uncounted), reject or tempfail
    case MessageVerdict::uncounted: return failure;
    // every restriction refuses; a 4xx reply template (reply_quota_relay, or
    // a configured one) defers instead, and so does a bad policy request
    case MessageVerdict::refused: return r != ReasonClass::none && r != ReasonClass::bad_request;
    case MessageVerdict::deferred: return r != ReasonClass::none;
    }
    return false;
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
        d.reason_class = ReasonClass::blocked;
        d.reason = a.blocked ? "account blocked" : "account not active";
        d.reply = format_reply(c.reply_blocked, {{"login", std::string(login)}});
        if (!a.blocked_text.empty()) d.reply.text = clean(a.blocked_text, 400);
        return d;
    }
    if (sender.empty()) {
        if (c.null_sender_allowed) return d;
        d.action = Action::reject;
        d.reason_class = ReasonClass::foreign_sender;
        d.reason = "null sender";
        d.reply = format_reply(c.reply_foreign_sender, {{"sender", ""}, {"login", std::string(login)}});
        return d;
    }
    if (!owns_address(a.addresses, sender, c.detail_delimiter)) {
        d.action = Action::reject;
        d.reason_class = ReasonClass::foreign_sender;
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
    if (r.verdict != tally::Verdict::refused) return d;
    d.action = Action::reject;
    d.reason_class = ReasonClass::quota;
    if (r.exceeded) {
        const Exceeded &x = *r.exceeded;
        d.reason = describe_refusal(r);
        d.reply = format_reply(quota_template, {{"window", x.window},
                                               {"adjective", window_adjective(x.window)},
                                               {"metric", x.metric == Metric::externalRecipients
                                                              ? std::string("external recipients")
                                                              : std::string(metric_name(x.metric))},
                                               {"limit", std::to_string(x.limit)},
                                               {"usage", std::to_string(x.usage)},
                                               {"level", std::string(level_name(x.level))},
                                               {"aggregate", r.aggregate_dn}});
    } else {
        d.reason = "limit reached";
        d.reply = format_reply(quota_template, {});
    }
    if (d.reply.code.starts_with("4")) d.action = Action::tempfail;  // defer, as for relay hosts
    return d;
}

Decision on_failure(const Config &c, FailAction a, std::string reason, ReasonClass cls) {
    Decision d;
    d.reason = std::move(reason);
    d.reason_class = cls;
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
