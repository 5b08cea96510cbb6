// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* netmatch.cpp - address-in-network with inet_pton */
#include "netmatch.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <string>

namespace tally::engine {

namespace {

struct Addr {
    int family = 0;
    std::array<unsigned char, 16> bytes{};
    int bits() const { return family == AF_INET ? 32 : 128; }
};

std::optional<Addr> parse(std::string_view s) {
    std::string z(s);
    Addr a;
    if (inet_pton(AF_INET, z.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (inet_pton(AF_INET6, z.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return std::nullopt;
}

/* prefix_of - "24", or a dotted mask with contiguous ones */
std::optional<int> prefix_of(std::string_view mask, int max_bits) {
    int n = 0;
    auto [p, ec] = std::from_chars(mask.data(), mask.data() + mask.size(), n);
    if (ec == std::errc() && p == mask.data() + mask.size()) {
        if (n < 0 || n > max_bits) return std::nullopt;
        return n;
    }
    auto m = parse(mask);
    if (!m || m->bits() != max_bits) return std::nullopt;
    int bits = 0;
    bool zero_seen = false;
    for (int i = 0; i < max_bits; ++i) {
        bool one = m->bytes[static_cast<std::size_t>(i / 8)] & (0x80 >> (i % 8));
        if (one && zero_seen) return std::nullopt;  // not contiguous
        if (one) ++bits;
        else zero_seen = true;
    }
    return bits;
}

}  // namespace

std::optional<int> prefix_match(std::string_view address, std::string_view network, std::string_view mask) {
    auto slash = network.find('/');
    if (slash != std::string_view::npos) {
        mask = network.substr(slash + 1);
        network = network.substr(0, slash);
    }
    auto a = parse(address), n = parse(network);
    if (!a || !n || a->family != n->family) return std::nullopt;
    auto prefix = mask.empty() ? std::optional<int>(n->bits()) : prefix_of(mask, n->bits());
    if (!prefix) return std::nullopt;
    for (int i = 0; i < *prefix; ++i) {
        auto byte = static_cast<std::size_t>(i / 8);
        int bit = 0x80 >> (i % 8);
        if ((a->bytes[byte] & bit) != (n->bytes[byte] & bit)) return std::nullopt;
    }
    return *prefix;
}

}  // namespace tally::engine
