/* tally.h - private state of slapo-tally, shared by the glue files
 *
 * DESCRIPTION
 *   The overlay is thin glue around libtally_core: tally_module.cpp
 *   registers schema, extended operations and the overlay;
 *   tally_config.cpp serves slapd.conf and cn=config; tally_entry.cpp
 *   converts between entries and core types and writes the counters;
 *   tally_exop.cpp answers the charge and reset operations;
 *   tally_guard.cpp keeps clients from writing counters and bad limits.
 */
#pragma once

// portable.h first, as in every OpenLDAP source file: it carries the
// features configure detected (regex, signal types) that slap.h relies on.
#include "portable.h"
#include "slap.h"
#include "slap-config.h"

#include "charge.h"
#include "overlay_config.h"
#include "window.h"

#include <array>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <string>
#include <vector>

namespace tally::overlay {

/* What a charge needs from the configuration, resolved once per change
 * instead of once per charge: the windows and the attribute of every
 * window's metric limits. */
struct Resolved {
    std::vector<WindowDef> windows;
    std::vector<std::array<AttributeDescription *, 4>> limit_ads;  // per window, per metric; null: none
    AttributeDescription *generic_limit = nullptr;                   // tallyLimit
    AttributeDescription *policy_dn = nullptr;                       // tallyPolicyDN
    unsigned long generation = 0;                                    // changes with every rebuild
};

/* ParentPolicyCache - which policy a parent (domain) entry names. Every
 * charge would otherwise read the parent entry; parents change rarely and
 * every change of one passes this overlay (tally_guard.cpp forgets it), so
 * the cache is exact; the lifetime only bounds what a change made behind
 * slapd's back (slapadd, slapmodify) can leave stale. */
class ParentPolicyCache {
public:
    static constexpr std::int64_t kLifetime = 300;
    static constexpr std::size_t kMaxEntries = 100000;
    ParentPolicyCache() { ldap_pvt_thread_mutex_init(&mutex_); }
    ~ParentPolicyCache() { ldap_pvt_thread_mutex_destroy(&mutex_); }
    ParentPolicyCache(const ParentPolicyCache &) = delete;
    ParentPolicyCache &operator=(const ParentPolicyCache &) = delete;

    std::optional<std::string> get(const std::string &parent, std::int64_t now);
    void put(const std::string &parent, const std::string &policy, std::int64_t now);
    void forget(const std::string &dn);

private:
    ldap_pvt_thread_mutex_t mutex_;
    std::unordered_map<std::string, std::pair<std::string, std::int64_t>> map_;
};

/* AccountLocks - a charge or reset holds the lock of its account from
 * reading the entry to writing it, which makes decision and write atomic
 * for that account. Accounts share a fixed set of mutexes by hash of the
 * normalized DN, so charges of different accounts rarely wait for each
 * other (one mutex for all made every charge wait whenever the thread
 * holding it was descheduled: the latency tail at 16 connections). */
class AccountLocks {
public:
    AccountLocks() {
        for (auto &m : mutexes_) ldap_pvt_thread_mutex_init(&m);
    }
    ~AccountLocks() {
        for (auto &m : mutexes_) ldap_pvt_thread_mutex_destroy(&m);
    }
    AccountLocks(const AccountLocks &) = delete;
    AccountLocks &operator=(const AccountLocks &) = delete;
    ldap_pvt_thread_mutex_t &of(const struct berval &ndn) {
        return mutexes_[std::hash<std::string_view>{}({ndn.bv_val, ndn.bv_len}) % mutexes_.size()];
    }

private:
    std::array<ldap_pvt_thread_mutex_t, 64> mutexes_;
};

/* One per database the overlay sits on ("ti_" as in dds_info_t's di_). */
struct Info {
    AccountLocks ti_locks;             // read-decide-write of one account's charges and resets
    OverlayConfig ti_config;
    std::optional<TimeZone> ti_zone;
    Resolved ti_resolved;              // rebuilt by rebuild_resolved() after every configuration change
    ParentPolicyCache ti_parents;      // parent entry -> the policy it names
};

/* rebuild_resolved - refresh ti_resolved from ti_config (tally_config.cpp);
 * runs while slapd is configuring or paused, never during a charge */
void rebuild_resolved(Info *ti);

/* Attributes registered from code (tally_module.cpp). */
struct Schema {
    AttributeDescription *usage = nullptr;         // tallyUsage
    AttributeDescription *history = nullptr;       // tallyHistory
    AttributeDescription *recent = nullptr;        // tallyRecentCharge
    AttributeDescription *charge_right = nullptr;  // tallyCharge (ACL pseudo-attribute)
    AttributeDescription *reset_right = nullptr;   // tallyReset (ACL pseudo-attribute)
};
extern Schema g_schema;
extern slap_overinst g_overlay;

/* tally_config.cpp */
int config_register();

/* tally_entry.cpp */
/* read_state - counters and recent charge ids; the history only when
 * with_history (it is needed only when a period rolls over) */
StoredState read_state(Entry *e, bool with_history, unsigned own_sid);
LimitSet read_limits(const Resolved &r, Entry *e);
/* read_policy_dn - the tallyPolicyDN of an entry, normalized; empty if none */
std::string read_policy_dn(const Resolved &r, Entry *e);
/* write_state - store the changes of own_sid's share from old_state to new_state */
int write_state(Operation *op, slap_overinst *on, const StoredState &old_state,
                const StoredState &new_state, unsigned own_sid, const char **text);
/* own_server_id - this slapd's serverID (0 without one): the share it writes */
unsigned own_server_id();

/* tally_exop.cpp */
int exop_charge(Operation *op, SlapReply *rs);
int exop_reset(Operation *op, SlapReply *rs);
int overlay_extended(Operation *op, SlapReply *rs);

/* tally_guard.cpp */
int guard_modify(Operation *op, SlapReply *rs);
int guard_add(Operation *op, SlapReply *rs);
int guard_response(Operation *op, SlapReply *rs);

}  // namespace tally::overlay
