// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* http_server.cpp - the civetweb glue */
#include "http_server.h"

#include <civetweb.h>

#include <cstring>
#include <stdexcept>

namespace tally::web {

namespace {

constexpr long long kMaxBody = 64 * 1024;

/* form_fields - an application/x-www-form-urlencoded text, split and decoded by civetweb */
std::map<std::string, std::string> form_fields(std::string text) {
    std::map<std::string, std::string> out;
    if (text.empty()) return out;
    std::vector<mg_header> fields(256);
    int n = mg_split_form_urlencoded(text.data(), fields.data(), static_cast<unsigned>(fields.size()));
    for (int i = 0; i < n; ++i)
        if (fields[i].name) out[fields[i].name] = fields[i].value ? fields[i].value : "";
    return out;
}

void send(mg_connection *conn, const Response &r) {
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + mg_get_response_code_text(conn, r.status) +
                       "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                       "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                       "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
                       "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
                       "Connection: close\r\n";
    for (const auto &[k, v] : r.headers) head += k + ": " + v + "\r\n";
    head += "\r\n";
    mg_write(conn, head.data(), head.size());
    if (!r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
}

int handle(mg_connection *conn, void *cbdata) {
    auto *console = static_cast<Console *>(cbdata);
    const mg_request_info *ri = mg_get_request_info(conn);
    Request req;
    req.method = ri->request_method ? ri->request_method : "";
    req.path = ri->local_uri ? ri->local_uri : "/";
    req.client = ri->remote_addr;
    if (ri->query_string) req.query = form_fields(ri->query_string);
    if (const char *cookie = mg_get_header(conn, "Cookie")) {
        char buf[256];
        for (const char *name : {"tally_session", "tally_login"})
            if (mg_get_cookie(cookie, name, buf, sizeof buf) > 0) req.cookies[name] = buf;
    }
    if (ri->content_length > kMaxBody) {
        Response r;
        r.status = 413;
        r.content_type = "text/plain; charset=utf-8";
        r.body = "request body too large (at most 64 KiB)\n";
        send(conn, r);
        return 413;
    }
    if (req.method == "POST") {
        std::string body;
        char buf[8192];
        int n;
        while ((n = mg_read(conn, buf, sizeof buf)) > 0) {
            body.append(buf, static_cast<std::size_t>(n));
            if (static_cast<long long>(body.size()) > kMaxBody) {
                Response r;
                r.status = 413;
                r.content_type = "text/plain; charset=utf-8";
                r.body = "request body too large (at most 64 KiB)\n";
                send(conn, r);
                return 413;
            }
        }
        const char *type = mg_get_header(conn, "Content-Type");
        if (type && std::strncmp(type, "application/x-www-form-urlencoded", 33) == 0) req.form = form_fields(body);
    }
    Response r = console->handle(req);
    send(conn, r);
    return r.status;
}

}  // namespace

HttpServer::HttpServer(Console &console, const WebConfig &cfg) : console_(console) {
    std::string ports = cfg.listen;
    if (!cfg.tls_certificate.empty()) ports += "s";
    std::string threads = std::to_string(cfg.threads), timeout = std::to_string(cfg.request_timeout_ms);
    std::vector<const char *> options = {"listening_ports", ports.c_str(), "num_threads", threads.c_str(),
                                         "request_timeout_ms", timeout.c_str(), "max_request_size", "16384",
                                         "enable_keep_alive", "no"};
    if (!cfg.tls_certificate.empty()) {
        options.push_back("ssl_certificate");
        options.push_back(cfg.tls_certificate.c_str());
    }
    options.push_back(nullptr);
    mg_init_library(cfg.tls_certificate.empty() ? 0 : MG_FEATURES_TLS);
    mg_callbacks callbacks{};
    ctx_ = mg_start(&callbacks, nullptr, options.data());
    if (!ctx_) throw std::runtime_error("cannot listen on " + cfg.listen + " (address in use, or a bad certificate?)");
    mg_set_request_handler(ctx_, "/", handle, &console_);
}

HttpServer::~HttpServer() {
    if (ctx_) mg_stop(ctx_);
}

}  // namespace tally::web
