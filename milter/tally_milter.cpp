// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally-milter - per-account quotas and sender restrictions for Postfix, kept in LDAP
 *
 * SYNOPSIS
 *   tally-milter -c FILE [-f] [-n]
 *
 * DESCRIPTION
 *   A libmilter daemon for Postfix's smtpd_milters. For each authenticated
 *   message it finds the account of the SASL login in the directory,
 *   applies sender restrictions, counts the recipients Postfix accepted and
 *   the bytes received, and at end of data charges the account through
 *   slapo-tally's charge operation, once, with the queue id as charge id.
 *   The answer follows the verdict: accept, reject or defer.
 *
 *   -c FILE  configuration (tally-milter.conf(5))
 *   -f       stay in the foreground
 *   -n       check the configuration and exit (0: fine, 1: errors listed)
 *
 *   SIGUSR1 re-reads the configuration: messages in flight finish with the
 *   old one; a file with errors is refused and the old one keeps running.
 *   SIGTERM stops accepting connections and finishes cleanly.
 *
 * DIAGNOSTICS
 *   One log line per message (syslog, mail facility, or stderr):
 *   qid, login, client, sender, recipients, bytes, verdict, reason, reply,
 *   usage after the charge; "UNCOUNTED" marks a message a failure policy
 *   let through without charging, for reconciliation.
 */
#include "directory.h"
#include "alert_sender.h"
#include "message_flow.h"
#include "message_log.h"
#include "milter_config.h"

#include <libmilter/mfapi.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

namespace tally::milter {

namespace {

/* Runtime - one configuration and what is built from it. Each SMTP
 * connection holds the Runtime it started with, so a reload never changes
 * a message in flight. */
struct Runtime {
    MilterConfig cfg;
    std::shared_ptr<spdlog::logger> log;
    std::unique_ptr<Directory> directory;
    std::unique_ptr<CancelQueue> cancels;  // destroyed before the directory it uses
    std::unique_ptr<DirectoryBackend> backend;
    std::unique_ptr<AccountCache> cache;

    explicit Runtime(const MilterConfig &c)
        : cfg(c),
          log(make_logger(cfg)),
          directory(std::make_unique<Directory>(cfg)),
          cancels(std::make_unique<CancelQueue>(*directory, log)),
          backend(std::make_unique<DirectoryBackend>(*directory, *cancels)),
          cache(std::make_unique<AccountCache>(static_cast<std::size_t>(cfg.cache_size),
                                               std::chrono::seconds(cfg.cache_ttl))) {}
};

std::shared_ptr<Runtime> g_runtime;  // read and replaced with std::atomic_load/store
std::string g_config_path;

std::shared_ptr<Runtime> current() { return std::atomic_load(&g_runtime); }

/* Session - per SMTP connection */
struct Session {
    std::shared_ptr<Runtime> rt;
    std::string client;
    std::unique_ptr<MessageFlow> flow;
};

Session *session_of(SMFICTX *ctx) { return static_cast<Session *>(smfi_getpriv(ctx)); }

std::string macro(SMFICTX *ctx, const char *name) {
    const char *v = smfi_getsymval(ctx, const_cast<char *>(name));
    return v ? v : "";
}

/* answer - a decision as a libmilter status, with its reply */
sfsistat answer(SMFICTX *ctx, const Decision &d) {
    if (d.action == Action::accept) return SMFIS_CONTINUE;
    if (!d.reply.code.empty())
        smfi_setreply(ctx, const_cast<char *>(d.reply.code.c_str()), const_cast<char *>(d.reply.xcode.c_str()),
                      const_cast<char *>(d.reply.text.c_str()));
    return d.action == Action::reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* guarded - no exception may cross into libmilter: fail temporarily instead */
template <typename F>
sfsistat guarded(SMFICTX *ctx, const char *where, F f) noexcept {
    try {
        return f();
    } catch (const std::exception &e) {
        if (auto rt = current()) rt->log->error("internal error in {}: {}", where, e.what());
    } catch (...) {
        if (auto rt = current()) rt->log->error("internal error in {}", where);
    }
    return SMFIS_TEMPFAIL;
}

sfsistat cb_negotiate(SMFICTX *ctx, unsigned long, unsigned long, unsigned long, unsigned long, unsigned long *,
                      unsigned long *, unsigned long *, unsigned long *) {
    smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char *>("{client_addr}"));
    smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char *>("{auth_authen} {auth_type}"));
    smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char *>("i {auth_authen}"));
    return SMFIS_ALL_OPTS;
}

