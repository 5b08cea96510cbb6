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

struct Decision {
    Action action = Action::accept;
    Reply reply;         // empty for accept
    std::string reason;  // for the log: "blocked", "foreign sender", "day limit of 500 messages reached"
};

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
Decision on_failure(const Config &c, FailAction a, std::string reason);

/* window_adjective - hour -> hourly, day -> daily, week -> weekly, month -> monthly */
std::string window_adjective(std::string_view window);

/* usage_summary - "day 12/500 messages, hour 3/100 messages" for the log and header */
std::string usage_summary(const ChargeResponse &r);

}  // namespace tally::engine
