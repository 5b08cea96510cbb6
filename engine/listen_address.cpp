// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* listen_address.cpp - parse "inet:ADDRESS:PORT", "inet:PORT@ADDRESS", "unix:PATH" */
#include "listen_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace tally::engine {

namespace {

std::optional<int> port_of(std::string_view s) {
    int port = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    if (ec != std::errc() || end != s.data() + s.size() || port < 1 || port > 65535) return std::nullopt;
    return port;
}

bool numeric_address(const std::string &host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::string ListenAddress::text() const {
    if (unix_socket) return "unix:" + path;
    if (host.find(':') != std::string::npos) return "inet:[" + host + "]:" + std::to_string(port);
    return "inet:" + host + ":" + std::to_string(port);
}

bool ListenAddress::loopback() const {
    if (unix_socket) return false;
    unsigned char buf[16];
    if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
    return host == "::1";
}

std::optional<ListenAddress> parse_http_listen_address(std::string_view s) {
    // Not the milter's PORT@ADDRESS, and no unix: sockets: Prometheus scrapes over TCP.
    if (s.empty() || s.find('@') != std::string_view::npos || s.starts_with("inet:") || s.starts_with("unix:") ||
        s.starts_with("local:"))
        return std::nullopt;
    return parse_listen_address("inet:" + std::string(s));
}

std::optional<ListenAddress> parse_listen_address(std::string_view s) {
    ListenAddress a;
    for (std::string_view prefix : {"unix:", "local:"}) {
        if (s.starts_with(prefix)) {
            a.unix_socket = true;
            a.path = std::string(s.substr(prefix.size()));
            if (a.path.empty() || a.path.front() != '/') return std::nullopt;
            return a;
        }
    }
    if (!s.starts_with("inet:")) return std::nullopt;
    s.remove_prefix(5);
    std::optional<int> port;
    if (auto at = s.find('@'); at != std::string_view::npos) {  // the milter's PORT@ADDRESS
        port = port_of(s.substr(0, at));
        a.host = std::string(s.substr(at + 1));
    } else if (s.starts_with("[")) {  // [IPv6]:PORT
        auto close = s.find("]:");
        if (close == std::string_view::npos) return std::nullopt;
        a.host = std::string(s.substr(1, close - 1));
        port = port_of(s.substr(close + 2));
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        a.host = std::string(s.substr(0, colon));
        port = port_of(s.substr(colon + 1));
    }
    if (!port || !numeric_address(a.host)) return std::nullopt;
    a.port = *port;
    return a;
}

}  // namespace tally::engine
