// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_server.cpp - listen, accept, read lines with time limits, answer */
#include "policy_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace tally::policy {

namespace {

/* block_signals - signals are the main thread's business (reload, stop) */
void block_signals() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

std::string peer_name(const sockaddr_storage &sa) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET) {
        auto *in = reinterpret_cast<const sockaddr_in *>(&sa);
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (sa.ss_family == AF_INET6) {
        auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    return "local";
}

bool write_all(int fd, const std::string &s) {
    std::size_t done = 0;
    while (done < s.size()) {
        ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

PolicyServer::PolicyServer(engine::ListenAddress where, ServerLimits limits, Handler handler, LoggerFn log)
    : where_(std::move(where)), limits_(limits), handler_(std::move(handler)), log_(std::move(log)) {}

PolicyServer::~PolicyServer() {
    stop();
    if (listen_fd_ >= 0) close(listen_fd_);
}

bool PolicyServer::open(std::string *error) {
    int fd = -1;
    auto fail = [&](const std::string &what) {
        *error = "policy_listen " + where_.text() + ": " + what + ": " + std::strerror(errno);
        if (fd >= 0) close(fd);
        return false;
    };
    if (where_.unix_socket) {
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        if (where_.path.size() >= sizeof sun.sun_path) {
            errno = ENAMETOOLONG;
            return fail("path too long");
        }
        std::memcpy(sun.sun_path, where_.path.c_str(), where_.path.size() + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail("socket");
        unlink(where_.path.c_str());  // a socket left by a daemon that was killed
        if (bind(fd, reinterpret_cast<sockaddr *>(&sun), sizeof sun) != 0) return fail("bind");
    } else {
        sockaddr_storage ss{};
        socklen_t len = 0;
        if (where_.host.find(':') != std::string::npos) {
            auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(static_cast<uint16_t>(where_.port));
            inet_pton(AF_INET6, where_.host.c_str(), &in6->sin6_addr);
            len = sizeof *in6;
        } else {
            auto *in = reinterpret_cast<sockaddr_in *>(&ss);
            in->sin_family = AF_INET;
            in->sin_port = htons(static_cast<uint16_t>(where_.port));
            inet_pton(AF_INET, where_.host.c_str(), &in->sin_addr);
            len = sizeof *in;
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail("socket");
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0) return fail("bind");
    }
    if (listen(fd, 128) != 0) return fail("listen");
    listen_fd_ = fd;
    return true;
}

void PolicyServer::start() {
    acceptor_ = std::thread([this] { accept_loop(); });
}

void PolicyServer::stop() {
    if (stopping_.exchange(true)) return;
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    if (acceptor_.joinable()) acceptor_.join();
    std::unique_lock<std::mutex> lock(mutex_);
    // A connection waiting for its next request is woken and closed; one
    // whose request is being answered finishes it (its poll comes after).
    for (int fd : open_fds_) shutdown(fd, SHUT_RD);
    gone_.wait(lock, [&] { return open_fds_.empty(); });
    if (where_.unix_socket) unlink(where_.path.c_str());
}

void PolicyServer::accept_loop() {
    block_signals();
    while (!stopping_) {
        sockaddr_storage sa{};
        socklen_t len = sizeof sa;
        int fd = accept4(listen_fd_, reinterpret_cast<sockaddr *>(&sa), &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (stopping_) break;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            // Out of descriptors or memory: say so, and give the system a moment.
            log_()->error("policy listener: accept failed: {}", std::strerror(errno));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        std::string peer = where_.unix_socket ? "unix" : peer_name(sa);
        std::lock_guard<std::mutex> lock(mutex_);
        if (static_cast<int>(open_fds_.size()) >= limits_.max_connections) {
            close(fd);
            auto now = std::chrono::steady_clock::now();
            if (now - last_flood_log_ > std::chrono::seconds(10)) {  // a flood must not flood the log too
                last_flood_log_ = now;
                log_()->warn("policy listener: {} connections open (policy_max_connections); closing new ones, "
                             "such as from {}",
                             limits_.max_connections, peer);
            }
            continue;
        }
        open_fds_.insert(fd);
        log_()->debug("policy connection from {} opened ({} open)", peer, open_fds_.size());
        std::thread([this, fd, peer] { serve(fd, peer); }).detach();
    }
}

void PolicyServer::serve(int fd, std::string peer) {
    block_signals();
    try {
        answer_all(fd, peer);
    } catch (const std::exception &e) {
        log_()->error("policy connection from {}: internal error: {}; connection closed", peer, e.what());
    }
    close(fd);
    std::lock_guard<std::mutex> lock(mutex_);
    open_fds_.erase(fd);
    gone_.notify_all();
}

void PolicyServer::answer_all(int fd, const std::string &peer) {
    RequestReader reader;
    std::string buffer;  // bytes read and not yet a whole line
    auto last_answer = std::chrono::steady_clock::now();  // or the connection's start
    auto request_began = last_answer;                      // the first byte of the request being read
    auto in_request = [&] { return reader.started() || !buffer.empty(); };
    std::chrono::milliseconds timeout_set{0};  // SO_RCVTIMEO now (0: to be set)
    for (;;) {
        // Lines already here first: a pipelined peer sends several at once.
        std::size_t nl, used = 0;  // lines are taken from the front; erased once, below
        while ((nl = buffer.find('\n', used)) != std::string::npos) {
            auto status = reader.add_line(std::string_view(buffer).substr(used, nl - used));
            used = nl + 1;
            if (status == RequestReader::Status::bad) {
                log_()->warn("policy connection from {}: {}; connection closed", peer, reader.error());
                return;
            }
            if (status != RequestReader::Status::complete) continue;
            ++busy_;
            std::string action;
            try {
                action = handler_(reader.request(), peer);
            } catch (...) {
                --busy_;
                throw;
            }
            --busy_;
            if (!write_all(fd, answer_text(action))) return;  // the peer left; nothing to answer
            last_answer = request_began = std::chrono::steady_clock::now();
        }
        buffer.erase(0, used);
        if (buffer.size() > kMaxLine + 1) {
            log_()->warn("policy connection from {}: line longer than {} bytes; connection closed", peer, kMaxLine);
            return;
        }
        auto now = std::chrono::steady_clock::now();
        auto deadline = in_request() ? request_began + limits_.request_timeout : last_answer + limits_.idle_timeout;
        if (now >= deadline) {
            if (in_request())
                log_()->warn("policy connection from {}: request not whole within {} s; connection closed", peer,
                             limits_.request_timeout.count() / 1000.0);
            else
                log_()->debug("policy connection from {}: idle for {} s; closed", peer,
                              limits_.idle_timeout.count() / 1000.0);
            return;
        }
        // A blocking recv with the time left as the socket's receive timeout:
        // one system call per request where poll and recv took two. The
        // timeout is set again only when the one set is too long (a request
        // has begun) or much too short (idle again after a request that came
        // in pieces), not for every request: waiting for the next request
        // after an answer, the idle timeout set is the time left.
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1);
        if (timeout_set == std::chrono::milliseconds::zero() || left < timeout_set || left > 2 * timeout_set) {
            timeval tv{static_cast<time_t>(left.count() / 1000), static_cast<suseconds_t>(left.count() % 1000 * 1000)};
            if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return;
            timeout_set = left;
        }
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            timeout_set = std::chrono::milliseconds::zero();  // the deadline check above says what happened
            continue;
        }
        if (n <= 0) {
            if (in_request())
                log_()->warn("policy connection from {}: closed in the middle of a request; not answered", peer);
            return;
        }
        if (!in_request()) request_began = std::chrono::steady_clock::now();
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace tally::policy
