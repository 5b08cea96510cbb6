// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_log.cpp - logger construction */
#include "message_log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <sys/stat.h>
#include <syslog.h>

#include <atomic>
#include <cstdio>

namespace tally::daemon {

std::string effective_log_target(const engine::Config &c, const std::string &syslog_socket) {
    if (c.log_target != "syslog") return c.log_target;
    struct stat st{};
    if (stat(syslog_socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return "syslog";
    return c.log_fallback;
}

bool logs_to_stderr(const engine::Config &c) { return effective_log_target(c) == "stderr"; }

std::shared_ptr<spdlog::logger> make_logger(const engine::Config &c) {
    const std::string target = effective_log_target(c);
    if (target != c.log_target) {
        static std::atomic<bool> said{false};  // once, not again on every reload
        if (!said.exchange(true))
            std::fprintf(stderr, "tallyd: no syslog daemon listens on /dev/log; logging to %s (log_fallback)\n",
                         target.c_str());
    }
    std::shared_ptr<spdlog::logger> log;
    if (target == "syslog") {
        auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("tallyd", LOG_PID, LOG_MAIL, false);
        log = std::make_shared<spdlog::logger>("tallyd", sink);
        log->set_pattern("%l: %v");
    } else {
        spdlog::sink_ptr sink;
        if (target == "stderr") sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        else sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(target);  // appends; throws when it cannot
        log = std::make_shared<spdlog::logger>("tallyd", sink);
        log->set_pattern("%Y-%m-%d %H:%M:%S.%e tallyd[%P] %l: %v");
    }
    log->set_level(spdlog::level::from_str(c.log_level == "warning" ? "warn" : c.log_level));
    log->flush_on(spdlog::level::trace);
    return log;
}

}  // namespace tally::daemon
