// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_log.h - spdlog set-up: syslog (mail facility), stderr or a file, one line per message
 *
 * DESCRIPTION
 *   With log_target = syslog and no syslog daemon (no /dev/log: a
 *   container, a host without rsyslog), libc's syslog() drops every line
 *   without a word. The daemon checks for /dev/log instead, says on stderr
 *   that it falls back, and writes to log_fallback (stderr, or a file).
 */
#pragma once

#include "config.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace tally::daemon {

/* effective_log_target - syslog, stderr or a file path: log_target, or
 * log_fallback when syslog is asked for and syslog_socket does not exist */
std::string effective_log_target(const engine::Config &c, const std::string &syslog_socket = "/dev/log");

/* logs_to_stderr - the daemon must keep its stderr open */
bool logs_to_stderr(const engine::Config &c);

/* make_logger - the logger the configuration asks for; throws when a log
 * file cannot be opened */
std::shared_ptr<spdlog::logger> make_logger(const engine::Config &c);

}  // namespace tally::daemon
