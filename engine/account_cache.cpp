// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* account_cache.cpp - LRU with expiry */
#include "account_cache.h"

namespace tally::engine {

std::optional<CachedLookup> AccountCache::get(const std::string &login, Clock::time_point now) {
    auto found = find(login, now);
    if (observer_) observer_->cache_lookup(found.has_value());
    return found;
}

std::optional<CachedLookup> AccountCache::find(const std::string &login, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(login);
    if (it == index_.end()) return std::nullopt;
    if (it->second->expires <= now) {
        lru_.erase(it->second);
        index_.erase(it);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->value;
}

void AccountCache::put(const std::string &login, CachedLookup value, Clock::time_point now) {
    if (max_ == 0 || ttl_.count() == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(login);
    if (it != index_.end()) {
        lru_.erase(it->second);
        index_.erase(it);
    }
    lru_.push_front(Item{login, std::move(value), now + ttl_});
    index_[login] = lru_.begin();
    while (lru_.size() > max_) {
        index_.erase(lru_.back().login);
        lru_.pop_back();
    }
}

std::size_t AccountCache::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lru_.size();
}

}  // namespace tally::engine
