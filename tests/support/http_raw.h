// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* http_raw.h - raw HTTP/1.x over loopback, for tallyd's /metrics
 *
 * DESCRIPTION
 *   The metrics tests send well-formed and hostile requests byte for byte,
 *   and the benchmarks scrape while they measure; both need exactly what
 *   goes over the wire, so this is a socket, not an HTTP library.
 */
#pragma once

#include <string>

namespace tally::test {

/* http_raw - send raw to 127.0.0.1:port and read until the server closes
 * (or 15 s pass: a server that never answers leaves the reply empty);
 * connection refused is retried for about 5 s, since a listener may start
 * a little after the process it belongs to */
std::string http_raw(int port, const std::string &raw);
/* http_status - the status code of an HTTP answer, 0 when there was none */
int http_status(const std::string &answer);
/* http_body - what follows the header of an answer */
std::string http_body(const std::string &answer);

}  // namespace tally::test
