// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_conn.h - a policy-protocol client over loopback, as Postfix's smtpd is
 *
 * DESCRIPTION
 *   Shared by the policy and metrics integration tests.
 */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>

namespace tally::test {

/* PolicyConn - one client connection, kept open like Postfix's */
class PolicyConn {
public:
    explicit PolicyConn(int port) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
            close(fd_);
            fd_ = -1;
        }
    }
    ~PolicyConn() {
        if (fd_ >= 0) close(fd_);
    }
    bool ok() const { return fd_ >= 0; }
    void shutdown_write() { shutdown(fd_, SHUT_WR); }
    bool send_raw(const std::string &s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }
    /* answer - the action of the next answer; "" when the server closed the
     * connection (or nothing came within timeout) */
    std::string answer(int timeout_ms = 5000) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            auto end = buf_.find("\n\n");
            if (end != std::string::npos) {
                std::string a = buf_.substr(0, end);
                buf_.erase(0, end + 2);
                return a.starts_with("action=") ? a.substr(7) : "?" + a;
            }
            int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                  std::chrono::steady_clock::now())
                               .count());
            pollfd p{fd_, POLLIN, 0};
            if (left <= 0 || poll(&p, 1, left) <= 0) return "";
            char chunk[4096];
            ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return "";
            buf_.append(chunk, size_t(n));
        }
    }
    /* closed_by_server - the server closed the connection within timeout:
     * EOF, or a reset when it closed with our bytes still unread */
    bool closed_by_server(int timeout_ms = 5000) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) return false;
        char c;
        return recv(fd_, &c, 1, 0) <= 0;
    }
    std::string ask(const std::map<std::string, std::string> &attrs) {
        std::string req;
        for (const auto &[k, v] : attrs) req += k + "=" + v + "\n";
        if (!send_raw(req + "\n")) return "";
        return answer();
    }

private:
    int fd_ = -1;
    std::string buf_;
};

}  // namespace tally::test