sfsistat cb_connect(SMFICTX *ctx, char *, _SOCK_ADDR *addr) {
    return guarded(ctx, "connect", [&] {
        auto s = std::make_unique<Session>();
        s->rt = current();
        s->client = macro(ctx, "{client_addr}");
        if (s->client.empty() && addr) {
            char buf[INET6_ADDRSTRLEN] = "";
            if (addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in *>(addr)->sin_addr, buf, sizeof buf);
            else if (addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6 *>(addr)->sin6_addr, buf, sizeof buf);
            s->client = buf;
        }
        s->flow = std::make_unique<MessageFlow>(s->rt->cfg, *s->rt->backend, *s->rt->cache);
        smfi_setpriv(ctx, s.release());
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_envfrom(SMFICTX *ctx, char **argv) {
    return guarded(ctx, "MAIL FROM", [&] {
        Session *s = session_of(ctx);
        if (!s) return SMFIS_TEMPFAIL;
        std::string login = macro(ctx, "{auth_authen}");
        auto d = s->flow->mail_from(login, argv && argv[0] ? argv[0] : "", s->client);
        if (!d) return SMFIS_CONTINUE;
        if (login.empty() && d->action == Action::accept) {
            s->rt->log->debug("{}", s->flow->log_line());
            return SMFIS_ACCEPT;  // unauthenticated and not a relay host: not ours to count
        }
        if (d->action == Action::accept) return SMFIS_CONTINUE;  // logged once, at end of data
        s->rt->log->info("{}", s->flow->log_line());
        return answer(ctx, *d);
    });
}

sfsistat cb_envrcpt(SMFICTX *ctx, char **) {
    if (Session *s = session_of(ctx)) s->flow->add_recipient();
    return SMFIS_CONTINUE;
}

sfsistat cb_header(SMFICTX *ctx, char *name, char *value) {
    // as received: "Name: value" CRLF
    if (Session *s = session_of(ctx)) s->flow->add_bytes(std::strlen(name) + 2 + std::strlen(value) + 2);
    return SMFIS_CONTINUE;
}

sfsistat cb_eoh(SMFICTX *ctx) {
    if (Session *s = session_of(ctx)) s->flow->add_bytes(2);  // the empty line
    return SMFIS_CONTINUE;
}

sfsistat cb_body(SMFICTX *ctx, unsigned char *, size_t len) {
    if (Session *s = session_of(ctx)) s->flow->add_bytes(len);
    return SMFIS_CONTINUE;
}

sfsistat cb_eom(SMFICTX *ctx) {
    return guarded(ctx, "end of data", [&] {
        Session *s = session_of(ctx);
        if (!s) return SMFIS_TEMPFAIL;
        auto t0 = std::chrono::steady_clock::now();
        Decision d = s->flow->end_of_data(macro(ctx, "i"));
        if (d.action == Action::accept && s->rt->cfg.usage_header && s->flow->usage())
            smfi_addheader(ctx, const_cast<char *>("X-Tally-Usage"),
                           const_cast<char *>(usage_summary(*s->flow->usage()).c_str()));
        // eom_ms: the time this message waited for the milter at end of data
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (d.action == Action::accept) s->rt->log->info("{} eom_ms={:.3f}", s->flow->log_line(), ms);
        else s->rt->log->warn("{} eom_ms={:.3f}", s->flow->log_line(), ms);
        if (auto alert = s->flow->alert()) send_alert(s->rt->cfg, s->rt->log, *alert);
        return answer(ctx, d);
    });
}

sfsistat cb_abort(SMFICTX *) { return SMFIS_CONTINUE; }

sfsistat cb_close(SMFICTX *ctx) {
    delete session_of(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

struct smfiDesc g_desc = {
    const_cast<char *>("tally-milter"),
    SMFI_VERSION,
    SMFIF_ADDHDRS,
    cb_connect,
    nullptr,  // helo
    cb_envfrom,
    cb_envrcpt,
    cb_header,
    cb_eoh,
    cb_body,
    cb_eom,
    cb_abort,
    cb_close,
    nullptr,  // unknown
    nullptr,  // data
    cb_negotiate,
};

/* reload_thread - SIGUSR1: re-read the configuration; keep the old one on errors */
void reload_thread(sigset_t set) {
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        auto old = current();
        std::vector<std::string> errors;
        auto cfg = load_config(g_config_path, errors);
        if (!cfg) {
            for (const auto &e : errors) old->log->error("reload refused: {}", e);
            continue;
        }
        try {
            auto fresh = std::make_shared<Runtime>(*cfg);
            if (cfg->socket != old->cfg.socket || cfg->user != old->cfg.user)
                fresh->log->warn("socket and user take effect only at restart");
            std::atomic_store(&g_runtime, fresh);
            fresh->cancels->adopt(old->cancels->take_all());  // refused messages must still not count
            fresh->log->info("configuration reloaded from {}", g_config_path);
        } catch (const std::exception &e) {
            old->log->error("reload refused: {}", e.what());
        }
    }
}

int drop_privileges(const std::string &user) {
    if (user.empty()) return 0;
    struct passwd *pw = getpwnam(user.c_str());
    if (!pw) {
        std::fprintf(stderr, "tally-milter: no such user \"%s\"\n", user.c_str());
        return -1;
    }
    if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        std::fprintf(stderr, "tally-milter: cannot become user \"%s\": %s\n", user.c_str(), std::strerror(errno));
        return -1;
    }
    return 0;
}

/* start_runtime - the Runtime that serves; false (said on stderr) when the configuration cannot work */
bool start_runtime(const MilterConfig &cfg) {
    try {
        std::atomic_store(&g_runtime, std::make_shared<Runtime>(cfg));
        return true;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "tally-milter: %s\n", e.what());
        return false;
    }
}

int run(const MilterConfig &cfg) {
    // A daemon's Runtime is made after the fork: a forked child keeps only
    // the forking thread, so the Runtime's own threads (the cancel queue)
    // would be missing there, and a lock one of them held at the fork would
    // stay locked for good (milter hung at its first message). Before the
    // fork a trial Runtime, destroyed again (its threads joined), fails a
    // bad configuration with its message and exit status.
    if (!start_runtime(cfg)) return 1;
    if (!cfg.foreground) std::atomic_store(&g_runtime, std::shared_ptr<Runtime>());
    if (cfg.socket.starts_with("unix:") || cfg.socket.starts_with("local:"))
        unlink(cfg.socket.substr(cfg.socket.find(':') + 1).c_str());
    if (smfi_setconn(const_cast<char *>(cfg.socket.c_str())) == MI_FAILURE ||
        smfi_register(g_desc) == MI_FAILURE || smfi_opensocket(true) == MI_FAILURE) {
        std::fprintf(stderr, "tally-milter: cannot listen on %s\n", cfg.socket.c_str());
        return 1;
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
            if (cfg.log_target != "stderr") dup2(devnull, 2);
        }
    }
    // The PID file is written while still root (its directory may be root's,
    // like /run); it is removed at exit when the directory lets user do so.
    if (!cfg.pid_file.empty()) std::ofstream(cfg.pid_file) << getpid() << "\n";
    if (drop_privileges(cfg.user) != 0) return 1;

    // SIGUSR1 is waited for by our reload thread; SIGTERM, SIGHUP and SIGINT
    // by libmilter's signal thread. All four are blocked in every thread
    // (the mask is inherited), so none of them kills a thread that happens
    // to receive it.
    sigset_t reload_set, blocked;
    sigemptyset(&reload_set);
    sigaddset(&reload_set, SIGUSR1);
    blocked = reload_set;
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGINT);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    std::thread(reload_thread, reload_set).detach();
    signal(SIGPIPE, SIG_IGN);

    current()->log->info("tally-milter listening on {}", cfg.socket);
    int rc = smfi_main();
    current()->log->info("tally-milter stopped");
    if (!cfg.pid_file.empty()) unlink(cfg.pid_file.c_str());
    return rc == MI_SUCCESS ? 0 : 1;
}

}  // namespace

}  // namespace tally::milter

int main(int argc, char **argv) {
    using namespace tally::milter;
    bool check_only = false, foreground = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:fnh")) != -1) {
        switch (opt) {
        case 'c': g_config_path = optarg; break;
        case 'f': foreground = true; break;
        case 'n': check_only = true; break;
        default:
            std::fprintf(stderr, "usage: tally-milter -c FILE [-f] [-n]\n\noptions of FILE (key = value):\n");
            for (const auto &o : option_table())
                std::fprintf(stderr, "  %-26s %s (default: %s)\n", o.name.c_str(), o.help.c_str(),
                             o.default_value.empty() ? "none" : o.default_value.c_str());
            return opt == 'h' ? 0 : 2;
        }
    }
    if (g_config_path.empty()) {
        std::fprintf(stderr, "tally-milter: -c FILE is required\n");
        return 2;
    }
    std::vector<std::string> errors;
    auto cfg = load_config(g_config_path, errors);
    for (const auto &e : errors) std::fprintf(stderr, "tally-milter: %s\n", e.c_str());
    if (!cfg) return 1;
    if (check_only) {
        std::printf("tally-milter: %s is valid\n", g_config_path.c_str());
        return 0;
    }
    if (foreground) cfg->foreground = true;
    return run(*cfg);
}
