// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* process.h - start and stop the processes a test runs, and find loopback ports for them
 *
 * DESCRIPTION
 *   Every server a test, benchmark or the sandbox starts (slapd, tallyd,
 *   smtp-sink, mtpolicyd, ...) is a child started with spawn() and ended by
 *   its PID with stop_process() (SIGTERM, a grace period, then SIGKILL),
 *   reaped either way, so that nothing outlives the test that started it,
 *   also when the test fails. Process does the same for a child owned by a
 *   scope. Processes that are not our children (a daemon that forked away,
 *   the sandbox's supervisor) are only watched: process_alive, wait_gone.
 *
 *   Ports: free_loopback_port() names a port on 127.0.0.1 nobody listens on;
 *   connect_loopback() and loopback_port_open() reach one.
 */
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tally::test {

/* free_loopback_port - a TCP port on 127.0.0.1 nobody listens on now */
int free_loopback_port();

/* connect_loopback - a TCP connection to 127.0.0.1:port (close-on-exec); -1 with errno set when none */
int connect_loopback(int port);

/* loopback_port_open - something accepts connections on 127.0.0.1:port */
bool loopback_port_open(int port);

struct SpawnOptions {
    std::string log;                 // stdout and stderr appended to this file; empty: inherited
    bool own_group = false;          // the child leads a process group of its own (stop_group ends it)
    std::vector<std::pair<std::string, std::string>> env;  // set in the child
    /* in_child - run in the child just before exec (redirections, dropping
     * privileges); it may _exit(126) when that fails */
    std::function<void()> in_child;
};

/* spawn - fork and exec argv (argv[0] an absolute path), stdin from
 * /dev/null; the child's PID. Throws when fork fails; an exec that fails
 * exits 127. */
pid_t spawn(const std::vector<std::string> &argv, const SpawnOptions &o = {});

/* exited - whether our child pid has ended, reaping it (its wait status in
 * *status); never blocks. A pid that is not our child counts as ended. */
bool exited(pid_t pid, int *status = nullptr);

/* wait_exit - wait up to limit for our child pid to end, reaping it; false when it still runs */
bool wait_exit(pid_t pid, std::chrono::milliseconds limit, int *status = nullptr);

/* stop_process - end our child pid: SIGTERM, up to grace for it to exit,
 * then SIGKILL; reaped either way. True when it ended within grace. A pid
 * already reaped (or never ours) is not signalled. */
bool stop_process(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(15), int *status = nullptr);

/* kill_process - SIGKILL our child pid and reap it */
void kill_process(pid_t pid, int *status = nullptr);

/* stop_group - end a child started with own_group and everything in its
 * group: SIGTERM to the group, up to grace for the leader to exit, then
 * SIGKILL to what is left (a prefork server's children); reaps the leader
 * and what the group left re-parented to us (when we are a subreaper) */
void stop_group(pid_t leader, std::chrono::milliseconds grace = std::chrono::seconds(15));

enum class Readiness { ready, exited, timed_out };

/* wait_ready - poll ready() every 20 ms until it holds, while our child pid
 * runs (an ended child is reaped: exited), up to limit (timed_out) */
Readiness wait_ready(pid_t pid, std::chrono::milliseconds limit, const std::function<bool()> &ready);

/* start_server - spawn argv and wait_ready until ready() holds; the PID.
 * Throws std::runtime_error "NAME exited at start: LOG" when the child ends
 * first (reaped), or "NAME did not start within N s: LOG" (it is stopped
 * then), LOG being the text of SpawnOptions::log */
pid_t start_server(const std::string &name, const std::vector<std::string> &argv, const SpawnOptions &o,
                   std::chrono::seconds limit, const std::function<bool()> &ready);

/* wait_listening - wait_ready until 127.0.0.1:port accepts; true when it does */
bool wait_listening(int port, pid_t pid, std::chrono::milliseconds limit);

/* process_alive - a process pid exists and is not a zombie (for processes
 * that are not our children: a zombie may linger under an init that does
 * not reap) */
bool process_alive(pid_t pid);

/* wait_gone - wait up to limit until process_alive(pid) is false; true when it is */
bool wait_gone(pid_t pid, std::chrono::milliseconds limit);

/* Process - a child owned by a scope: spawned by the constructor, stopped
 * (stop_process, or stop_group with SpawnOptions::own_group) by the
 * destructor */
class Process {
public:
    Process() = default;
    explicit Process(const std::vector<std::string> &argv, const SpawnOptions &o = {});
    /* adopt - own a child spawned already (start_server) */
    static Process adopt(pid_t pid, bool group = false);
    ~Process() { stop(); }
    Process(Process &&other) noexcept;
    Process &operator=(Process &&other) noexcept;
    Process(const Process &) = delete;
    Process &operator=(const Process &) = delete;

    pid_t pid() const { return pid_; }  // -1 once ended
    /* running - false once the child has ended (reaped; its wait status in status()) */
    bool running();
    int status() const { return status_; }
    /* stop - SIGTERM, grace, SIGKILL (the group with own_group); true when it ended within grace */
    bool stop(std::chrono::milliseconds grace = std::chrono::seconds(15));
    /* kill_hard - SIGKILL and reap */
    void kill_hard();

private:
    pid_t pid_ = -1;
    int status_ = -1;
    bool group_ = false;
};

struct RunOptions {
    std::string input;       // written to the command's stdin (< 4 KiB); empty: /dev/null
    bool own_group = false;  // run in a new process group, reaping what it leaves behind
};

/* run_command - run argv[0] with its output appended to out_path; the exit status (128: killed by a signal) */
int run_command(const std::vector<std::string> &argv, const std::string &out_path, const RunOptions &o = {});

}  // namespace tally::test
