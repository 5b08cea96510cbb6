// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* session_table.cpp - random ids, the session bound and the timeouts */
#include "session_table.h"

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>

namespace tally::web {

std::string random_token() {
    unsigned char bytes[32];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("getrandom failed");
        }
        got += static_cast<std::size_t>(n);
    }
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

bool tokens_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size() || a.empty()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

void SessionTable::set_limits(SessionLimits l) {
    std::lock_guard g(mu_);
    limits_ = l;
}

bool SessionTable::live(const Session &s, std::int64_t now) const {
    return now - s.last_used < limits_.idle_seconds && now - s.created < limits_.lifetime_seconds;
}

std::shared_ptr<Session> SessionTable::create(const std::string &dn, const std::string &login, Role role,
                                              std::vector<std::string> domains, std::shared_ptr<void> state,
                                              std::int64_t now) {
    auto s = std::make_shared<Session>();
    s->id = random_token();
    s->csrf = random_token();
    s->dn = dn;
    s->login = login;
    s->role = role;
    s->domains = std::move(domains);
    s->created = s->last_used = now;
    s->state = std::move(state);
    std::lock_guard g(mu_);
    if (by_id_.size() >= limits_.max_sessions) {
        std::erase_if(by_id_, [&](const auto &kv) { return !live(*kv.second, now); });
        if (by_id_.size() >= limits_.max_sessions) return nullptr;
    }
    by_id_[s->id] = s;
    return s;
}

std::shared_ptr<Session> SessionTable::find(const std::string &id, std::int64_t now) {
    std::lock_guard g(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return nullptr;
    if (!live(*it->second, now)) {
        by_id_.erase(it);
        return nullptr;
    }
    it->second->last_used = now;
    return it->second;
}

void SessionTable::end(const std::string &id) {
    std::lock_guard g(mu_);
    by_id_.erase(id);
}

std::size_t SessionTable::expire(std::int64_t now) {
    std::lock_guard g(mu_);
    return std::erase_if(by_id_, [&](const auto &kv) { return !live(*kv.second, now); });
}

std::size_t SessionTable::size() const {
    std::lock_guard g(mu_);
    return by_id_.size();
}

}  // namespace tally::web
