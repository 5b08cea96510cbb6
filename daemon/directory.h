// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* directory.h - the daemon's view of LDAP: a pool of connections with
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

#include "backend.h"
#include "config.h"
#include "ldap_client.h"
#include "ldap_ops.h"
#include "metrics.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

namespace tally::daemon {

using engine::ChargeResult;
using engine::DirStatus;
using engine::LookupResult;

/* check_password_file - what is wrong with ldap_password_file (unreadable,
 * empty), or nullopt */
std::optional<std::string> check_password_file(const engine::Config &c);

/* check_binds - connect and bind to each ldap_uri as the service identity:
 * one line each; *any_bound when one of them worked (tallyd -n -b) */
std::vector<std::string> check_binds(const engine::Config &c, bool *any_bound);

class Directory {
public:
    /* Directory - nothing connects yet; throws if the password file is
     * unreadable. metrics (may be null) outlives it: counts go there. */
    explicit Directory(const engine::Config &c, Metrics *metrics = nullptr);
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
    engine::DenyListsResult deny_lists();
    /* hosted_domains - the hosted_domain_search_base set, read again after
     * hosted_domain_ttl by the first message that finds it old (the others
     * go on with it meanwhile); after a failed read the last good set
     * serves until hosted_domain_stale_max, the read is retried at most
     * every 10 s, and with no usable set the failure is returned */
    engine::HostedDomainsResult hosted_domains();
    /* exemptions - the tallyExemptRecipient values, read at most once per
     * cache_ttl; a value that is not an address, a domain or local@ is
     * skipped and named in a warning (warn) at each read */
    engine::ExemptionsResult exemptions();
    /* set_warn - where warnings about directory contents go (the log) */
    void set_warn(std::function<void(const std::string &)> warn) { warn_ = std::move(warn); }

private:
    struct Pooled {
        std::unique_ptr<client::Connection> conn;
        std::size_t uri_index = 0;
        std::chrono::steady_clock::time_point opened;
    };
    /* acquire - an idle connection or a new one; nullptr when no server
     * answers (*failure: unavailable, or refused when a server refused the bind) */
    std::unique_ptr<Pooled> acquire(std::string *error, DirStatus *failure);
    void release(std::unique_ptr<Pooled> p, bool broken);
    /* with_connection - run op on a pooled connection; once more on a fresh
     * one when the first fails in transport */
    template <typename Result, typename Op>
    Result with_connection(Op op);
    LookupResult account_once(Pooled &p, const std::string &filter_tmpl, const std::string &login, bool aliases,
                              bool &transport_failed);
    LookupResult relay_once(Pooled &p, const std::string &client, bool &transport_failed);
    /* search - a subtree search bounded by ldap_timeout, counted against p's server */
    client::SearchResult search(Pooled &p, const std::string &base, const std::string &filter,
                                std::vector<std::string> attrs, int sizelimit);

    engine::Config cfg_;
    Metrics *metrics_;
    std::vector<Metrics::LdapServer *> server_metrics_;  // by ldap_uri index; empty without metrics
    client::ConnectOptions base_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Pooled>> idle_;
    int open_ = 0;
    std::mutex deny_mutex_;
    std::optional<engine::DenyLists> deny_;
    std::chrono::steady_clock::time_point deny_read_;
    std::function<void(const std::string &)> warn_;
    std::mutex hosted_mutex_;
    engine::HostedDomainsCache hosted_;
    std::shared_ptr<const engine::HostedDomains> hosted_set_;
    bool hosted_refreshing_ = false;
    std::mutex exempt_mutex_;
    std::shared_ptr<const engine::Exemptions> exempt_;
    std::chrono::steady_clock::time_point exempt_read_;
};

}  // namespace tally::daemon
