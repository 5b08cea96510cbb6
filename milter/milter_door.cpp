// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* milter_door.cpp - libmilter callbacks: facts in, decisions out */
#include "milter_door.h"

#include "message_flow.h"
#include "runtime.h"

#include <libmilter/mfapi.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

namespace tally::milter {

using engine::Action;
using engine::Decision;

namespace {

std::atomic<int> g_in_flight{0};

std::shared_ptr<daemon::Runtime> current() { return daemon::current_runtime(); }

/* Session - per SMTP connection */
struct Session {
    std::shared_ptr<daemon::Runtime> rt;
    std::string client;
    std::unique_ptr<engine::MessageFlow> flow;
    bool in_message = false;  // counted in g_in_flight
    /* message_started, message_ended - keep g_in_flight, which lets SIGTERM
     * exit at once when nothing is in flight */
    void message_started() {
        if (!in_message) ++g_in_flight;
        in_message = true;
    }
    void message_ended() {
        if (in_message) --g_in_flight;
        in_message = false;
    }
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
        s->flow = std::make_unique<engine::MessageFlow>(s->rt->cfg, *s->rt->backend, *s->rt->cache);
        smfi_setpriv(ctx, s.release());
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_envfrom(SMFICTX *ctx, char **argv) {
    return guarded(ctx, "MAIL FROM", [&] {
        Session *s = session_of(ctx);
        if (!s) return SMFIS_TEMPFAIL;
        std::string login = macro(ctx, "{auth_authen}");
        s->message_started();
        auto d = s->flow->mail_from(login, argv && argv[0] ? argv[0] : "", s->client);
        if (!d) return SMFIS_CONTINUE;
        if (login.empty() && d->action == Action::accept) {
            daemon::count_message(*s->rt, daemon::Door::milter, s->flow->outcome());
            s->message_ended();
            s->rt->log->debug("{}", s->flow->log_line());
            return SMFIS_ACCEPT;  // unauthenticated and not a relay host: not ours to count
        }
        if (d->action == Action::accept) return SMFIS_CONTINUE;  // logged and counted once, at end of data
        daemon::count_message(*s->rt, daemon::Door::milter, s->flow->outcome());
        s->message_ended();
        s->rt->log->info("{}", s->flow->log_line());
        return answer(ctx, *d);
    });
}

sfsistat cb_envrcpt(SMFICTX *ctx, char **argv) {
    // The address decides hosted or external, exempt or counted (at end of data).
    if (Session *s = session_of(ctx)) s->flow->add_recipient(argv && argv[0] ? argv[0] : "");
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
                           const_cast<char *>(engine::usage_summary(*s->flow->usage()).c_str()));
        // eom_ms: the time this message waited for the milter at end of data
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        daemon::count_message(*s->rt, daemon::Door::milter, s->flow->outcome(), ms / 1000);
        daemon::report_message(*s->rt, d.action == Action::accept, fmt::format("{} eom_ms={:.3f}", s->flow->log_line(), ms),
                               s->flow->alert());
        s->message_ended();
        return answer(ctx, d);
    });
}

sfsistat cb_abort(SMFICTX *ctx) {
    if (Session *s = session_of(ctx)) s->message_ended();
    return SMFIS_CONTINUE;
}

sfsistat cb_close(SMFICTX *ctx) {
    if (Session *s = session_of(ctx)) s->message_ended();
    delete session_of(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

struct smfiDesc g_desc = {
    const_cast<char *>("tallyd"),
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

}  // namespace

bool open(const std::string &socket, std::string *error) {
    if (socket.starts_with("unix:") || socket.starts_with("local:"))
        unlink(socket.substr(socket.find(':') + 1).c_str());  // left by a daemon that was killed
    if (smfi_setconn(const_cast<char *>(socket.c_str())) == MI_FAILURE || smfi_register(g_desc) == MI_FAILURE ||
        smfi_opensocket(true) == MI_FAILURE) {
        *error = "cannot listen on " + socket;
        return false;
    }
    return true;
}

bool run() { return smfi_main() == MI_SUCCESS; }

void stop() { smfi_stop(); }

int messages_in_flight() { return g_in_flight.load(); }

}  // namespace tally::milter
