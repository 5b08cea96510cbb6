// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally.h - private state of slapo-tally, shared by the glue files
 *
 * DESCRIPTION
 *   The overlay is thin glue around libtally_core: tally_module.cpp
 *   registers schema, extended operations and the overlay;
 *   tally_config.cpp serves slapd.conf and cn=config; tally_entry.cpp
 *   converts between entries and core types and writes the counters;
 *   tally_exop.cpp answers the charge and reset operations;
 *   tally_batch.cpp shares one back-mdb commit among concurrent charges
 *   (group commit); tally_history.cpp keeps past periods in history
 *   entries of their own; tally_guard.cpp keeps clients from writing
 *   counters and bad limits; tally_monitor.cpp shows what it counts under
 *   cn=Monitor.
 */
#pragma once

// portable.h first, as in every OpenLDAP source file: it carries the
// features configure detected (regex, signal types) that slap.h relies on.
#include "portable.h"
#include "slap.h"
#include "slap-config.h"

#include "charge.h"
#include "expiring_map.h"
#include "history_place.h"
#include "monitor_counters.h"
#include "overlay_config.h"
#include "pending_writes.h"
#include "window.h"

#include <array>
#include <atomic>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <string>
#include <vector>

namespace tally::overlay {

/* MutexLock - holds one of slapd's mutexes for its scope, so that a throw
 * (bad_alloc in a container) never leaves it held; unlock() and lock() for
 * stretches that must run without it */
class MutexLock {
public:
    explicit MutexLock(ldap_pvt_thread_mutex_t &m) : m_(m) { lock(); }
    ~MutexLock() { unlock(); }
    MutexLock(const MutexLock &) = delete;
    MutexLock &operator=(const MutexLock &) = delete;
    void lock() {
        if (!held_) ldap_pvt_thread_mutex_lock(&m_);
        held_ = true;
    }
    void unlock() {
        if (held_) ldap_pvt_thread_mutex_unlock(&m_);
        held_ = false;
    }

private:
    ldap_pvt_thread_mutex_t &m_;
    bool held_ = false;
};

/* EntryReader - the overlay's one way to read an entry, released at scope
 * exit. Two sources: the entry as the backend below this overlay holds it
 * (overlay_entry_get_ov: the account, its policy and parent), or an entry
 * of a given database, read as slapd's ACL code reads entries it needs,
 * with o_bd switched for the call (the history entries, which may live in
 * another database). */
class EntryReader {
public:
    EntryReader(Operation *op, slap_overinst *below, const struct berval &ndn) : op_(op), on_(below) {
        struct berval n = ndn;
        if (n.bv_len && overlay_entry_get_ov(op, &n, nullptr, nullptr, 0, &e_, on_) != LDAP_SUCCESS) e_ = nullptr;
    }
    EntryReader(Operation *op, BackendDB *db, const struct berval &ndn) : op_(op), db_(db) {
        BackendDB *save = op->o_bd;
        op->o_bd = db;
        struct berval n = ndn;
        if (be_entry_get_rw(op, &n, nullptr, nullptr, 0, &e_) != LDAP_SUCCESS) e_ = nullptr;
        op->o_bd = save;
    }
    ~EntryReader() {
        if (!e_) return;
        if (on_) {
            overlay_entry_release_ov(op_, e_, 0, on_);
            return;
        }
        BackendDB *save = op_->o_bd;
        op_->o_bd = db_;
        be_entry_release_r(op_, e_);
        op_->o_bd = save;
    }
    EntryReader(const EntryReader &) = delete;
    EntryReader &operator=(const EntryReader &) = delete;
    Entry *get() const { return e_; }

private:
    Operation *op_;
    slap_overinst *on_ = nullptr;  // set: read below this overlay
    BackendDB *db_ = nullptr;      // else: read from this database
    Entry *e_ = nullptr;
};

/* What a charge needs from the configuration, resolved once per change
 * instead of once per charge: the windows and the attribute of every
 * window's metric limits. */
struct Resolved {
    std::vector<WindowDef> windows;
    std::vector<std::array<AttributeDescription *, kMetricCount>> limit_ads;  // per window, per metric; null: none
    AttributeDescription *generic_limit = nullptr;                   // tallyLimit
    AttributeDescription *policy_dn = nullptr;                       // tallyPolicyDN
    AttributeDescription *aggregate_limit = nullptr;                 // tallyAggregateLimit
    AttributeDescription *aggregate_dn = nullptr;                    // tallyAggregateDN
    ObjectClass *aggregate_class = nullptr;                          // tallyAggregate (null: schema not loaded)
    AttributeDescription *accounting_only = nullptr;                 // tallyAccountingOnly (schema/tally.schema)
    AttributeDescription *warning = nullptr;                         // tallyWarning (soft limits)
    unsigned long generation = 0;                                    // changes with every rebuild
};

/* DnCache - what a parent entry says, by the parent's DN: which policy a
 * parent (domain) entry names (ti_parents), which aggregate an account
 * under a parent counts in (ti_aggregates). Every charge would otherwise
 * read the parent entries; they change rarely and every change of one
 * passes this overlay (tally_guard.cpp forgets it), so the cache is
 * exact; the lifetime only bounds what a change made behind slapd's back
 * (slapadd, slapmodify) can leave stale. */
class DnCache {
public:
    static constexpr std::int64_t kLifetime = 300;
    static constexpr std::size_t kMaxEntries = 100000;
    DnCache() { ldap_pvt_thread_mutex_init(&mutex_); }
    ~DnCache() { ldap_pvt_thread_mutex_destroy(&mutex_); }
    DnCache(const DnCache &) = delete;
    DnCache &operator=(const DnCache &) = delete;

