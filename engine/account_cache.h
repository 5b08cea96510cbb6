// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* account_cache.h - a bounded, short-lived cache of account lookups
 *
 * DESCRIPTION
 *   Keeps bursts of mail from one login off the directory. Bounded in
 *   entries (least recently used goes first) and in lifetime: a change in
 *   the directory (a blocked account, a new address) is seen at most
 *   cache_ttl seconds later. Unknown logins are cached too, so a flood of
 *   bad logins costs one search each per lifetime and bounded memory.
 */
#pragma once

#include "decision.h"

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace tally::engine {

struct CachedLookup {
    bool found = false;
    Account account;
};

/* CacheObserver - told whether each get() found a live entry (the daemon
 * counts hits and misses for its metrics, which outlive a reload's new
 * cache); called on the mail path, so it must not block */
class CacheObserver {
public:
    virtual ~CacheObserver() = default;
    virtual void cache_lookup(bool hit) noexcept = 0;
};

class AccountCache {
public:
    using Clock = std::chrono::steady_clock;
    AccountCache(std::size_t max_entries, std::chrono::seconds ttl, CacheObserver *observer = nullptr)
        : max_(max_entries), ttl_(ttl), observer_(observer) {}

    std::optional<CachedLookup> get(const std::string &login, Clock::time_point now = Clock::now());
    void put(const std::string &login, CachedLookup value, Clock::time_point now = Clock::now());
    std::size_t size() const;

private:
    std::optional<CachedLookup> find(const std::string &login, Clock::time_point now);
    struct Item {
        std::string login;
        CachedLookup value;
        Clock::time_point expires;
    };
    mutable std::mutex mutex_;
    std::size_t max_;
    std::chrono::seconds ttl_;
    CacheObserver *observer_;
    std::list<Item> lru_;  // most recently used first
    std::unordered_map<std::string, std::list<Item>::iterator> index_;
};

}  // namespace tally::engine
