// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_server.h - the policy protocol's listener: connections, lines, time limits
 *
 * DESCRIPTION
 *   One thread per connection, as Postfix holds one connection per smtpd
 *   process and reuses it for request after request (SMTPD_POLICY_README).
 *   Every limit closes the connection with a log line, never with a crash
 *   or a silent accept:
 *     - at most max_connections at once: more are closed as they come;
 *     - a line longer than kMaxLine, binary data, a line without
 *       name=value, too many attributes (RequestReader);
 *     - a started request that is not whole within request_timeout;
 *     - no request within idle_timeout (Postfix closes idle connections
 *       itself after smtpd_policy_service_max_idle, 300 s).
 *   A peer that closes its side after a whole request (Exim's readsocket)
 *   still gets its answer.
 */
#pragma once

#include "listen_address.h"
#include "policy_request.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace tally::policy {

struct ServerLimits {
    int max_connections = 100;
    std::chrono::milliseconds idle_timeout{330000};
    std::chrono::milliseconds request_timeout{10000};
};

class PolicyServer {
public:
    /* Handler - the action for one whole request (what follows "action=");
     * peer names the client for log lines */
    using Handler = std::function<std::string(const PolicyRequest &, const std::string &peer)>;
    /* LoggerFn - the logger of the moment (it changes on reload) */
    using LoggerFn = std::function<std::shared_ptr<spdlog::logger>()>;

    PolicyServer(engine::ListenAddress where, ServerLimits limits, Handler handler, LoggerFn log);
    /* ~PolicyServer - stop() */
    ~PolicyServer();
    PolicyServer(const PolicyServer &) = delete;
    PolicyServer &operator=(const PolicyServer &) = delete;

    /* open - create, bind and listen (before privileges are dropped);
     * false with *error set when it cannot */
    bool open(std::string *error);
    /* start - accept connections on a thread of its own */
    void start();
    /* stop - no new connections; open ones are closed (a request being
     * answered finishes first); returns when every thread is gone */
    void stop();
    /* busy - requests being answered now */
    int busy() const { return busy_.load(); }

private:
    void accept_loop();
    void serve(int fd, std::string peer);
    /* answer_all - read and answer requests until the peer leaves or a limit is hit */
    void answer_all(int fd, const std::string &peer);

    engine::ListenAddress where_;
    ServerLimits limits_;
    Handler handler_;
    LoggerFn log_;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<int> busy_{0};
    std::mutex mutex_;
    std::condition_variable gone_;
    std::set<int> open_fds_;  // connections being served, shut down by stop()
    std::chrono::steady_clock::time_point last_flood_log_{};
    std::thread acceptor_;
};

}  // namespace tally::policy
