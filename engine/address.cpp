// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* address.cpp - envelope address parsing and ownership */
#include "address.h"

#include <algorithm>
#include <cctype>

namespace tally::engine {

std::optional<std::string> parse_envelope_address(std::string_view raw) {
    std::string_view a = raw;
    while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
    while (!a.empty() && a.back() == ' ') a.remove_suffix(1);
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    if (a.empty()) return std::string();  // the null sender
    if (a.size() > 320) return std::nullopt;
    for (unsigned char c : a)
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>') return std::nullopt;
    return std::string(a);
}

std::string domain_of(std::string_view address) {
    auto at = address.rfind('@');
    if (at == std::string_view::npos) return {};
    std::string d(address.substr(at + 1));
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return std::tolower(c); });
    return d;
}

std::string canonical_address(std::string_view address, std::string_view delim) {
    std::string a(address);
    std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
    if (delim.empty()) return a;
    auto at = a.rfind('@');
    std::string local = at == std::string::npos ? a : a.substr(0, at);
    std::string rest = at == std::string::npos ? "" : a.substr(at);
    auto d = local.find(delim);
    if (d != std::string::npos && d > 0) local.resize(d);
    return local + rest;
}

bool owns_address(const std::vector<std::string> &addresses, std::string_view sender, std::string_view delim) {
    std::string want = canonical_address(sender, delim);
    return std::any_of(addresses.begin(), addresses.end(), [&](const std::string &a) {
        return canonical_address(a, delim) == want;
    });
}

}  // namespace tally::engine
