// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally-web - the web console: users, domain administrators and operators acting as themselves
 *
 * SYNOPSIS
 *   tally-web [-c FILE] [-n] [-h]
 *
 * DESCRIPTION
 *   Serves the console (console.h) over HTTP, or HTTPS with
 *   tls_certificate, on listen (loopback by default). Runs in the
 *   foreground (systemd, or "&" in scripts). -n checks the configuration
 *   and exits; -h lists every option with its default.
 *   SIGHUP re-reads the configuration: a bad file leaves the old one in
 *   force, and a new listen address needs a restart (said in the log).
 *   SIGTERM or SIGINT stop: requests being answered finish.
 *
 * DIAGNOSTICS
 *   Exit 0: stopped, or -n found no problem. 1: a configuration error
 *   (each printed as FILE:LINE: message). 2: cannot listen or start.
 */
#include "http_server.h"
#include "ldap_client.h"
#include "web_config.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace {

using namespace tally;

[[noreturn]] void usage(bool help) {
    std::FILE *out = help ? stdout : stderr;
    std::fprintf(out, "usage: tally-web [-c FILE] [-n] [-h]\n  -c FILE  configuration (default /etc/tally/tally-web.conf)\n"
                      "  -n       check the configuration and exit\n\noptions of the file (key = value):\n");
    if (help)
        for (const auto &o : web::web_option_table())
            std::fprintf(out, "  %-22s %-40s %s\n", o.name.c_str(), o.default_value.c_str(), o.help.c_str());
    std::exit(help ? 0 : 1);
}

/* load - the configuration and the search identity's password; errors printed */
std::optional<std::pair<web::WebConfig, std::string>> load(const std::string &path) {
    std::vector<std::string> errors;
    auto cfg = web::load_web_config(path, errors);
    std::string password;
    if (cfg && !cfg->search_password_file.empty()) {
        std::string err;
        auto pw = client::read_password_file(cfg->search_password_file, &err);
        if (!pw) errors.push_back(path + ": search_password_file: " + err);
        else password = *pw;
    }
    if (!errors.empty()) {
        for (const auto &e : errors) spdlog::error("{}", e);
        return std::nullopt;
    }
    return std::make_pair(*cfg, password);
}

std::shared_ptr<spdlog::logger> make_logger(const std::string &target) {
    if (target == "stderr") return spdlog::stderr_logger_mt("tally-web-stderr");
    if (target == "syslog") return spdlog::syslog_logger_mt("tally-web-syslog", "tally-web", LOG_PID, LOG_DAEMON);
    return spdlog::basic_logger_mt("tally-web-file", target);
}

}  // namespace

int main(int argc, char **argv) {
    std::string path = "/etc/tally/tally-web.conf";
    bool check = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:nh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'n': check = true; break;
        case 'h': usage(true);
        default: usage(false);
        }
    }
    if (optind != argc) usage(false);
    auto loaded = load(path);
    if (!loaded) return 1;
    if (check) {
        std::printf("%s: OK\n", path.c_str());
        return 0;
    }
    std::shared_ptr<spdlog::logger> log;
    try {
        log = make_logger(loaded->first.log_target);
    } catch (const std::exception &e) {
        spdlog::error("log_target {}: {}", loaded->first.log_target, e.what());
        return 2;
    }
    log->flush_on(spdlog::level::info);
    // Every thread civetweb starts inherits this mask: the signals are the main thread's.
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    web::Console console(loaded->first, loaded->second, [log](char level, const std::string &line) {
        if (level == 'e') log->error("{}", line);
        else if (level == 'w') log->warn("{}", line);
        else log->info("{}", line);
    });
    std::unique_ptr<web::HttpServer> server;
    try {
        server = std::make_unique<web::HttpServer>(console, loaded->first);
    } catch (const std::exception &e) {
        log->error("{}", e.what());
        return 2;
    }
    if (!loaded->first.pid_file.empty()) std::ofstream(loaded->first.pid_file) << getpid() << "\n";
    std::string listening = loaded->first.listen;
    log->info("tally-web listening on {} ({}), directory {}", listening,
              loaded->first.tls_certificate.empty() ? "http" : "https", loaded->first.ldap_uri);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            auto fresh = load(path);
            if (!fresh) {
                log->error("reload of {} failed: the old configuration stays in force", path);
                continue;
            }
            if (fresh->first.listen != listening || fresh->first.tls_certificate != loaded->first.tls_certificate)
                log->warn("reload: listen and tls_certificate take effect at the next start");
            console.reload(fresh->first, fresh->second);
            log->info("reloaded {}", path);
            continue;
        }
        log->info("stopping on signal {}", sig);
        break;
    }
    server.reset();
    if (!loaded->first.pid_file.empty()) unlink(loaded->first.pid_file.c_str());
    return 0;
}
