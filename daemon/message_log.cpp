// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_log.cpp - logger construction */
#include "message_log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/syslog_sink.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tally::daemon {

std::string effective_log_target(const engine::Config &c, const std::string &syslog_socket) {
    if (c.log_target != "syslog") return c.log_target;
    struct stat st{};
    if (stat(syslog_socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return "syslog";
    return c.log_fallback;
}

bool logs_to_stderr(const engine::Config &c) { return effective_log_target(c) == "stderr"; }

LineSink::LineSink(int fd, bool owned) : fd_(fd), owned_(owned), formatter_(std::make_unique<spdlog::pattern_formatter>()) {}

LineSink::~LineSink() {
    if (owned_) close(fd_);
}

std::shared_ptr<LineSink> LineSink::open_file(const std::string &path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) throw spdlog::spdlog_ex("cannot open log file " + path, errno);
    return std::make_shared<LineSink>(fd, true);
}

void LineSink::log(const spdlog::details::log_msg &msg) {
    spdlog::memory_buf_t line;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        formatter_->format(msg, line);
    }
    const char *p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // a full disk or a closed stderr: nothing else to tell it to
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

void LineSink::set_pattern(const std::string &pattern) {
    set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
}

void LineSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
    std::lock_guard<std::mutex> lock(mutex_);
    formatter_ = std::move(formatter);
}

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
        if (target == "stderr") sink = std::make_shared<LineSink>(STDERR_FILENO, false);
        else sink = LineSink::open_file(target);  // appends; throws when it cannot
        log = std::make_shared<spdlog::logger>("tallyd", sink);
        // The process id written out once: spdlog's %P asks the kernel for it at every line.
        // (A daemon makes its logger after the fork, in the process that logs.)
        log->set_pattern("%Y-%m-%d %H:%M:%S.%e tallyd[" + std::to_string(getpid()) + "] %l: %v");
    }
    log->set_level(spdlog::level::from_str(c.log_level == "warning" ? "warn" : c.log_level));
    // A line reaches the file or stderr when it is logged (LineSink), and a
    // syslog line goes to syslog(3) at once: flushing is a no-op either way.
    log->flush_on(spdlog::level::trace);
    return log;
}

}  // namespace tally::daemon
