// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* http_server.h - civetweb at the edge: HTTP in, Console::handle, HTTP out
 *
 * DESCRIPTION
 *   civetweb parses every request (request line, headers, URL decoding,
 *   cookies, forms) and enforces its limits (max_request_size for the
 *   header, request_timeout_ms); this file turns what it parsed into a
 *   Request, refuses a body over 64 KiB (413) and writes the Response
 *   with the headers every page carries (a Content-Security-Policy that
 *   allows no script, no-store, nosniff, no framing).
 */
#pragma once

#include "console.h"

#include <string>

struct mg_context;

namespace tally::web {

class HttpServer {
public:
    /* start - listen; nullptr-like failure is thrown as std::runtime_error */
    HttpServer(Console &console, const WebConfig &cfg);
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer &operator=(const HttpServer &) = delete;

private:
    Console &console_;
    mg_context *ctx_ = nullptr;
};

}  // namespace tally::web
