// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* session_table.h - the console's logged-in sessions: random ids, a bound, two timeouts
 *
 * DESCRIPTION
 *   A session is created by a successful bind and carries what the pages
 *   need about the person (DN, role, domains), a CSRF token for its forms
 *   and an opaque state the HTTP glue owns (the LDAP connection bound as
 *   that person: the password is never kept). Ids and tokens are 32 bytes
 *   from getrandom(2), hex-encoded. A session ends at logout, after
 *   idle_seconds without a request, or lifetime_seconds after login,
 *   whichever comes first; an ended session is gone at once (its
 *   connection is closed when the last request using it finishes).
 *   At most max_sessions exist: a login beyond that is refused rather than
 *   ending somebody else's session. Times are whatever clock the caller
 *   passes (seconds), so the rules are unit-tested without waiting.
 *   Thread-safe.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tally::web {

/* random_token - 32 random bytes (getrandom) as 64 hex digits */
std::string random_token();

/* tokens_equal - compare without leaking where they differ */
bool tokens_equal(std::string_view a, std::string_view b);

enum class Role { user, domain_admin, operator_ };

struct Session {
    std::string id;
    std::string csrf;
    std::string dn;                    // the bound identity
    std::string login;                 // what was typed
    Role role = Role::user;
    std::vector<std::string> domains;  // containers this person administers (domain_admin)
    std::int64_t created = 0, last_used = 0;
    std::shared_ptr<void> state;       // the glue's: the bound connection
    std::mutex lock;                   // one request at a time uses state and the flash
    std::string flash_notice, flash_error;  // what the page after a redirect says
};

struct SessionLimits {
    std::size_t max_sessions = 10000;
    std::int64_t idle_seconds = 900;
    std::int64_t lifetime_seconds = 8 * 3600;
};

class SessionTable {
public:
    explicit SessionTable(SessionLimits l) : limits_(l) {}
    void set_limits(SessionLimits l);

    /* create - a new session for dn, or nullptr when the table is full of
     * live sessions */
    std::shared_ptr<Session> create(const std::string &dn, const std::string &login, Role role,
                                    std::vector<std::string> domains, std::shared_ptr<void> state,
                                    std::int64_t now);
    /* find - the live session with this id (its idle time restarts), or
     * nullptr: unknown, idle too long or too old (then removed) */
    std::shared_ptr<Session> find(const std::string &id, std::int64_t now);
    /* end - logout */
    void end(const std::string &id);
    /* expire - drop every session past a timeout; returns how many went */
    std::size_t expire(std::int64_t now);
    std::size_t size() const;

private:
    bool live(const Session &s, std::int64_t now) const;
    SessionLimits limits_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<Session>> by_id_;
};

}  // namespace tally::web
