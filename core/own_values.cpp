// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* own_values.cpp - replication never takes a server's own counter values away */
#include "own_values.h"

#include "counter.h"

#include <algorithm>

namespace tally {

std::optional<unsigned> usage_owner(const std::string &value) {
    auto c = decode_counter(value);
    if (!c) return std::nullopt;
    return c->sid;
}

std::optional<unsigned> recent_owner(const std::string &value) {
    auto r = decode_recent(value);
    if (!r) return std::nullopt;
    return r->first;
}

std::optional<AttributeChange> keep_own_values(const AttributeChange &change, const std::vector<std::string> &current,
                                               unsigned own_sid, const OwnerOf &owner_of) {
    auto is_own = [&](const std::string &v) {
        auto sid = owner_of(v);
        return sid && *sid == own_sid;
    };
    std::vector<std::string> own_now;
    for (const auto &v : current)
        if (is_own(v)) own_now.push_back(v);

    AttributeChange out = change;
    switch (change.kind) {
    case ValueChange::add:
        return out;
    case ValueChange::remove:
        if (change.values.empty()) {
            if (own_now.empty()) return out;
            out.kind = ValueChange::replace;
            out.values = own_now;
            return out;
        }
        out.values.clear();
        for (const auto &v : change.values)
            if (!is_own(v)) out.values.push_back(v);
        if (out.values.empty()) return std::nullopt;
        return out;
    case ValueChange::replace:
        for (const auto &v : own_now)
            if (std::find(out.values.begin(), out.values.end(), v) == out.values.end()) out.values.push_back(v);
        return out;
    }
    return out;
}

}  // namespace tally
