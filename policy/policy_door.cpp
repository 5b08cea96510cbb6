// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_door.cpp - RCPT and END-OF-MESSAGE requests through the decision flow */
#include "policy_door.h"

#include "message_flow.h"

#include <charconv>

namespace tally::policy {

using engine::Action;
using engine::Decision;

bool RefusedMessages::add(const std::string &instance, const std::string &action) {
    if (instance.empty()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    bool fresh = actions_.insert_or_assign(instance, action).second;
    if (fresh) order_.push_back(instance);
    while (order_.size() > capacity_) {
        actions_.erase(order_.front());
        order_.pop_front();
    }
    return fresh;
}

std::optional<std::string> RefusedMessages::find(const std::string &instance) {
    if (instance.empty()) return std::nullopt;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = actions_.find(instance);
    if (it == actions_.end()) return std::nullopt;
    return it->second;
}

void SeenRecipients::add(const std::string &instance, const std::string &recipient) {
    if (instance.empty() || max_total_ == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, fresh] = by_instance_.try_emplace(instance);
    if (fresh) order_.push_back(instance);
    if (it->second.size() >= max_per_message_) return;  // the rest count as unseen
    it->second.push_back(recipient);
    ++total_;
    while (total_ > max_total_ && !order_.empty()) {
        auto old = by_instance_.find(order_.front());
        if (old != by_instance_.end()) {
            total_ -= old->second.size();
            by_instance_.erase(old);
        }
        order_.pop_front();
    }
}

std::vector<std::string> SeenRecipients::take(const std::string &instance) {
    if (instance.empty()) return {};
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_instance_.find(instance);
    if (it == by_instance_.end()) return {};
    std::vector<std::string> out = std::move(it->second);
    total_ -= out.size();
    by_instance_.erase(it);
    // its place in order_ goes when it reaches the front (erase of a missing key is a no-op)
    return out;
}

std::string action_of(const Decision &d) {
    switch (d.action) {
    case Action::accept: return "DUNNO";
    case Action::reject:
        if (d.reply.code.empty()) return "REJECT";
        return d.reply.code + " " + d.reply.xcode + " " + d.reply.text;
    case Action::tempfail: break;
    }
    if (d.reply.code.empty()) return "DEFER_IF_PERMIT";
    return "DEFER_IF_PERMIT " + d.reply.xcode + " " + d.reply.text;
}

namespace {

std::optional<std::uint64_t> number(std::string_view s) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

/* malformed - the answer to a request the MTA should not have sent */
PolicyAnswer malformed(const engine::Config &c, const PolicyRequest &req, const std::string &what) {
    Decision d = engine::on_failure(c, engine::FailAction::tempfail, "malformed policy request: " + what,
                                    engine::ReasonClass::bad_request);
    PolicyAnswer a;
    a.action = action_of(d);
    a.log = PolicyAnswer::Log::warn;
    a.outcome = engine::outcome_of(d, false);
    a.end_of_message = req.text("protocol_state") == "END-OF-MESSAGE";
    a.log_line = "policy request refused: " + what + " (protocol_state=" + req.text("protocol_state") +
                 " client=" + req.text("client_address") + " queue_id=" + req.text("queue_id") +
                 "); check the MTA's policy client configuration";
    return a;
}

/* missing - the first of names the request lacks */
std::optional<std::string> missing(const PolicyRequest &req, std::initializer_list<const char *> names) {
    for (const char *n : names)
        if (!req.get(n)) return std::string(n);
    return std::nullopt;
}

}  // namespace

PolicyAnswer answer(const engine::Config &c, engine::Backend &b, engine::AccountCache &cache, PolicyMemory &memory,
                    const PolicyRequest &req) {
    RefusedMessages &refused = memory.refused;
    if (req.text("request") != "smtpd_access_policy")
        return malformed(c, req, "attribute request is \"" + req.text("request").substr(0, 64) +
                                     "\", not smtpd_access_policy");
    auto state = req.get("protocol_state");
    if (!state) return malformed(c, req, "attribute protocol_state missing");
    const bool rcpt = *state == "RCPT";
    const bool eom = *state == "END-OF-MESSAGE";
    if (!rcpt && !eom) return {"DUNNO", PolicyAnswer::Log::none, "", std::nullopt, std::nullopt, false};

    if (auto name = missing(req, {"sender", "client_address"})) return malformed(c, req, "attribute " + *name + " missing");
    engine::MessageFlow flow(c, b, cache);
    const std::string instance = req.text("instance");
    PolicyAnswer a;
    Decision d;
    if (rcpt) {
        d = flow.sender_check(req.text("sasl_username"), req.text("sender"), req.text("client_address"));
        a.action = action_of(d);
        // A refusal settles the message: counted once, at its first refused
        // recipient (without an instance, at each: nothing tells them apart).
        if (d.action != Action::accept && (refused.add(instance, a.action) || instance.empty()))
            a.outcome = flow.outcome();
        if (d.action == Action::accept) memory.recipients.add(instance, req.text("recipient"));
        // Refusals are logged at once; a pass is logged with the message at its end.
        a.log = d.action == Action::accept ? PolicyAnswer::Log::debug : PolicyAnswer::Log::warn;
        a.log_line = flow.log_line() + " state=RCPT";
        return a;
    }
    a.end_of_message = true;
    if (auto name = missing(req, {"size", "recipient_count", "queue_id"}))
        return malformed(c, req, "attribute " + *name + " missing");
    auto size = number(req.text("size"));
    if (!size) return malformed(c, req, "attribute size is not a number");
    auto rcpts = number(req.text("recipient_count"));
    if (!rcpts || *rcpts > 1000000) return malformed(c, req, "attribute recipient_count is not a number");
    std::vector<std::string> seen = memory.recipients.take(instance);
    if (auto earlier = refused.find(instance)) {
        // A restriction refused this message at RCPT: it is not charged, and
        // the whole message is refused with the same answer.
        a.action = *earlier;
        a.log = PolicyAnswer::Log::warn;  // counted at RCPT already: no outcome
        a.log_line = "qid=" + req.text("queue_id") + " refused at RCPT (" + *earlier + "); not charged state=END-OF-MESSAGE";
        return a;
    }
    engine::MessageFlow::Facts f;
    f.login = req.text("sasl_username");
    f.raw_sender = req.text("sender");
    f.client = req.text("client_address");
    f.queue_id = req.text("queue_id");
    f.recipients = static_cast<unsigned>(*rcpts);
    f.bytes = *size;
    f.recipient_addresses = std::move(seen);
    d = flow.whole_message(f);
    a.action = action_of(d);
    a.log = f.login.empty() && !flow.usage() && d.action == Action::accept ? PolicyAnswer::Log::debug
            : d.action == Action::accept                                 ? PolicyAnswer::Log::info
                                                                         : PolicyAnswer::Log::warn;
    a.log_line = flow.log_line() + " state=END-OF-MESSAGE";
    a.alert = flow.alert();
    a.outcome = flow.outcome();
    return a;
}

}  // namespace tally::policy
