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

#include "process.h"

#include <chrono>
#include <stdexcept>
#include <string>

#ifndef ACCEPT_MILTER_PATH
#error "ACCEPT_MILTER_PATH must be defined"
#endif

namespace tally::bench {

class AcceptMilter {
public:
    AcceptMilter()
        : port_(tally::test::free_loopback_port()),
          process_({ACCEPT_MILTER_PATH, "inet:" + std::to_string(port_) + "@127.0.0.1"}) {
        if (!tally::test::wait_listening(port_, process_.pid(), std::chrono::seconds(5)))
            throw std::runtime_error("accept_milter did not start");  // process_ stops it
    }
    ~AcceptMilter() { process_.kill_hard(); }  // it holds no state: no reason to wait for a clean exit
    AcceptMilter(const AcceptMilter &) = delete;
    AcceptMilter &operator=(const AcceptMilter &) = delete;
    int port() const { return port_; }
    pid_t pid() const { return process_.pid(); }

private:
    int port_;
    tally::test::Process process_;
};

}  // namespace tally::bench
