// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tallyd - per-account quotas and sender restrictions for Postfix and Exim, kept in LDAP
 *
 * SYNOPSIS
 *   tallyd -c FILE [-f] [-n [-b]]
 *
 * DESCRIPTION
 *   One daemon, two front doors to one decision flow (engine/):
 *     - the milter (socket; Postfix's smtpd_milters), milter/milter_door.h;
 *     - Postfix's policy delegation protocol (policy_listen; Postfix's
 *       check_policy_service, Exim's ${readsocket}), policy/.
 *   Either or both. For each authenticated message it finds the account of
 *   the SASL login in the directory, applies sender restrictions, and
 *   charges the account through slapo-tally's charge operation, once, with
 *   the queue id as charge id. The answer follows the verdict.
 *
 *   -c FILE  configuration (tallyd.conf(5))
 *   -f       stay in the foreground
 *   -n       check the configuration (and the password file) and exit
 *            (0: fine, 1: errors listed)
 *   -b       with -n: also bind to each directory server as the service
 *            identity and say how it went
 *
 *   SIGUSR1 re-reads the configuration: messages in flight finish with the
 *   old one; a file with errors is refused and the old one keeps running.
 *   SIGTERM (or SIGINT, SIGHUP) stops: requests being answered finish, and
 *   the daemon is gone at once when no message is in flight.
 *
 * DIAGNOSTICS
 *   One log line per message (syslog, mail facility; stderr; or a file):
 *   qid, login, client, sender, recipients, bytes, verdict, reason, reply,
 *   usage after the charge; "UNCOUNTED" marks a message a failure policy
 *   let through without charging, for reconciliation.
 */
#include "directory.h"
#include "listen_address.h"
#include "message_log.h"
#include "metrics.h"
#include "milter_door.h"
#include "policy_door.h"
#include "policy_server.h"
#include "runtime.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace tally::daemon {

namespace {

std::string g_config_path;
volatile sig_atomic_t g_stop_signal = 0;  // SIGTERM, SIGINT or SIGHUP arrived
std::shared_ptr<Metrics> g_metrics;       // one per process: every Runtime counts here

int drop_privileges(const std::string &user) {
    if (user.empty()) return 0;
    struct passwd *pw = getpwnam(user.c_str());
    if (!pw) {
        std::fprintf(stderr, "tallyd: no such user \"%s\"\n", user.c_str());
        return -1;
    }
    if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        std::fprintf(stderr, "tallyd: cannot become user \"%s\": %s\n", user.c_str(), std::strerror(errno));
        return -1;
    }
    return 0;
}

/* start_runtime - the Runtime that serves; false (said on stderr) when the configuration cannot work */
bool start_runtime(const engine::Config &cfg) {
    try {
        install_runtime(std::make_shared<Runtime>(cfg, g_metrics));
        g_metrics->configuration_loaded();
        return true;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "tallyd: %s\n", e.what());
        return false;
    }
}

/* reload - SIGUSR1: re-read the configuration; keep the old one on errors */
void reload() {
    auto old = current_runtime();
    std::vector<std::string> errors;
    auto cfg = engine::load_config(g_config_path, errors);
    if (!cfg) {
        for (const auto &e : errors) old->log->error("reload refused: {}", e);
        g_metrics->reload(false);
        return;
    }
    try {
        auto fresh = std::make_shared<Runtime>(*cfg, g_metrics);
        if (cfg->socket != old->cfg.socket || cfg->policy_listen != old->cfg.policy_listen || cfg->user != old->cfg.user ||
            cfg->metrics_listen != old->cfg.metrics_listen)
            fresh->log->warn("socket, policy_listen, metrics_listen and user take effect only at restart");
        install_runtime(fresh);
        g_metrics->reload(true);
        g_metrics->configuration_loaded();
        fresh->cancels->adopt(old->cancels->take_all());  // refused messages must still not count
        fresh->log->info("configuration reloaded from {}", g_config_path);
    } catch (const std::exception &e) {
        old->log->error("reload refused: {}", e.what());
        g_metrics->reload(false);
    }
}

