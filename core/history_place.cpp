// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* history_place.cpp - the names of history entries (see history_place.h) */
#include "history_place.h"

#include <cctype>

namespace tally {

std::string history_container_rdn(unsigned sid) { return "cn=tally-history-sid" + std::to_string(sid); }

std::string counter_container_rdn(unsigned sid) { return "cn=tally-counters-sid" + std::to_string(sid); }

std::optional<unsigned> server_id_of(std::string_view value) {
    std::string_view id = value.substr(0, value.find_first_of(" \t"));
    int base = 10;
    if (id.size() > 2 && id[0] == '0' && (id[1] == 'x' || id[1] == 'X')) {
        base = 16;
        id.remove_prefix(2);
    }
    if (id.empty() || id.size() > 4) return std::nullopt;
    unsigned n = 0;
    for (char ch : id) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (base == 10 ? !std::isdigit(c) : !std::isxdigit(c)) return std::nullopt;
        n = n * static_cast<unsigned>(base) +
            static_cast<unsigned>(std::isdigit(c) ? c - '0' : std::tolower(c) - 'a' + 10);
    }
    if (n > 4095) return std::nullopt;  // slapd's limit (SLAP_SYNC_SID_MAX)
    return n;
}

std::optional<unsigned> counter_container_sid(std::string_view ndn) {
    constexpr std::string_view prefix = "cn=tally-counters-sid";
    if (ndn.substr(0, prefix.size()) != prefix) return std::nullopt;
    std::string_view rest = ndn.substr(prefix.size());
    std::string_view id = rest.substr(0, rest.find(','));
    if (id.empty() || id.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    return server_id_of(id);
}

std::optional<std::string> history_entry_rdn(std::string_view uuid) {
    if (uuid.size() != 36) return std::nullopt;
    std::string out = "cn=";
    for (std::size_t i = 0; i < uuid.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(uuid[i]);
        const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_here ? c != '-' : !std::isxdigit(c)) return std::nullopt;
        out += static_cast<char>(std::tolower(c));
    }
    return out;
}

}  // namespace tally
