// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* login_throttle.cpp - the back-off of failed logins */
#include "login_throttle.h"

#include <algorithm>

namespace tally::web {

void LoginThrottle::set_limits(ThrottleLimits l) {
    std::lock_guard g(mu_);
    limits_ = l;
}

std::int64_t LoginThrottle::wait_seconds(const std::string &key, std::int64_t now) const {
    std::lock_guard g(mu_);
    auto it = keys_.find(key);
    if (it == keys_.end() || it->second.closed_until <= now) return 0;
    return it->second.closed_until - now;
}

void LoginThrottle::prune(std::int64_t now) {
    std::erase_if(keys_, [&](const auto &kv) { return std::max(kv.second.closed_until, kv.second.last) + limits_.max_delay <= now; });
    while (keys_.size() >= limits_.max_keys) {
        auto stalest = std::min_element(keys_.begin(), keys_.end(),
                                        [](const auto &a, const auto &b) { return a.second.last < b.second.last; });
        keys_.erase(stalest);
    }
}

void LoginThrottle::failed(const std::string &key, std::int64_t now) {
    std::lock_guard g(mu_);
    if (!keys_.count(key) && keys_.size() >= limits_.max_keys) prune(now);
    Record &r = keys_[key];
    r.failures++;
    r.last = now;
    int over = r.failures - limits_.free_failures;
    if (over > 0) {
        std::int64_t delay = limits_.base_delay;
        for (int i = 1; i < over && delay < limits_.max_delay; ++i) delay *= 2;
        r.closed_until = now + std::min(delay, limits_.max_delay);
    }
}

void LoginThrottle::succeeded(const std::string &key) {
    std::lock_guard g(mu_);
    keys_.erase(key);
}

std::size_t LoginThrottle::size() const {
    std::lock_guard g(mu_);
    return keys_.size();
}

}  // namespace tally::web
