// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* login_throttle.h - failed logins slow further attempts, per login and per client address
 *
 * DESCRIPTION
 *   Each key ("login:alice", "addr:127.0.0.1") counts its failed logins.
 *   The first free_failures cost nothing; after that every failure closes
 *   the key for base_delay * 2^(failures - free_failures) seconds, at most
 *   max_delay. While a key is closed a login naming it is refused at once,
 *   without a bind (so a guessing client learns nothing and slapd does no
 *   work). A success clears the login's key (not the address's). Keys
 *   untouched for max_delay seconds after they reopened are forgotten; the
 *   table holds at most max_keys, dropping the stalest first. Times are the
 *   caller's clock in seconds. Thread-safe.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tally::web {

struct ThrottleLimits {
    int free_failures = 3;
    std::int64_t base_delay = 1;
    std::int64_t max_delay = 60;
    std::size_t max_keys = 100000;
};

class LoginThrottle {
public:
    explicit LoginThrottle(ThrottleLimits l) : limits_(l) {}
    void set_limits(ThrottleLimits l);
    /* wait_seconds - 0 when key may try now, else how long it is closed for */
    std::int64_t wait_seconds(const std::string &key, std::int64_t now) const;
    void failed(const std::string &key, std::int64_t now);
    void succeeded(const std::string &key);
    std::size_t size() const;

private:
    struct Record {
        int failures = 0;
        std::int64_t closed_until = 0, last = 0;
    };
    void prune(std::int64_t now);
    ThrottleLimits limits_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Record> keys_;
};

}  // namespace tally::web