    std::optional<std::string> get(const std::string &parent, std::int64_t now) {
        MutexLock lock(mutex_);
        return map_.get(parent, now);
    }
    void put(const std::string &parent, const std::string &policy, std::int64_t now) {
        MutexLock lock(mutex_);
        map_.put(parent, policy, now);
    }
    void forget(const std::string &dn) {
        MutexLock lock(mutex_);
        map_.forget(dn);
    }
    void clear() {
        MutexLock lock(mutex_);
        map_.clear();
    }

private:
    ldap_pvt_thread_mutex_t mutex_;
    ExpiringMap map_{kLifetime, kMaxEntries};
};

/* AccountLocks - a charge or reset holds the lock of its account from
 * reading the entry until its write is written or, with group commit,
 * queued (PendingWrites), which makes decision and write atomic for that
 * account. Accounts share a fixed set of mutexes by hash of the
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

/* Outcome - how a charge or reset ended, before it becomes a reply */
struct Outcome {
    int rc = LDAP_SUCCESS;
    std::string text;
    bool write_failed = false;  // a counter write failed: a shared transaction is suspect
    std::size_t batch = 0;      // written by a group commit of this many (0: alone)
    bool first_in_commit = false;  // the first write of its group commit (which counts it once)
};

/* GroupCommit - charges and resets of many connections written in one
 * back-mdb transaction (tally_batch.cpp). With fsync on every commit a
 * charge otherwise waits for the fsync of every commit queued before its
 * own; this way one fsync serves a whole batch. */
class GroupCommit {
public:
    using Work = std::function<Outcome()>;
    GroupCommit();
    ~GroupCommit();
    GroupCommit(const GroupCommit &) = delete;
    GroupCommit &operator=(const GroupCommit &) = delete;

    /* usable - whether the database can share transactions: back-mdb, and
     * neither syncprov nor accesslog on it (they act on each write as if
     * committed when it returns) */
    static bool usable(slap_overinst *on);
    /* run - work (writes through op; the caller holds the account's lock,
     * read and decided already) inside a write transaction shared with the
     * work other threads hand in meanwhile; work's outcome once the
     * transaction is committed. queued runs once the work is in the queue
     * (transactions run the queue in order): the caller lets go of the
     * account's lock there. atomic: the work writes two entries (an
     * account and its aggregate) that must commit together, so it runs in
     * a transaction even alone. */
    Outcome run(Operation *op, slap_overinst *on, const Work &work, const std::function<void()> &queued,
                bool atomic = false);

private:
    struct Job;
    void run_batch(Operation *leader, slap_overinst *on, const std::vector<Job *> &batch);
    void run_alone(Operation *leader, slap_overinst *on, Job *job);

