// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* alert.h - what an administrator is told when an account first hits a limit
 *
 * DESCRIPTION
 *   The overlay marks the first charge of a period that passes a window's
 *   limit (ChargeResponse::first_hit); the milter turns that one reply into
 *   a LimitAlert: a warning log line and, when configured, a mail and/or a
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
    std::uint64_t limit = 0;
    std::uint64_t usage = 0;  // usage before the message
    bool refused = true;      // false when counted anyway (accounting-only)
    std::string aggregate;    // set: the limit passed is this aggregate's (the domain's), not the account's
};

/* limit_alert - the alert a charge reply asks for, if any */
std::optional<LimitAlert> limit_alert(const ChargeResponse &r);

/* alert_log_line - the warning logged once per account per window and period */
std::string alert_log_line(const LimitAlert &a);

/* alert_environment - "TALLY_ACCOUNT=..." entries for the alert command */
std::vector<std::string> alert_environment(const LimitAlert &a);

/* alert_mail - the whole message (headers and body) handed to sendmail */
std::string alert_mail(const LimitAlert &a, const std::string &from, const std::string &to);

}  // namespace tally::engine
