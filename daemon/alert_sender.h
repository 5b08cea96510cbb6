// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* alert_sender.h - send a limit alert: mail through the local MTA, or a command
 *
 * DESCRIPTION
 *   Both run as child processes on a detached thread, so a slow MTA or
 *   command never holds up the message at end of data. A child running
 *   longer than alert_timeout is killed; failures are logged. At most
 *   kMaxAlertsInFlight alerts run at once (more are logged and dropped):
 *   alerts are rare by design, once per account per window and period.
 */
#pragma once

#include "alert.h"
#include "config.h"
#include "metrics.h"

#include <spdlog/spdlog.h>

#include <memory>

namespace tally::daemon {

inline constexpr int kMaxAlertsInFlight = 16;

/* send_alert - logs the alert at warning level and starts the configured
 * notifications; each one's end is counted in metrics (may be null) */
void send_alert(const engine::Config &c, const std::shared_ptr<spdlog::logger> &log, const engine::LimitAlert &a,
                std::shared_ptr<Metrics> metrics = nullptr);

/* alerts_in_flight - notifications still running (tests and shutdown) */
int alerts_in_flight();

}  // namespace tally::daemon
