// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_flow.cpp - lookups, restrictions, charge and failure policy for one message */
#include "message_flow.h"

#include "address.h"
#include "counter.h"

namespace tally::milter {

namespace {
/* quoted - a value for the log line, without control characters */
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s.substr(0, 300)) {
        if (ch < ' ' || ch == 0x7f) out += "\\x" + std::string(1, "0123456789abcdef"[ch >> 4]) + "0123456789abcdef"[ch & 15];
        else if (ch == '"' || ch == '\\') out += std::string("\\") + static_cast<char>(ch);
        else out += static_cast<char>(ch);
    }
    return out + "\"";
}
}  // namespace

std::optional<Decision> MessageFlow::mail_from(const std::string &login, const std::string &raw_sender,
                                               const std::string &client) {
    login_ = login;
    raw_sender_ = raw_sender;
    client_ = client;
    queue_id_.clear();
    decision_ = Decision{};
    recipients_ = 0;
    bytes_ = 0;
    account_.reset();
    usage_.reset();
    uncounted_ = false;
    auto parsed = parse_envelope_address(raw_sender);
    sender_ok_ = parsed.has_value();
    sender_ = parsed.value_or(raw_sender);
    relay_ = false;
    if (login_.empty()) {
        if (auto d = unauthenticated()) return finish(*d);
        return std::nullopt;  // a relay host: charged at end of data
    }
    if (c_.stage == Stage::mail) {
        if (auto d = restrictions()) return finish(*d);
    }
    return std::nullopt;
}

std::optional<Decision> MessageFlow::deny_lists() {
    if (c_.deny_search_base.empty()) return std::nullopt;
    std::string error;
    auto lists = b_.deny_lists(&error);
    if (!lists) {
        Decision d = on_failure(c_, c_.on_directory_unavailable, "directory unavailable: " + error);
        if (d.action == Action::accept) return std::nullopt;
        return d;
    }
    if (auto what = denied(*lists, sender_, client_))
        return Decision{Action::reject, format_reply(c_.reply_denied, {{"what", *what}}), "deny list: " + *what};
    return std::nullopt;
}

std::optional<Decision> MessageFlow::unauthenticated() {
    if (auto d = deny_lists()) return d;
    if (!sender_ok_) return Decision{Action::accept, {}, "not authenticated"};
    if (c_.unauthenticated == Unauthenticated::refuse_hosted && !sender_.empty()) {
        std::string domain = domain_of(sender_);
        for (const auto &d : c_.hosted_domains)
            if (d == domain)
                return Decision{Action::reject, format_reply(c_.reply_unauthenticated, {{"sender", sender_}}),
                                "unauthenticated sender in a hosted domain"};
    }
    if (c_.unauthenticated == Unauthenticated::lookup && !sender_.empty()) {
        LookupResult r = b_.find_sender(sender_);
        if (r.status == DirStatus::unavailable || r.status == DirStatus::error) {
            Decision d = on_failure(c_, c_.on_directory_unavailable, "directory unavailable: " + r.error);
            if (d.action != Action::accept) return d;
        } else if (r.status == DirStatus::ok && (r.account.blocked || r.account.inactive)) {
            Decision d = check_sender(c_, r.account, "", sender_);
            d.reason = "unauthenticated sender of a blocked account";
            return d;
        }
    }
    if (!c_.relay_search_base.empty() && !client_.empty()) {
        std::string key = "relay " + client_;
        if (auto cached = cache_.get(key)) {
            if (cached->found) account_ = cached->account;
        } else {
            LookupResult r = b_.find_relay(client_);
            if (r.status == DirStatus::ok || r.status == DirStatus::not_found) {
                cache_.put(key, {r.status == DirStatus::ok, r.account});
                if (r.status == DirStatus::ok) account_ = r.account;
            } else {
                return on_failure(c_, c_.on_directory_unavailable, "directory unavailable: " + r.error);
            }
        }
        if (account_) {
            relay_ = true;
            return std::nullopt;
        }
    }
    return Decision{Action::accept, {}, "not authenticated"};
}

