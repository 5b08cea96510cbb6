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

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string>

namespace tally::daemon {

/* effective_log_target - syslog, stderr or a file path: log_target, or
 * log_fallback when syslog is asked for and syslog_socket does not exist */
std::string effective_log_target(const engine::Config &c, const std::string &syslog_socket = "/dev/log");

/* logs_to_stderr - the daemon must keep its stderr open */
bool logs_to_stderr(const engine::Config &c);

/* LineSink - a log line is one write(2) to a descriptor (stderr, or a
 * file opened for appending), made by the thread that logs it, outside any
 * lock: only the formatting is serialized. Nothing is buffered, so there is
 * nothing to flush and nothing to lose at exit; threads logging at once do
 * not queue behind each other's write (spdlog's own stderr and file sinks
 * hold one mutex across the write and take it again for the flush). A line
 * is written whole: regular files opened with O_APPEND and pipes (lines
 * under PIPE_BUF) do not interleave concurrent writes. */
class LineSink final : public spdlog::sinks::sink {
public:
    /* LineSink - fd is closed on destruction when owned */
    LineSink(int fd, bool owned);
    ~LineSink() override;
    LineSink(const LineSink &) = delete;
    LineSink &operator=(const LineSink &) = delete;
    /* open_file - append to path (created 0640); throws spdlog::spdlog_ex
     * naming the file when it cannot */
    static std::shared_ptr<LineSink> open_file(const std::string &path);

    void log(const spdlog::details::log_msg &msg) override;
    void flush() override {}  // every line is written when it is logged
    void set_pattern(const std::string &pattern) override;
    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

private:
    int fd_;
    bool owned_;
    std::mutex mutex_;  // the formatter (it caches the time), not the write
    std::unique_ptr<spdlog::formatter> formatter_;
};

/* make_logger - the logger the configuration asks for; throws when a log
 * file cannot be opened */
std::shared_ptr<spdlog::logger> make_logger(const engine::Config &c);

}  // namespace tally::daemon
