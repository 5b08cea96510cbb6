// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* accept_milter_process.h - the accept-everything milter (accept_milter) as a child process
 *
 * DESCRIPTION
 *   Starts build/bench/accept_milter (ACCEPT_MILTER_PATH) on a free loopback
 *   port, waits until it accepts connections, and on destruction ends
 *   exactly that process (SIGKILL, by PID) and reaps it.
 */
#pragma once

#include "slapd_fixture.h"  // free_loopback_port

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#ifndef ACCEPT_MILTER_PATH
#error "ACCEPT_MILTER_PATH must be defined"
#endif

namespace tally::bench {

class AcceptMilter {
public:
    AcceptMilter() : port_(tally::test::free_loopback_port()) {
        std::string sock = "inet:" + std::to_string(port_) + "@127.0.0.1";
        pid_ = fork();
        if (pid_ == 0) {
            execl(ACCEPT_MILTER_PATH, "accept_milter", sock.c_str(), (char *)nullptr);
            _exit(127);
        }
        for (int i = 0; i < 250; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(static_cast<uint16_t>(port_));
            bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
            close(fd);
            if (ok) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        throw std::runtime_error("accept_milter did not start");
    }
    ~AcceptMilter() {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    AcceptMilter(const AcceptMilter &) = delete;
    AcceptMilter &operator=(const AcceptMilter &) = delete;
    int port() const { return port_; }
    pid_t pid() const { return pid_; }

private:
    int port_;
    pid_t pid_;
};

}  // namespace tally::bench
