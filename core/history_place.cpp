// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* history_place.cpp - the names of history entries (see history_place.h) */
#include "history_place.h"

#include <cctype>

namespace tally {

std::string history_container_rdn(unsigned sid) { return "cn=tally-history-sid" + std::to_string(sid); }

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
