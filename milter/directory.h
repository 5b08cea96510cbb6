// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* directory.h - the milter's view of LDAP: a pool of connections with
 * failover, the account lookup and the charge
 *
 * DESCRIPTION
 *   Connections are shared by the milter's threads (at most ldap_pool_size).
 *   A new connection tries the URIs in order, so the first server is used
 *   again as soon as it answers; connections to a later server are retired
 *   after ldap_failback seconds to find out. A connection that fails (server restarted,
 *   idle connection dropped, timeout) is discarded; when it failed quickly
 *   the operation is tried once more on a fresh one (searches are harmless
 *   to repeat, and a repeated charge carries the same charge id, which the
 *   overlay counts once), while a timeout is not repeated: the answer must
 *   come within ldap_timeout.
 */
#pragma once

#include "ldap_client.h"
#include "milter_config.h"
#include "policy.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

namespace tally::milter {

enum class DirStatus { ok, not_found, unavailable, error };

struct LookupResult {
    DirStatus status = DirStatus::error;
    Account account;
    std::string error;
};

struct ChargeResult {
    DirStatus status = DirStatus::error;
    ChargeResponse response;
    std::string error;
    bool outcome_unknown = false;  // sent, but the answer was lost: slapd may have counted it
};

class Directory {
public:
    /* Directory - nothing connects yet; throws if the password file is unreadable */
    explicit Directory(const MilterConfig &c);
    ~Directory();

    /* find_account - the account of a SASL login (search_filter, aliases) */
    LookupResult find_account(const std::string &login);
    /* find_sender - the account of an envelope sender (sender_search_filter) */
    LookupResult find_sender(const std::string &address);
    /* find_relay - the relay-host entry of a client address: an exact entry,
     * else the most specific network entry containing it */
    LookupResult find_relay(const std::string &client);
    ChargeResult charge(const ChargeRequest &req);
    /* deny_lists - the deny lists, read at most once per cache_ttl */
    std::optional<DenyLists> deny_lists(std::string *error);

private:
    struct Pooled {
        std::unique_ptr<client::Connection> conn;
        std::size_t uri_index = 0;
        std::chrono::steady_clock::time_point opened;
    };
    /* acquire - an idle connection or a new one; nullptr when no server answers */
    std::unique_ptr<Pooled> acquire(std::string *error);
    void release(std::unique_ptr<Pooled> p, bool broken);
    /* with_connection - run op on a pooled connection; once more on a fresh
     * one when the first fails in transport */
    template <typename Result, typename Op>
    Result with_connection(Op op);
    LookupResult account_once(Pooled &p, const std::string &filter_tmpl, const std::string &login, bool aliases,
                              bool &transport_failed);
    LookupResult relay_once(Pooled &p, const std::string &client, bool &transport_failed);

    MilterConfig cfg_;
    client::ConnectOptions base_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Pooled>> idle_;
    int open_ = 0;
    std::mutex deny_mutex_;
    std::optional<DenyLists> deny_;
    std::chrono::steady_clock::time_point deny_read_;
};

}  // namespace tally::milter