std::optional<Decision> MessageFlow::find_account() {
    if (account_) return std::nullopt;
    if (login_.size() > kMaxLogin) return on_failure(c_, c_.on_unknown_account, "login too long; no such account");
    if (auto cached = cache_.get(login_)) {
        if (!cached->found) return on_failure(c_, c_.on_unknown_account, "unknown account (cached)");
        account_ = cached->account;
        return std::nullopt;
    }
    LookupResult r = b_.find_account(login_);
    switch (r.status) {
    case DirStatus::ok:
        cache_.put(login_, {true, r.account});
        account_ = r.account;
        return std::nullopt;
    case DirStatus::not_found:
        cache_.put(login_, {false, {}});
        return on_failure(c_, c_.on_unknown_account, "unknown account");
    case DirStatus::unavailable:
        return on_failure(c_, c_.on_directory_unavailable, "directory unavailable: " + r.error);
    case DirStatus::error: break;
    }
    return on_failure(c_, c_.on_directory_unavailable, "directory error: " + r.error);
}

std::optional<Decision> MessageFlow::restrictions() {
    if (auto d = deny_lists()) return d;
    if (auto failed = find_account()) {
        if (failed->action == Action::accept) uncounted_ = true;
        return failed;
    }
    if (!sender_ok_) {
        Decision d{Action::reject, format_reply(c_.reply_foreign_sender, {{"sender", raw_sender_}, {"login", login_}}),
                   "malformed sender address"};
        return d;
    }
    Decision d = check_sender(c_, *account_, login_, sender_);
    if (d.action != Action::accept) return d;
    return std::nullopt;
}

Decision MessageFlow::end_of_data(const std::string &queue_id) {
    queue_id_ = queue_id;
    if (relay_) return finish(charge());
    if (login_.empty()) return finish(Decision{Action::accept, {}, "not authenticated"});
    // With stage = mail they already passed at MAIL FROM (a refusal ends the message there).
    if (c_.stage == Stage::eom) {
        if (auto d = restrictions()) return finish(*d);
    } else if (!account_) {
        return finish(decision_);  // a failure policy let it through at MAIL FROM: uncounted
    }
    return finish(charge());
}

Decision MessageFlow::charge() {
    ChargeRequest req;
    req.account = account_->dn;
    req.messages = 1;
    req.recipients = recipients_;
    req.bytes = bytes_;
    req.charge_id = valid_charge_id(queue_id_) ? queue_id_ : "";
    ChargeResult r = b_.charge(req);
    if (r.status != DirStatus::ok) {
        Decision d = on_failure(c_, r.status == DirStatus::unavailable ? c_.on_directory_unavailable : c_.on_charge_error,
                                r.error);
        if (d.action == Action::accept) {
            uncounted_ = true;
        } else if (r.outcome_unknown && !req.charge_id.empty()) {
            // slapd may have counted it before the answer was lost (or may
            // still, after a hang): the message is refused, so it must not count.
            b_.cancel_later(req);
            cancel_pending_ = true;
        }
        return d;
    }
    usage_ = r.response;
    Decision d = decide_charge(r.response, relay_ ? c_.reply_quota_relay : c_.reply_quota);
    if (d.action == Action::accept)
        d.reason = r.response.verdict == Verdict::duplicate ? "already counted (same queue id)" : "within limits";
    if (relay_) d.reason = "relay host " + account_->dn + ": " + d.reason;
    return d;
}

Decision MessageFlow::finish(Decision d) {
    decision_ = std::move(d);
    return decision_;
}

std::optional<LimitAlert> MessageFlow::alert() const {
    if (!usage_ || !account_) return std::nullopt;
    auto a = limit_alert(*usage_);
    if (!a) return std::nullopt;
    a->account = account_->dn;
    a->login = login_;
    a->sender = sender_;
    a->client = client_;
    a->queue_id = queue_id_;
    return a;
}

std::string MessageFlow::log_line() const {
    std::string s = "qid=" + (queue_id_.empty() ? std::string("-") : queue_id_) + " login=" + quoted(login_) +
                    " client=" + (client_.empty() ? std::string("-") : client_) + " from=<" + sender_ + ">" +
                    " rcpts=" + std::to_string(recipients_) + " bytes=" + std::to_string(bytes_) +
                    " verdict=" + std::string(action_name(decision_.action)) + " reason=" + quoted(decision_.reason);
    if (!decision_.reply.code.empty())
        s += " reply=" + quoted(decision_.reply.code + " " + decision_.reply.xcode + " " + decision_.reply.text);
    if (usage_) s += " usage=" + quoted(usage_summary(*usage_));
    if (uncounted_) s += " UNCOUNTED";
    if (cancel_pending_) s += " cancel=pending";
    return s;
}

}  // namespace tally::milter
