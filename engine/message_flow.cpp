// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_flow.cpp - lookups, restrictions, charge and failure policy for one message */
#include "message_flow.h"

#include "address.h"
#include "counter.h"

namespace tally::engine {

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

void MessageFlow::mail_from_facts(const std::string &login, const std::string &raw_sender, const std::string &client) {
    m_ = Message{};
    m_.login = login;
    m_.raw_sender = raw_sender;
    m_.client = client;
    auto parsed = parse_envelope_address(raw_sender);
    m_.sender_ok = parsed.has_value();
    m_.sender = parsed.value_or(raw_sender);
}

std::optional<Decision> MessageFlow::mail_from(const std::string &login, const std::string &raw_sender,
                                               const std::string &client) {
    mail_from_facts(login, raw_sender, client);
    if (m_.login.empty()) {
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
    DenyListsResult lists = b_.deny_lists();
    if (lists.status != DirStatus::ok) {
        Decision d = directory_failure(lists.status, lists.error, c_.on_directory_unavailable);
        if (d.action == Action::accept) return std::nullopt;
        return d;
    }
    if (auto what = denied(lists.lists, m_.sender, m_.client))
        return Decision{Action::reject, format_reply(c_.reply_denied, {{"what", *what}}), "deny list: " + *what,
                        ReasonClass::deny_list};
    return std::nullopt;
}

std::optional<Decision> MessageFlow::unauthenticated() {
    if (auto d = deny_lists()) return d;
    if (!m_.sender_ok) return Decision{Action::accept, {}, "not authenticated"};
    if (c_.unauthenticated == Unauthenticated::refuse_hosted && !m_.sender.empty()) {
        std::string domain = domain_of(m_.sender);
        for (const auto &d : c_.hosted_domains)
            if (d == domain)
                return Decision{Action::reject, format_reply(c_.reply_unauthenticated, {{"sender", m_.sender}}),
                                "unauthenticated sender in a hosted domain", ReasonClass::unauthenticated};
    }
    if (c_.unauthenticated == Unauthenticated::lookup && !m_.sender.empty()) {
        LookupResult r = b_.find_sender(m_.sender);
        if (r.status != DirStatus::ok && r.status != DirStatus::not_found) {
            Decision d = directory_failure(r.status, r.error, c_.on_directory_unavailable);
            if (d.action != Action::accept) return d;
        } else if (r.status == DirStatus::ok && (r.account.blocked || r.account.inactive)) {
            Decision d = check_sender(c_, r.account, "", m_.sender);
            d.reason = "unauthenticated sender of a blocked account";
            return d;
        }
    }
    if (!c_.relay_search_base.empty() && !m_.client.empty()) {
        std::string key = "relay " + m_.client;
        if (auto cached = cache_.get(key)) {
            if (cached->found) m_.account = cached->account;
        } else {
            LookupResult r = b_.find_relay(m_.client);
            if (r.status == DirStatus::ok || r.status == DirStatus::not_found) {
                cache_.put(key, {r.status == DirStatus::ok, r.account});
                if (r.status == DirStatus::ok) m_.account = r.account;
            } else {
                // accepted by the failure policy, the relay host's message is not charged
                Decision d = directory_failure(r.status, r.error, c_.on_directory_unavailable);
                if (d.action == Action::accept) m_.uncounted = true;
                return d;
            }
        }
        if (m_.account) {
            m_.relay = true;
            return std::nullopt;
        }
    }
    return Decision{Action::accept, {}, "not authenticated"};
}

std::optional<Decision> MessageFlow::find_account() {
    if (m_.account) return std::nullopt;
    if (m_.login.size() > kMaxLogin)
        return on_failure(c_, c_.on_unknown_account, "login too long; no such account", ReasonClass::unknown_account);
    if (auto cached = cache_.get(m_.login)) {
        if (!cached->found)
            return on_failure(c_, c_.on_unknown_account, "unknown account (cached)", ReasonClass::unknown_account);
        m_.account = cached->account;
        return std::nullopt;
    }
    LookupResult r = b_.find_account(m_.login);
    switch (r.status) {
    case DirStatus::ok:
        cache_.put(m_.login, {true, r.account});
        m_.account = r.account;
        return std::nullopt;
    case DirStatus::not_found:
        cache_.put(m_.login, {false, {}});
        return on_failure(c_, c_.on_unknown_account, "unknown account", ReasonClass::unknown_account);
    case DirStatus::unavailable:
    case DirStatus::refused:
    case DirStatus::error: break;
    }
    return directory_failure(r.status, r.error, c_.on_directory_unavailable);
}

std::optional<Decision> MessageFlow::restrictions() {
    if (auto d = deny_lists()) return d;
    if (auto failed = find_account()) {
        if (failed->action == Action::accept) m_.uncounted = true;
        return failed;
    }
    if (!m_.sender_ok) {
        Decision d{Action::reject, format_reply(c_.reply_foreign_sender, {{"sender", m_.raw_sender}, {"login", m_.login}}),
                   "malformed sender address", ReasonClass::foreign_sender};
        return d;
    }
    Decision d = check_sender(c_, *m_.account, m_.login, m_.sender);
    if (d.action != Action::accept) return d;
    return std::nullopt;
}

Decision MessageFlow::end_of_data(const std::string &queue_id) {
    m_.queue_id = queue_id;
    if (m_.relay) return finish(charge());
    if (m_.login.empty()) return finish(Decision{Action::accept, {}, "not authenticated"});
    // With stage = mail they already passed at MAIL FROM (a refusal ends the message there).
    if (c_.stage == Stage::eom) {
        if (auto d = restrictions()) return finish(*d);
    } else if (!m_.account) {
        return finish(m_.decision);  // a failure policy let it through at MAIL FROM: uncounted
    }
    return finish(charge());
}

Decision MessageFlow::sender_check(const std::string &login, const std::string &raw_sender,
                                   const std::string &client) {
    mail_from_facts(login, raw_sender, client);
    if (m_.login.empty()) {
        if (auto d = unauthenticated()) return finish(*d);
        return finish(Decision{Action::accept, {}, "relay host " + m_.account->dn + ": charged at end of message"});
    }
    if (auto d = restrictions()) return finish(*d);
    return finish(Decision{Action::accept, {}, "sender restrictions passed"});
}

Decision MessageFlow::whole_message(const Facts &f) {
    if (auto d = mail_from(f.login, f.raw_sender, f.client)) {
        m_.queue_id = f.queue_id;
        return *d;
    }
    m_.recipients = f.recipients;
    m_.bytes = f.bytes;
    m_.seen = f.recipient_addresses;
    return end_of_data(f.queue_id);
}

std::optional<Decision> MessageFlow::classify(ChargeRequest &req) {
    req.recipients = m_.recipients;
    // Bounces: by option only (README: a null sender is trivially forged).
    if (c_.exempt_null_sender && m_.sender_ok && m_.sender.empty()) {
        m_.exemption = "null sender (exempt_null_sender)";
        return Decision{Action::accept, {}, "exempt: null sender (bounce); not charged"};
    }
    const bool external = !c_.hosted_domain_search_base.empty();
    const bool exempting = !c_.exempt_search_base.empty();
    if (!external && !exempting) return std::nullopt;
    // A failure answers by the failure policy; accepted, the message passes
    // uncounted (it cannot be counted right).
    auto failed = [&](DirStatus st, const std::string &error) {
        Decision d = directory_failure(st, error, c_.on_directory_unavailable);
        if (d.action == Action::accept) m_.uncounted = true;
        return d;
    };
    HostedDomains hosted(c_.hosted_domains.begin(), c_.hosted_domains.end());
    std::shared_ptr<const HostedDomains> from_directory;
    if (external) {
        HostedDomainsResult h = b_.hosted_domains();
        if (h.status != DirStatus::ok || !h.domains) return failed(h.status, "hosted domains: " + h.error);
        from_directory = h.domains;
    }
    const HostedDomains &set = hosted.empty() && from_directory ? *from_directory : hosted;
    if (from_directory && !hosted.empty()) hosted.insert(from_directory->begin(), from_directory->end());
    static const Exemptions kNone;
    std::shared_ptr<const Exemptions> ex;
    if (exempting) {
        ExemptionsResult e = b_.exemptions();
        if (e.status != DirStatus::ok || !e.exemptions) return failed(e.status, "exemption lists: " + e.error);
        ex = e.exemptions;
    }
    MessageRecipients mr = classify_message(m_.recipients, m_.seen, true, set, ex ? *ex : kNone, c_.detail_delimiter);
    m_.classified = mr;
    if (mr.exempt > 0) {
        m_.exemption = std::to_string(mr.exempt) + " exempt recipient" + (mr.exempt == 1 ? "" : "s") + ": " +
                       mr.exempt_why;
        if (mr.counted == 0)
            return Decision{Action::accept, {}, "exempt: every recipient is on an exemption list; not charged"};
    }
    req.recipients = mr.counted;
    req.external_recipients = external ? mr.external : 0;
    return std::nullopt;
}

Decision MessageFlow::charge() {
    ChargeRequest req;
    req.account = m_.account->dn;
    req.messages = 1;
    req.bytes = m_.bytes;
    req.charge_id = valid_charge_id(m_.queue_id) ? m_.queue_id : "";
    if (auto d = classify(req)) return *d;
    ChargeResult r = b_.charge(req);
    if (r.status != DirStatus::ok) {
        Decision d = directory_failure(r.status, r.error, c_.on_charge_error);
        if (d.action == Action::accept) {
            m_.uncounted = true;
        } else if (r.outcome_unknown && !req.charge_id.empty()) {
            // slapd may have counted it before the answer was lost (or may
            // still, after a hang): the message is refused, so it must not count.
            b_.cancel_later(req);
            m_.cancel_pending = true;
        }
        return d;
    }
    m_.usage = r.response;
    const bool aggregate = r.response.exceeded && r.response.exceeded->level == Level::aggregate;
    Decision d = decide_charge(r.response, aggregate  ? c_.reply_quota_aggregate
                                           : m_.relay ? c_.reply_quota_relay
                                                      : c_.reply_quota);
    if (d.action == Action::accept)
        d.reason = r.response.verdict == Verdict::duplicate ? "already counted (same queue id)" : "within limits";
    if (d.action == Action::accept && r.response.verdict == Verdict::accepted && r.response.exceeded) {
        // Over a limit and still accepted: the account (or its policy, or
        // the overlay) counts only and never refuses.
        d.reason = "counted, not refused (accounting-only): " + describe_exceeded(*r.response.exceeded);
        m_.exemption = m_.exemption.empty() ? "accounting-only" : m_.exemption + "; accounting-only";
    }
    if (m_.relay) d.reason = "relay host " + m_.account->dn + ": " + d.reason;
    return d;
}

Decision MessageFlow::directory_failure(DirStatus status, const std::string &error, FailAction other) {
    // An outage and a refused bind share on_directory_unavailable (tempfail
    // by default: the mail waits, nothing is lost); any other error has its
    // own class. The reason names which it was, for the log line.
    bool unreachable = status == DirStatus::unavailable || status == DirStatus::refused;
    ReasonClass cls = status == DirStatus::unavailable ? ReasonClass::directory_unavailable
                      : status == DirStatus::refused   ? ReasonClass::identity_refused
                                                       : ReasonClass::directory_error;
    return on_failure(c_, unreachable ? c_.on_directory_unavailable : other,
                      std::string(failure_class(status)) + ": " + error, cls);
}

Decision MessageFlow::finish(Decision d) {
    m_.decision = std::move(d);
    return m_.decision;
}

Outcome MessageFlow::outcome() const { return outcome_of(m_.decision, m_.uncounted); }

std::optional<LimitAlert> MessageFlow::alert() const {
    if (!m_.usage || !m_.account) return std::nullopt;
    auto a = limit_alert(*m_.usage);
    if (!a) return std::nullopt;
    a->account = m_.account->dn;
    a->login = m_.login;
    a->sender = m_.sender;
    a->client = m_.client;
    a->queue_id = m_.queue_id;
    return a;
}

std::string MessageFlow::log_line() const {
    std::string s = "qid=" + (m_.queue_id.empty() ? std::string("-") : m_.queue_id) + " login=" + quoted(m_.login) +
                    " client=" + (m_.client.empty() ? std::string("-") : m_.client) + " from=<" + m_.sender + ">" +
                    " rcpts=" + std::to_string(m_.recipients) +
                    (m_.classified && !c_.hosted_domain_search_base.empty()
                         ? " external=" + std::to_string(m_.classified->external) +
                               (m_.classified->all_known ? "" : " rcpts_unseen=" +
                                    std::to_string(m_.recipients > m_.seen.size() ? m_.recipients - m_.seen.size() : 0))
                         : std::string()) +
                    " bytes=" + std::to_string(m_.bytes) +
                    " verdict=" + std::string(action_name(m_.decision.action)) + " reason=" + quoted(m_.decision.reason);
    if (!m_.decision.reply.code.empty())
        s += " reply=" + quoted(m_.decision.reply.code + " " + m_.decision.reply.xcode + " " + m_.decision.reply.text);
    if (!m_.exemption.empty()) s += " exempt=" + quoted(m_.exemption);
    if (m_.usage) s += " usage=" + quoted(usage_summary(*m_.usage));
    if (m_.usage && m_.usage->warning) s += " warning=" + quoted(describe_warning(*m_.usage->warning));
    if (m_.uncounted) s += " UNCOUNTED";
    if (m_.cancel_pending) s += " cancel=pending";
    return s;
}

}  // namespace tally::engine
