// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy.h - what tallyd answers, decided without libmilter or LDAP
 *
 * DESCRIPTION
 *   The milter glue gathers facts (the account found for the login, the
 *   envelope sender, the charge verdict, failures) and asks these functions
 *   for a Decision: accept, reject or tempfail, the SMTP reply, and the
 *   reason that goes into the log line.
 */
#pragma once

#include "exop.h"
#include "config.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::engine {

/* What the directory says about an account. */
struct Account {
    std::string dn;
    std::vector<std::string> addresses;  // mail, alternates, tallySendAs, aliases
    bool blocked = false;
    bool inactive = false;               // status attribute present and not the active value
    std::string blocked_text;            // the account's own rejection text
};

enum class Action { accept, reject, tempfail };
std::string_view action_name(Action a);

struct Reply {
    std::string code;   // "550"
    std::string xcode;  // "5.7.1"
    std::string text;
};

/* Why a message was refused, deferred or let through uncounted, in a few
 * fixed classes: the reason text names the account and the limit, which
 * would make one metric series per account (daemon/metrics.h). */
enum class ReasonClass {
    none,                   // accepted: within limits, a duplicate, or not ours to count
    quota,                  // a limit would be passed
    blocked,                // account blocked or not active
    foreign_sender,         // sender not owned by the login, null or malformed sender
    deny_list,              // sender domain or client network on a deny list
    unauthenticated,        // unauthenticated sender in a hosted domain
    unknown_account,        // the login matches no account (on_unknown_account)
    directory_unavailable,  // no server answered (on_directory_unavailable)
    identity_refused,       // a server refused the service identity's bind
    directory_error,        // any other LDAP error (on_charge_error, ...)
    bad_request             // a malformed policy request: the MTA's configuration is wrong
};
inline constexpr ReasonClass kReasonClasses[] = {
    ReasonClass::none,           ReasonClass::quota,           ReasonClass::blocked,
    ReasonClass::foreign_sender, ReasonClass::deny_list,       ReasonClass::unauthenticated,
    ReasonClass::unknown_account, ReasonClass::directory_unavailable, ReasonClass::identity_refused,
    ReasonClass::directory_error, ReasonClass::bad_request};
std::string_view reason_class_name(ReasonClass r);

struct Decision {
    Action action = Action::accept;
    Reply reply;         // empty for accept
    std::string reason;  // for the log: "blocked", "foreign sender", "day limit of 500 messages reached"
    ReasonClass reason_class = ReasonClass::none;
};

/* What became of a message, for counting: the action, and whether a
 * failure policy let it through without a charge. */
enum class MessageVerdict { accepted, refused, deferred, uncounted };
inline constexpr MessageVerdict kMessageVerdicts[] = {MessageVerdict::accepted, MessageVerdict::refused,
                                                    MessageVerdict::deferred, MessageVerdict::uncounted};
std::string_view verdict_name(MessageVerdict v);

struct Outcome {
    MessageVerdict verdict = MessageVerdict::accepted;
    ReasonClass reason = ReasonClass::none;
};

/* outcome_of - a decision's outcome; uncounted: a failure policy accepted
 * the message without charging it */
Outcome outcome_of(const Decision &d, bool uncounted);

/* possible_outcome - whether the flow can produce this pair: the metrics
 * create these series at startup (at zero) and no others */
bool possible_outcome(MessageVerdict v, ReasonClass r);

/* Deny lists: sender domains (and their subdomains) and client networks. */
struct DenyLists {
    std::vector<std::string> sender_domains;
    std::vector<std::string> networks;  // "ADDRESS/PREFIX" or "ADDRESS"
};

/* denied - what on the lists matches ("sender domain spam.example",
 * "client network 192.0.2.0/24"), or nullopt */
std::optional<std::string> denied(const DenyLists &lists, std::string_view sender, std::string_view client);

/* format_reply - a "CODE X.Y.Z text" template with %{name} placeholders
 * filled in; values lose control characters so nobody can inject reply lines */
Reply format_reply(const std::string &tmpl, const std::map<std::string, std::string> &values);

/* check_sender - sender restrictions: blocked/inactive, then ownership */
Decision check_sender(const Config &c, const Account &a, std::string_view login, std::string_view sender);

/* decide_charge - the answer to a charge verdict, with the quota reply template
 * (reply_quota for accounts, reply_quota_relay for relay hosts) */
Decision decide_charge(const ChargeResponse &r, const std::string &quota_template);

/* on_failure - the configured failure action, with its reply */
Decision on_failure(const Config &c, FailAction a, std::string reason, ReasonClass cls);

/* window_adjective - hour -> hourly, day -> daily, week -> weekly, month -> monthly */
std::string window_adjective(std::string_view window);

/* usage_summary - "day 12/500 messages, hour 3/100 messages" for the log and header */
std::string usage_summary(const ChargeResponse &r);

}  // namespace tally::engine