    ldap_pvt_thread_mutex_t mutex_;
    std::vector<Job *> queue_;
    bool leading_ = false;  // a thread is running a batch
};

/* MonitorLink - a database's counters and their place under cn=Monitor
 * (tally_monitor.cpp) */
struct MonitorLink {
    MonitorLink() { ldap_pvt_thread_mutex_init(&mutex); }
    ~MonitorLink() { ldap_pvt_thread_mutex_destroy(&mutex); }
    MonitorLink(const MonitorLink &) = delete;
    MonitorLink &operator=(const MonitorLink &) = delete;

    MonitorCounters counters;
    ldap_pvt_thread_mutex_t mutex;              // attach and detach
    std::atomic<bool> attached{false};
    std::atomic<std::int64_t> next_try{0};      // a late attach is tried at most once a second
    struct berval ndn = BER_BVNULL;             // the database's monitor entry (back-monitor's memory)
    void *callback = nullptr;                   // our monitor_callback_t, owned by back-monitor
};

/* ServerIdCache - the servers whose counter entries a charge reads, looked
 * up again after 10 seconds or once a counter container was added
 * (tally_counters.cpp) */
struct ServerIdCache {
    ServerIdCache() { ldap_pvt_thread_mutex_init(&mutex); }
    ~ServerIdCache() { ldap_pvt_thread_mutex_destroy(&mutex); }
    ServerIdCache(const ServerIdCache &) = delete;
    ServerIdCache &operator=(const ServerIdCache &) = delete;
    ldap_pvt_thread_mutex_t mutex;
    std::vector<unsigned> sids;
    std::int64_t read_at = 0;
    std::uint64_t generation = 0;  // counter_container_added() calls seen when sids were read
};

/* One per database the overlay sits on ("ti_" as in dds_info_t's di_). */
struct Info {
    AccountLocks ti_locks;             // read-decide-write of one account's charges and resets
    GroupCommit ti_batches;            // ... or all of them in shared transactions, one writer
    PendingWrites ti_pending;          // decided and queued, not yet committed (group commit)
    OverlayConfig ti_config;
    std::optional<TimeZone> ti_zone;
    Resolved ti_resolved;              // rebuilt by rebuild_resolved() after every configuration change
    DnCache ti_parents;                // parent entry -> the policy it names
    DnCache ti_aggregates;             // an account's parent -> the aggregate its accounts count in ("" none)
    AccountLocks ti_aggregate_locks;   // an aggregate's counters; taken after an account's, never before
    MonitorLink ti_monitor;            // what it counts, for cn=Monitor
    ServerIdCache ti_server_ids;       // whose counter entries to read (tally-counter-database)
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
    ObjectClass *history_record = nullptr;         // tallyHistoryRecord: one account's history
    ObjectClass *history_container = nullptr;      // tallyHistoryContainer: one server's history records
    ObjectClass *counter_record = nullptr;         // tallyCounterRecord: one account's counters on one server
    ObjectClass *counter_container = nullptr;      // tallyCounterContainer: one server's counter records
};
extern Schema g_schema;
extern slap_overinst g_overlay;

/* tally_config.cpp */
int config_register();

/* tally_entry.cpp */
/* read_state - counters and recent charge ids; not the history (it is
 * needed only when a period rolls over: tally_history.cpp) */
StoredState read_state(Entry *e, unsigned own_sid);
/* read_counters - the values of a counter attribute (malformed ones logged and skipped) */
std::vector<CounterValue> read_counters(Entry *e, AttributeDescription *ad);
LimitSet read_limits(const Resolved &r, Entry *e);
/* read_aggregate_limits - the tallyAggregateLimit values of an aggregate entry */
LimitSet read_aggregate_limits(const Resolved &r, Entry *e);
/* read_aggregate_dn - the tallyAggregateDN of an account, normalized; empty if none */
std::string read_aggregate_dn(const Resolved &r, Entry *e);
/* is_aggregate - whether the entry carries the tallyAggregate class */
bool is_aggregate(const Resolved &r, Entry *e);
/* read_policy_dn - the tallyPolicyDN of an entry, normalized; empty if none */
std::string read_policy_dn(const Resolved &r, Entry *e);
/* write_state - store the changes of own_sid's share from old_state to
 * new_state in the entry dn of db (the account, or its counter entry) */
int write_state(Operation *op, BackendDB &db, struct berval *dn, struct berval *ndn, const StoredState &old_state,
                const StoredState &new_state, unsigned own_sid, const char **text);
/* drop_values - remove own_sid's values of st from the entry dn of db, those still there */
int drop_values(Operation *op, BackendDB &db, struct berval *dn, struct berval *ndn, const StoredState &st,
                unsigned own_sid, const char **text);
/* own_server_id - this slapd's serverID (0 without one): the share it writes */
unsigned own_server_id();
/* diff_counters - append the value deletes and adds that turn sid's share
 * of before into after */
void diff_counters(Modifications **&tail, AttributeDescription *ad, const std::vector<CounterValue> &before,
                   const std::vector<CounterValue> &after, unsigned sid);
/* InternalOp - a write the overlay makes itself: a copy of the client's
 * operation aimed at one entry of db, as db's rootdn, its result dropped */
struct InternalOp {
    InternalOp(Operation *op, BackendDB &db, ber_tag_t tag, const struct berval &dn, const struct berval &ndn);
    InternalOp(const InternalOp &) = delete;  // op2 points at cb
    InternalOp &operator=(const InternalOp &) = delete;
    Operation op2;
    SlapReply rs2 = {REP_RESULT};
    slap_callback cb = {};
};
/* stack_top - the account's database entered from the top of its overlay
 * stack: internal writes pass syncprov, accesslog and this overlay's guard */
BackendDB stack_top(Operation *op, slap_overinst *on);
/* internal_modify - run mods on one entry of db (entered at its top) as
 * its rootdn; takes mods; on failure logs and sets text */
int internal_modify(Operation *op, BackendDB &db, struct berval *dn, struct berval *ndn, Modifications *mods,
                    const char **text);

/* test_pause_init - read TALLY_TEST_PAUSE_DIR once, at module load
 * (tests only: a counter write that pauses after its commit, tally_entry.cpp) */
void test_pause_init();
/* test_pause_arm - on the overlay's own counter write (guard_modify): pause it after its commit when asked */
void test_pause_arm(Operation *op);

/* tally_history.cpp: the history entry of one account on one server */
struct HistoryPlace {
    struct berval dn() const { return {dn_.size(), const_cast<char *>(dn_.data())}; }
    struct berval ndn() const { return {ndn_.size(), const_cast<char *>(ndn_.data())}; }
    std::string dn_, ndn_;                      // cn=UUID,cn=tally-history-sidN,SUFFIX
    std::string container_dn_, container_ndn_;  // cn=tally-history-sidN,SUFFIX
};
/* history_place - under the suffix of tally-history-database, or of the
 * account's own database; nullopt when the account has no usable
 * entryUUID (its history then stays in the account entry) */
std::optional<HistoryPlace> history_place(BackendDB *be, const OverlayConfig &cfg, Entry *account, unsigned sid);
/* read_history - the values stored at place; false when it does not exist yet */
bool read_history(Operation *op, const HistoryPlace &place, std::vector<CounterValue> &out);
/* write_history - store sid's share of after at place (which holds before),
 * adding the container and the entry first when they do not exist; in
 * its own transaction(s), committed before the account is written */
int write_history(Operation *op, const HistoryPlace &place, bool exists,
                  const std::vector<CounterValue> &before, const std::vector<CounterValue> &after, unsigned sid,
                  const char **text);
/* add_named_entry - add an empty entry "cn=VALUE,..." of class oc as the rootdn of db */
int add_named_entry(Operation *op, BackendDB &db, const std::string &dn, const std::string &ndn, ObjectClass *oc);
/* history_operational - bi_operational: tallyHistory on an account, read
 * from its history entries, and with tally-counter-database its counters
 * (tally_counters.cpp) */
int history_operational(Operation *op, SlapReply *rs);

/* tally_counters.cpp: an account's counters in an entry of their own */
struct CounterSource {
    std::optional<HistoryPlace> own;  // set: counters live apart; this server's counter entry
    bool own_exists = false;
    bool own_empty = true;            // it holds none of this server's values (missing, or just added)
    StoredState in_account;           // this server's values still in the account (from before the option)
};
/* counter_place - sid's counter entry for account; nullopt when counters
 * stay in the account (no tally-counter-database, or no entryUUID) */
std::optional<HistoryPlace> counter_place(const OverlayConfig &cfg, Entry *account, unsigned sid);
/* read_counters_of - the counters a charge decides on: every server's,
 * from their counter entries (or the account, where not moved yet), or
 * basis when a pending write leaves them so; and in src where this
 * server writes them. Without tally-counter-database: the account's. */
StoredState read_counters_of(Operation *op, Info *ti, Entry *account, unsigned own_sid, const StoredState *basis,
                             CounterSource &src);
/* counter_container_added - after a committed add of a counter container
 * (a charge's own, or one replication brought): every ServerIdCache reads
 * the containers again, so a new server's counters count at once, not 10 s
 * later */
void counter_container_added();
/* prepare_counter_entry - add this server's counter entry (and container)
 * when missing, in a commit of its own before the counter write */
int prepare_counter_entry(Operation *op, CounterSource &src, const char **text);
/* counters_in_own_database - whether the counter write goes to the database
 * the charge runs in (a group commit can carry it then) */
bool counters_in_own_database(Operation *op, const CounterSource &src);
/* write_counter_state - write_state to wherever src says */
int write_counter_state(Operation *op, slap_overinst *on, const CounterSource &src, const StoredState &before,
                        const StoredState &after, unsigned own_sid, const char **text);
/* move_out_of_account - after a committed write to the counter entry,
 * remove what the account still held of this server's counters, and the
 * history it held that this charge moved to the history entry */
void move_out_of_account(Operation *op, slap_overinst *on, const CounterSource &src, unsigned own_sid,
                         const std::vector<CounterValue> &history_moved = {});
/* apart_values - the values of each of ads (tallyUsage, tallyRecentCharge)
 * in every server's counter entry for account: out[i] for ads[i],
 * allocated (null when there are none), one read per entry */
void apart_values(Operation *op, Info *ti, Entry *account, const std::vector<AttributeDescription *> &ads,
                  std::vector<Attribute *> &out);

/* tally_exop.cpp */
int exop_charge(Operation *op, SlapReply *rs);
int exop_reset(Operation *op, SlapReply *rs);
int overlay_extended(Operation *op, SlapReply *rs);

/* tally_monitor.cpp */
/* monitor_schema_register - the tallyMonitor class and its attributes (module load) */
int monitor_schema_register();
/* monitor_attach - put the database's counters under cn=Monitor when
 * slapd has a monitor database (db_open); does nothing otherwise; false
 * only when a monitor database refused them */
bool monitor_attach(BackendDB *be, slap_overinst *on, Info *ti);
/* monitor_attach_late - the same from a charge or reset, for a monitor
 * database added at runtime: tried at most once a second, a relaxed load
 * once attached */
void monitor_try_attach(Operation *op, slap_overinst *on, Info *ti, std::int64_t now);
inline void monitor_attach_late(Operation *op, slap_overinst *on, Info *ti, std::int64_t now) {
    if (!ti->ti_monitor.attached.load(std::memory_order_relaxed)) monitor_try_attach(op, on, ti, now);
}
/* monitor_detach - take them off again (db_close) */
void monitor_detach(Info *ti);

/* tally_guard.cpp */
int guard_modify(Operation *op, SlapReply *rs);
/* adjust_replicated_counters - a replicated modify (syncrepl, multi-provider)
 * rewritten so that it never removes this server's own counter values
 * (tally_own_values.cpp, core/own_values.h) */
void adjust_replicated_counters(Operation *op);
int guard_add(Operation *op, SlapReply *rs);
/* guard_delete_or_rename - forgets which aggregate accounts count in */
int guard_delete_or_rename(Operation *op, SlapReply *rs);
int guard_response(Operation *op, SlapReply *rs);

}  // namespace tally::overlay