/* policy_handler - one policy request through the Runtime of the moment */
policy::PolicyServer::Handler policy_handler() {
    // Messages refused at RCPT, and the recipients of messages in progress,
    // outlive reloads: their end of message must be decided on them.
    auto memory = std::make_shared<policy::PolicyMemory>();
    return [memory](const policy::PolicyRequest &req, const std::string &peer) {
        auto rt = current_runtime();
        auto t0 = std::chrono::steady_clock::now();
        policy::PolicyAnswer a = policy::answer(rt->cfg, *rt->backend, *rt->cache, *memory, req);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        count_message(*rt, Door::policy, a.outcome, a.end_of_message ? ms / 1000 : -1);
        std::string line = fmt::format("{} policy_ms={:.3f} peer={}", a.log_line, ms, peer);
        switch (a.log) {
        case policy::PolicyAnswer::Log::none: break;
        case policy::PolicyAnswer::Log::debug: rt->log->debug("{}", line); break;
        case policy::PolicyAnswer::Log::info: report_message(*rt, true, line, a.alert); break;
        case policy::PolicyAnswer::Log::warn: report_message(*rt, false, line, a.alert); break;
        }
        return a.action;
    };
}

int run(const engine::Config &cfg) {
    // A daemon's Runtime is made after the fork: a forked child keeps only
    // the forking thread, so the Runtime's own threads (the cancel queue)
    // would be missing there, and a lock one of them held at the fork would
    // stay locked for good (milter hung at its first message). Before the
    // fork a trial Runtime, destroyed again (its threads joined), fails a
    // bad configuration with its message and exit status.
    g_metrics = std::make_shared<Metrics>();
    if (!start_runtime(cfg)) return 1;
    if (!cfg.foreground) install_runtime(nullptr);

    // civetweb's threads would not survive the fork: the metrics listener
    // starts after it. Its address is tried here, so that a port in use
    // fails the start with its message and exit status.
    std::string error;
    std::optional<engine::ListenAddress> metrics_address;
    if (!cfg.metrics_listen.empty()) {
        metrics_address = engine::parse_http_listen_address(cfg.metrics_listen);
        if (!can_listen(*metrics_address, &error)) {
            std::fprintf(stderr, "tallyd: metrics_listen %s\n", error.c_str());
            return 1;
        }
    }
    const bool with_milter = cfg.socket != "none";
    if (with_milter && !milter::open(cfg.socket, &error)) {
        std::fprintf(stderr, "tallyd: %s\n", error.c_str());
        return 1;
    }
    std::unique_ptr<policy::PolicyServer> policy_server;
    if (!cfg.policy_listen.empty()) {
        policy::ServerLimits limits;
        limits.max_connections = cfg.policy_max_connections;
        limits.idle_timeout = std::chrono::seconds(cfg.policy_idle_timeout);
        limits.request_timeout = std::chrono::seconds(cfg.policy_request_timeout);
        policy_server = std::make_unique<policy::PolicyServer>(*engine::parse_listen_address(cfg.policy_listen), limits,
                                                               policy_handler(), [] { return current_runtime()->log; });
        if (!policy_server->open(&error)) {
            std::fprintf(stderr, "tallyd: %s\n", error.c_str());
            return 1;
        }
    }
    if (!cfg.foreground) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid > 0) _exit(0);
        setsid();
        if (!start_runtime(cfg)) return 1;
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            if (!logs_to_stderr(cfg)) dup2(devnull, 2);
        }
    }
    // The PID file is written while still root (its directory may be root's,
    // like /run); it is removed at exit when the directory lets user do so.
    if (!cfg.pid_file.empty()) std::ofstream(cfg.pid_file) << getpid() << "\n";
    // Bound while still root, like the doors (a port below 1024 stays possible).
    std::unique_ptr<MetricsServer> metrics_server;
    if (metrics_address) {
        metrics_server = std::make_unique<MetricsServer>(g_metrics);
        if (!metrics_server->start(*metrics_address, &error)) {
            current_runtime()->log->error("{}", error);
            std::fprintf(stderr, "tallyd: %s\n", error.c_str());
            return 1;
        }
        if (!metrics_address->loopback())
            current_runtime()->log->warn("metrics_listen {} is not a loopback address: every host that reaches it reads "
                                         "the counters",
                                         cfg.metrics_listen);
    }
    if (drop_privileges(cfg.user) != 0) return 1;

    // SIGUSR1 is blocked in every thread (the mask is inherited) and taken
    // by the main thread's sigtimedwait below. SIGTERM, SIGINT and SIGHUP set
    // a flag through a handler instead: libmilter's own signal thread also
    // waits for them with sigwait, and a handler in the main thread, which
    // does not block them, is where Linux delivers a signal sent to the
    // process first; whichever takes one, the daemon stops.
    sigset_t reload_set;
    sigemptyset(&reload_set);
    sigaddset(&reload_set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &reload_set, nullptr);
    struct sigaction stop_action {};
    stop_action.sa_handler = [](int sig) { g_stop_signal = sig; };
    sigemptyset(&stop_action.sa_mask);
    for (int sig : {SIGTERM, SIGHUP, SIGINT}) sigaction(sig, &stop_action, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::atomic<bool> milter_done{!with_milter};
    std::thread milter_thread;
    if (with_milter) {
        milter_thread = std::thread([&] {
            if (!milter::run()) current_runtime()->log->error("the milter stopped with an error");
            milter_done = true;
        });
    }
    if (policy_server) policy_server->start();
    auto rt = current_runtime();
    rt->log->info("tallyd listening on {}{}{}{}", with_milter ? "milter " + cfg.socket : std::string(),
                  with_milter && policy_server ? " and " : "",
                  policy_server ? "policy " + engine::parse_listen_address(cfg.policy_listen)->text() : std::string(),
                  metrics_server ? ", metrics on http://" + cfg.metrics_listen + "/metrics" : std::string());
    rt.reset();

    while (g_stop_signal == 0) {
        timespec tick = {0, 100 * 1000 * 1000};
        if (sigtimedwait(&reload_set, nullptr, &tick) == SIGUSR1) reload();
        if (with_milter && milter_done) break;  // libmilter took the signal, or failed
    }
    auto log = current_runtime()->log;
    log->info("tallyd stopping");
    if (policy_server) policy_server->stop();  // requests being answered finish first
    // smfi_stop() waits for libmilter's listener, which looks up only every
    // few seconds: it runs aside, while a message in flight is given its
    // answer (at most ldap_timeout and a second); the rest need no wait.
    if (with_milter && !milter_done) std::thread(milter::stop).detach();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.ldap_timeout_ms + 1000);
    while (!milter_done && milter::messages_in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log->info("tallyd stopped");
    if (!cfg.pid_file.empty()) unlink(cfg.pid_file.c_str());
    if (!milter_done) {
        // libmilter's threads still run; returning would destroy what they use.
        current_runtime()->cancels->stop();  // says which cancels were not sent; stays for those threads
        log->flush();
        _exit(0);
    }
    if (milter_thread.joinable()) milter_thread.join();
    metrics_server.reset();  // civetweb's threads end before what they read
    return 0;
}

}  // namespace

}  // namespace tally::daemon

