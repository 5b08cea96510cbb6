// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* alert_sender.cpp - child processes for alert mail and alert commands */
#include "alert_sender.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <csignal>
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char **environ;

namespace tally::daemon {

namespace {

std::atomic<int> g_in_flight{0};

std::vector<std::string> split_words(const std::string &s) {
    std::vector<std::string> out;
    std::string cur;
    for (char ch : s) {
        if (ch == ' ' || ch == '\t') {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += ch;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

struct Job {
    std::string what;                // "alert mail" / "alert command", for the log
    std::vector<std::string> argv;
    std::vector<std::string> extra_env;
    std::string input;               // written to the child's stdin
    bool mail = false;               // alert mail, else the alert command (for the metrics)
};

/* run_job - spawn, feed stdin, wait at most timeout; returns a failure text or "" */
std::string run_job(const Job &job, int timeout_s) {
    int sv[2];
    // A socket pair, not a pipe: send() with MSG_NOSIGNAL cannot raise SIGPIPE
    // in the milter when the child exits without reading.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return std::string("socketpair: ") + std::strerror(errno);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    // Nothing of the milter's (SMTP sessions, LDAP connections) reaches the child.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // The milter's threads block SIGTERM/SIGHUP/SIGINT; children must not inherit that.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char *> argv;
    for (const auto &a : job.argv) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char *> envp;
    for (char **e = environ; *e; ++e)
        if (std::strncmp(*e, "TALLY_", 6) != 0) envp.push_back(*e);
    for (const auto &e : job.extra_env) envp.push_back(const_cast<char *>(e.c_str()));
    envp.push_back(nullptr);

    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return "cannot run " + job.argv[0] + ": " + std::strerror(rc);
    }
    std::size_t off = 0;
    while (off < job.input.size()) {
        ssize_t n = send(sv[0], job.input.data() + off, job.input.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the child stopped reading; its exit status tells
        off += static_cast<std::size_t>(n);
    }
    close(sv[0]);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
        if (std::chrono::steady_clock::now() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return "killed after " + std::to_string(timeout_s) + " s (alert_timeout)";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    return "ended by signal " + std::to_string(WTERMSIG(status));
}

/* notify - the body of one notification's thread */
void notify(Job job, std::shared_ptr<spdlog::logger> log, int timeout, std::string account,
            std::shared_ptr<Metrics> metrics) {
    sigset_t all;  // signals are the main thread's business
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::string failure;
    try {
        failure = run_job(job, timeout);
    } catch (const std::exception &e) {
        failure = e.what();
    }
    if (failure.empty()) log->info("{} for \"{}\" sent", job.what, account);
    else log->error("{} for \"{}\" failed: {}", job.what, account, failure);
    if (metrics) metrics->alert(job.mail, failure.empty());
    g_in_flight.fetch_sub(1);
}

}  // namespace

void send_alert(const engine::Config &c, const std::shared_ptr<spdlog::logger> &log, const engine::LimitAlert &a,
                std::shared_ptr<Metrics> metrics) {
    log->warn("{}", engine::alert_log_line(a));
    std::vector<Job> jobs;
    if (!c.alert_mail_to.empty()) {
        Job j{"alert mail to <" + c.alert_mail_to + ">", split_words(c.alert_sendmail), {},
              engine::alert_mail(a, c.alert_mail_from, c.alert_mail_to)};
        j.mail = true;
        j.argv.push_back("-i");
        if (!c.alert_mail_from.empty()) {
            j.argv.push_back("-f");
            j.argv.push_back(c.alert_mail_from);
        }
        j.argv.push_back("--");
        j.argv.push_back(c.alert_mail_to);
        jobs.push_back(std::move(j));
    }
    if (!c.alert_command.empty())
        jobs.push_back(Job{"alert command", {"/bin/sh", "-c", c.alert_command}, engine::alert_environment(a), {}});
    for (Job &job : jobs) {
        if (g_in_flight.fetch_add(1) >= kMaxAlertsInFlight) {
            g_in_flight.fetch_sub(1);
            if (metrics) metrics->alert(job.mail, false);
            log->error("{} for {} not sent: {} alerts already running", job.what, a.account, kMaxAlertsInFlight);
            continue;
        }
        // A thread that cannot start must not fail the message: it is counted already.
        std::string what = job.what;
        const bool mail = job.mail;
        try {
            std::thread(notify, std::move(job), log, c.alert_timeout, a.account, metrics).detach();
        } catch (const std::exception &e) {
            g_in_flight.fetch_sub(1);
            if (metrics) metrics->alert(mail, false);
            log->error("{} for \"{}\" not sent: {}", what, a.account, e.what());
        }
    }
}

int alerts_in_flight() { return g_in_flight.load(); }

}  // namespace tally::daemon
