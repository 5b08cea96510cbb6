// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* expiring_map.cpp - lookups that honour the expiry, a bounded size */
#include "expiring_map.h"

namespace tally {

std::optional<std::string> ExpiringMap::get(const std::string &key, std::int64_t now) const {
    auto it = map_.find(key);
    if (it == map_.end() || it->second.second <= now) return std::nullopt;
    return it->second.first;
}

void ExpiringMap::put(const std::string &key, std::string value, std::int64_t now) {
    if (map_.size() >= max_entries_ && !map_.count(key)) map_.clear();
    map_[key] = {std::move(value), now + lifetime_};
}

}  // namespace tally
