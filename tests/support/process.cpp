// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* process.cpp - spawn, stop and watch test processes; loopback ports */
#include "process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace tally::test {

int free_loopback_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("cannot find a free loopback port");
    }
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int connect_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;  // the caller's message names connect's reason, not close's
        return -1;
    }
    return fd;
}

bool loopback_port_open(int port) {
    int fd = connect_loopback(port);
    if (fd >= 0) close(fd);
    return fd >= 0;
}

pid_t spawn(const std::vector<std::string> &argv, const SpawnOptions &o) {
    // Built before the fork: the child only calls what is safe after fork
    // in a process that may have threads (no allocation but in in_child).
    std::vector<char *> args;
    for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (o.own_group) setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) dup2(in, 0);
        if (!o.log.empty()) {
            int fd = open(o.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        for (const auto &[name, value] : o.env) setenv(name.c_str(), value.c_str(), 1);
        if (o.in_child) o.in_child();
        execv(args[0], args.data());
        _exit(127);
    }
    if (o.own_group) setpgid(pid, pid);  // also from here: no race with the child's own call
    return pid;
}

bool exited(pid_t pid, int *status) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid && status) *status = st;
    return r != 0;  // ended (r == pid), or not ours to wait for (-1)
}

bool wait_exit(pid_t pid, std::chrono::milliseconds limit, int *status) {
    auto end = std::chrono::steady_clock::now() + limit;
    do {
        if (exited(pid, status)) return true;
        std::this_thread::sleep_for(10ms);
    } while (std::chrono::steady_clock::now() < end);
    return exited(pid, status);
}

void kill_process(pid_t pid, int *status) {
    // Never signal a PID we no longer own: once reaped it may be another process's.
    if (pid <= 0 || exited(pid, status)) return;
    kill(pid, SIGKILL);
    int st = 0;
    if (waitpid(pid, &st, 0) == pid && status) *status = st;
}

bool stop_process(pid_t pid, std::chrono::milliseconds grace, int *status) {
    if (pid <= 0 || exited(pid, status)) return true;  // as kill_process: not ours to signal any more
    kill(pid, SIGTERM);
    if (wait_exit(pid, grace, status)) return true;
    kill_process(pid, status);
    return false;
}

void stop_group(pid_t leader, std::chrono::milliseconds grace) {
    if (leader <= 0) return;
    kill(-leader, SIGTERM);
    bool gone = wait_exit(leader, grace);
    kill(-leader, SIGKILL);  // children a leader left behind (prefork servers), or the leader itself
    if (!gone) waitpid(leader, nullptr, 0);
    while (waitpid(-leader, nullptr, WNOHANG) > 0) {  // orphans re-parented to us (subreaper)
    }
}

Readiness wait_ready(pid_t pid, std::chrono::milliseconds limit, const std::function<bool()> &ready) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (exited(pid)) return Readiness::exited;
        if (ready()) return Readiness::ready;
        std::this_thread::sleep_for(20ms);
    }
    return Readiness::timed_out;
}

pid_t start_server(const std::string &name, const std::vector<std::string> &argv, const SpawnOptions &o,
                   std::chrono::seconds limit, const std::function<bool()> &ready) {
    auto log = [&] {
        std::ifstream f(o.log);
        return std::string(std::istreambuf_iterator<char>(f), {});
    };
    pid_t pid = spawn(argv, o);
    switch (wait_ready(pid, limit, ready)) {
    case Readiness::ready:
        return pid;
    case Readiness::exited:
        throw std::runtime_error(name + " exited at start: " + log());
    case Readiness::timed_out:
        break;
    }
    stop_process(pid);  // not left running with nobody holding its PID
    throw std::runtime_error(name + " did not start within " + std::to_string(limit.count()) + " s: " + log());
}

bool wait_listening(int port, pid_t pid, std::chrono::milliseconds limit) {
    return wait_ready(pid, limit, [port] { return loopback_port_open(port); }) == Readiness::ready;
}

bool process_alive(pid_t pid) {
    if (pid <= 0) return false;
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(st, line)) return false;
    auto close_paren = line.rfind(')');  // the command name may hold spaces and parentheses
    return close_paren != std::string::npos && close_paren + 2 < line.size() && line[close_paren + 2] != 'Z' &&
           line[close_paren + 2] != 'X';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (process_alive(pid)) {
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

Process::Process(const std::vector<std::string> &argv, const SpawnOptions &o)
    : pid_(spawn(argv, o)), group_(o.own_group) {}

Process Process::adopt(pid_t pid, bool group) {
    Process p;
    p.pid_ = pid;
    p.group_ = group;
    return p;
}

Process::Process(Process &&other) noexcept : pid_(other.pid_), status_(other.status_), group_(other.group_) {
    other.pid_ = -1;
}

Process &Process::operator=(Process &&other) noexcept {
    if (this != &other) {
        stop();
        pid_ = other.pid_;
        status_ = other.status_;
        group_ = other.group_;
        other.pid_ = -1;
    }
    return *this;
}

bool Process::running() {
    if (pid_ <= 0) return false;
    if (!exited(pid_, &status_)) return true;
    pid_ = -1;
    return false;
}

bool Process::stop(std::chrono::milliseconds grace) {
    if (!running()) return true;  // ended already: its PID (and group) may be another's now
    bool clean = true;
    if (group_)
        stop_group(pid_, grace);
    else
        clean = stop_process(pid_, grace, &status_);
    pid_ = -1;
    return clean;
}

void Process::kill_hard() {
    if (!running()) return;
    if (group_) kill(-pid_, SIGKILL);
    kill_process(pid_, &status_);
    pid_ = -1;
}

int run_command(const std::vector<std::string> &argv, const std::string &out_path, const RunOptions &o) {
    // The input goes into the pipe before the fork: no SIGPIPE race with a
    // command that exits early.
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    bool written = write(fds[1], o.input.data(), o.input.size()) == static_cast<ssize_t>(o.input.size());
    close(fds[1]);
    if (!written) {
        close(fds[0]);
        throw std::runtime_error("cannot write to a pipe");
    }
    SpawnOptions so;
    so.log = out_path;
    so.own_group = o.own_group;
    so.in_child = [&] { dup2(fds[0], 0); };  // dup2 clears FD_CLOEXEC on the copy
    pid_t pid;
    try {
        pid = spawn(argv, so);
    } catch (...) {
        close(fds[0]);
        throw;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (o.own_group)
        while (waitpid(-pid, nullptr, WNOHANG) > 0) {  // helpers orphaned to us (when we are a subreaper)
        }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace tally::test
