// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* expiring_map.h - string keys to string values that expire, with a size bound
 *
 * DESCRIPTION
 *   The cache logic of the overlay's parent-policy cache (which policy a
 *   domain entry names), kept free of slapd so it is unit-tested. Times
 *   are whatever clock the caller passes (the overlay's charge "now", in
 *   seconds). Not thread-safe: the caller holds its own lock.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace tally {

class ExpiringMap {
public:
    ExpiringMap(std::int64_t lifetime, std::size_t max_entries) : lifetime_(lifetime), max_entries_(max_entries) {}

    /* get - the value put for key less than lifetime ago */
    std::optional<std::string> get(const std::string &key, std::int64_t now) const;
    /* put - remember value until now + lifetime; when full, everything is
     * forgotten first (a crude bound: the next lookups refill it) */
    void put(const std::string &key, std::string value, std::int64_t now);
    void forget(const std::string &key) { map_.erase(key); }
    void clear() { map_.clear(); }
    std::size_t size() const { return map_.size(); }

private:
    std::int64_t lifetime_;
    std::size_t max_entries_;
    std::unordered_map<std::string, std::pair<std::string, std::int64_t>> map_;  // value, expiry
};

}  // namespace tally