int main(int argc, char **argv) {
    using namespace tally;
    using namespace tally::daemon;
    bool check_only = false, bind_check = false, foreground = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:fnbh")) != -1) {
        switch (opt) {
        case 'c': g_config_path = optarg; break;
        case 'f': foreground = true; break;
        case 'n': check_only = true; break;
        case 'b': bind_check = true; break;
        default:
            std::fprintf(opt == 'h' ? stdout : stderr,
                         "usage: tallyd -c FILE [-f] [-n [-b]]\n\noptions of FILE (key = value):\n");
            for (const auto &o : engine::option_table())
                std::fprintf(opt == 'h' ? stdout : stderr, "  %-26s %s (default: %s)\n", o.name.c_str(),
                             o.help.c_str(), o.default_value.empty() ? "none" : o.default_value.c_str());
            return opt == 'h' ? 0 : 2;
        }
    }
    if (g_config_path.empty()) {
        std::fprintf(stderr, "tallyd: -c FILE is required\n");
        return 2;
    }
    if (bind_check && !check_only) {
        std::fprintf(stderr, "tallyd: -b goes with -n\n");
        return 2;
    }
    std::vector<std::string> errors;
    auto cfg = engine::load_config(g_config_path, errors);
    for (const auto &e : errors) std::fprintf(stderr, "tallyd: %s\n", e.c_str());
    if (!cfg) return 1;
    if (check_only) {
        if (auto e = check_password_file(*cfg)) {
            std::fprintf(stderr, "tallyd: %s\n", e->c_str());
            return 1;
        }
        if (bind_check) {
            bool bound = false;
            for (const auto &line : check_binds(*cfg, &bound)) std::printf("tallyd: %s\n", line.c_str());
            if (!bound) return 1;
        }
        std::printf("tallyd: %s is valid\n", g_config_path.c_str());
        return 0;
    }
    if (foreground) cfg->foreground = true;
    return run(*cfg);
}
