// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* alert.h - what an administrator is told when an account first hits a
 * limit, or first reaches a warning threshold (a soft limit)
 *
 * DESCRIPTION
 *   The overlay marks the first charge of a period that passes a window's
 *   limit (ChargeResponse::first_hit), and the first accepted charge of a
 *   period that reaches a window's warning threshold
 *   (ChargeResponse::warning); the doors turn that one reply into a
 *   LimitAlert: a warning log line and, when configured, a mail and/or a
 *   command (alert_sender.h). Everything here is pure text-making, so the
 *   formats are unit-tested; nothing is run or sent.
 */
#pragma once

#include "exop.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tally::engine {

struct LimitAlert {
    std::string account;   // DN of the account (or relay-host) entry
    std::string login;     // SASL login; empty for a relay host
    std::string sender;    // envelope sender of the message that hit the limit
    std::string client;    // client address
    std::string queue_id;
    std::string window;    // "day"
    std::string period;    // "2026-11-22"
    Metric metric = Metric::messages;
    std::uint64_t limit = 0;  // the hard limit (with a warning: 0 when unlimited is set)
    std::uint64_t usage = 0;  // usage before the message (a warning: after it, the message was accepted)
    bool refused = true;      // false when counted anyway (accounting-only), or a warning
    std::string aggregate;    // set: the limit passed is this aggregate's (the domain's), not the account's
    /* a warning threshold (soft limit) reached, not a limit passed: the
     * message was accepted */
    bool warning = false;
    std::uint64_t threshold = 0;  // the warning threshold reached
    bool unlimited = false;       // a warning on a metric without a hard limit
};

/* limit_alert - the alert a charge reply asks for, if any: the first hit of
 * a limit, else the first reach of a warning threshold (a reply that does
 * both, an accounting-only account passing both at once, alerts the limit) */
std::optional<LimitAlert> limit_alert(const ChargeResponse &r);

/* alert_log_line - the warning logged once per account per window and period */
std::string alert_log_line(const LimitAlert &a);

/* alert_environment - "TALLY_ACCOUNT=..." entries for the alert command */
std::vector<std::string> alert_environment(const LimitAlert &a);

/* alert_mail - the whole message (headers and body) handed to sendmail */
std::string alert_mail(const LimitAlert &a, const std::string &from, const std::string &to);

}  // namespace tally::engine
