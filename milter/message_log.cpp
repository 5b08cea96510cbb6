// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_log.cpp - logger construction */
#include "message_log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>

namespace tally::milter {

std::shared_ptr<spdlog::logger> make_logger(const MilterConfig &c) {
    std::shared_ptr<spdlog::logger> log;
    if (c.log_target == "stderr") {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        log = std::make_shared<spdlog::logger>("tally-milter", sink);
        log->set_pattern("%Y-%m-%d %H:%M:%S.%e tally-milter[%P] %l: %v");
    } else {
        auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("tally-milter", LOG_PID, LOG_MAIL, false);
        log = std::make_shared<spdlog::logger>("tally-milter", sink);
        log->set_pattern("%l: %v");
    }
    log->set_level(spdlog::level::from_str(c.log_level == "warning" ? "warn" : c.log_level));
    log->flush_on(spdlog::level::trace);
    return log;
}

}  // namespace tally::milter
