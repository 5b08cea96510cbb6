// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* listen_address.h - where a listener listens: "inet:ADDRESS:PORT" or "unix:PATH"
 *
 * DESCRIPTION
 *   The forms Postfix writes for check_policy_service (inet:127.0.0.1:12345,
 *   unix:/path), IPv6 in brackets (inet:[::1]:12345), and the milter
 *   socket's form (inet:PORT@ADDRESS) so one spelling works for both doors.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tally::engine {

struct ListenAddress {
    bool unix_socket = false;
    std::string host;  // inet: a numeric address (no name lookups at startup)
    int port = 0;
    std::string path;  // unix:
    std::string text() const;
    /* loopback - an inet address in 127.0.0.0/8 or ::1 */
    bool loopback() const;
};

/* parse_listen_address - nullopt when the text is none of the forms above */
std::optional<ListenAddress> parse_listen_address(std::string_view s);

/* parse_http_listen_address - metrics_listen's form: ADDRESS:PORT or
 * [IPv6]:PORT, the address always written (an HTTP listener on every
 * interface must never be what a missing address means) and numeric */
std::optional<ListenAddress> parse_http_listen_address(std::string_view s);

}  // namespace tally::engine
