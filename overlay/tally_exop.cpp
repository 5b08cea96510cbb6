// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_exop.cpp - the charge and reset extended operations
 *
 * DESCRIPTION
 *   exop_charge/exop_reset are registered with load_extop2 and run first:
 *   they decode the request, find the database holding the account and
 *   pass the operation to that database's overlay stack, where
 *   overlay_extended does the work with the instance's configuration (the
 *   pattern of dds.c's refresh operation).
 *
 *   Authorization is an ACL decision on the account entry:
 *     charge, count   write access to the pseudo-attribute tallyCharge
 *     check           read access to tallyUsage
 *     reset           write access to the pseudo-attribute tallyReset
 *   anonymous callers get strongerAuthRequired, others insufficientAccess.
 *
 * DIAGNOSTICS
 *   One LDAP_DEBUG_STATS line per decision: "TALLY CHARGE dn=... verdict=...".
 */
#include "tally.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <type_traits>

namespace tally::overlay {

namespace {

struct berval g_charge_oid = {std::strlen(kChargeOid), const_cast<char *>(kChargeOid)};
struct berval g_reset_oid = {std::strlen(kResetOid), const_cast<char *>(kResetOid)};

/* Result texts must outlive the handler: fe_extended sends them after we
 * return, on the same thread. */
thread_local std::string t_text;

int reply(SlapReply *rs, int code, std::string text) {
    t_text = std::move(text);
    rs->sr_err = code;
    rs->sr_text = t_text.c_str();
    return code;
}

std::string_view request_value(Operation *op) {
    if (!op->ore_reqdata) return {};
    return {op->ore_reqdata->bv_val, op->ore_reqdata->bv_len};
}

/* now_seconds - the clock, read once per charge and passed along. The test
 * hook TALLY_CLOCK_FILE (a file holding epoch seconds, for tests that move
 * time) is looked up once, at the first charge: unset, a charge reads
 * neither the environment nor a file. */
std::int64_t now_seconds() {
    static const std::string clock_file = [] {
        const char *f = std::getenv("TALLY_CLOCK_FILE");
        return std::string(f ? f : "");
    }();
    if (!clock_file.empty()) {
        std::ifstream in(clock_file);
        long long v = 0;
        if (in >> v) return v;
    }
    return static_cast<std::int64_t>(time(nullptr));
}

/* current_periods - the period of every window at now. Formatting dates is
 * the costliest part of a charge, so each thread keeps the last minute's
 * answer: no allowed pattern conversion is finer than a minute. */
const std::vector<std::string> &current_periods(const Info *ti, std::int64_t now) {
    thread_local struct {
        const Info *info = nullptr;
        unsigned long generation = 0;
        std::int64_t minute = -1;
        std::vector<std::string> periods;
    } cache;
    std::int64_t minute = now / 60;
    if (cache.info != ti || cache.generation != ti->ti_resolved.generation || cache.minute != minute) {
        cache.periods.clear();
        for (const WindowDef &w : ti->ti_resolved.windows) cache.periods.push_back(ti->ti_zone->period_of(w, now));
        cache.info = ti;
        cache.generation = ti->ti_resolved.generation;
        cache.minute = minute;
    }
    return cache.periods;
}

/* error_class - which monitor error counter a refused request moves */
ErrorClass error_class(int rc, bool write_failed) {
    if (write_failed) return ErrorClass::write_failed;
    switch (rc) {
        case LDAP_PROTOCOL_ERROR:
        case LDAP_INVALID_DN_SYNTAX:
        case LDAP_NO_SUCH_OBJECT:
        case LDAP_NO_SUCH_ATTRIBUTE:
            return ErrorClass::bad_request;
        case LDAP_INSUFFICIENT_ACCESS:
        case LDAP_STRONG_AUTH_REQUIRED:
            return ErrorClass::not_authorized;
        default:
            return ErrorClass::other;
    }
}

/* count_error - a request this database refused: its monitor counter, and the answer */
int count_error(Info *ti, SlapReply *rs, int rc, std::string text, bool write_failed = false) {
    ti->ti_monitor.counters.add(counter_of(error_class(rc, write_failed)));
    return reply(rs, rc, std::move(text));
}

/* count_write - a counter write that was committed: commits (a group
 * commit counted once, by its first write) and the writes they carried */
void count_write(Info *ti, const Outcome &out) {
    MonitorCounters &c = ti->ti_monitor.counters;
    c.add(MonitorCounter::committed_writes);
    if (out.batch <= 1 || out.first_in_commit) c.add(MonitorCounter::commits);
}

/* Locker - the account's lock for its read-decide-write (or -queue) */
struct Locker : MutexLock {
    Locker(Info *ti, const struct berval &ndn) : MutexLock(ti->ti_locks.of(ndn)) {}
};

/* refuse_on_replica - a single-provider consumer does not take writes:
 * referral to the provider when one is configured, unwillingToPerform otherwise */
bool refuse_on_replica(Operation *op, SlapReply *rs) {
    if (!SLAP_SINGLE_SHADOW(op->o_bd) || be_isupdate(op)) return false;
    BerVarray defref = op->o_bd->be_update_refs ? op->o_bd->be_update_refs : default_referral;
    if (defref) {
        rs->sr_ref = referral_rewrite(defref, nullptr, nullptr, LDAP_SCOPE_DEFAULT);
        if (rs->sr_ref) rs->sr_flags |= REP_REF_MUSTBEFREED;
        else rs->sr_ref = defref;
        reply(rs, LDAP_REFERRAL, "this server is a replica; charge a provider");
    } else {
        reply(rs, LDAP_UNWILLING_TO_PERFORM, "this server is a replica and knows no provider");
    }
    return true;
}

/* denied - the ACL decision: nullopt when allowed, else the answer */
std::optional<Outcome> denied(Operation *op, Entry *e, AttributeDescription *ad, slap_access_t level,
                              const char *what) {
    if (access_allowed(op, e, ad, nullptr, level, nullptr)) return std::nullopt;
    if (BER_BVISEMPTY(&op->o_ndn))
        return Outcome{LDAP_STRONG_AUTH_REQUIRED, std::string(what) + " needs an authenticated identity"};
    return Outcome{LDAP_INSUFFICIENT_ACCESS, std::string(what) + " denied: no " +
                                                 (level == ACL_WRITE ? "write" : "read") + " access to " +
                                                 ad->ad_cname.bv_val + " on this entry"};
}

/* windows_at - every window with its period at now (limits filled in later) */
std::vector<CurrentWindow> windows_at(const Info *ti, std::int64_t now) {
    const std::vector<std::string> &periods = current_periods(ti, now);
    std::vector<CurrentWindow> windows;
    for (std::size_t wi = 0; wi < ti->ti_resolved.windows.size(); ++wi)
        windows.push_back(CurrentWindow{ti->ti_resolved.windows[wi].name, periods[wi], {}});
    return windows;
}

/* limits_of - the four levels: account, its policy, its parent's policy,
 * defaults (the parent's policy from a cache valid at now) */
LimitLevels limits_of(Operation *op, slap_overinst *on, Info *ti, Entry *account, std::int64_t now) {
    const Resolved &cfg = ti->ti_resolved;
    LimitLevels levels;
    levels.account = read_limits(cfg, account);
    levels.defaults = &ti->ti_config.defaults;
    std::string policy = read_policy_dn(cfg, account);
    if (!policy.empty()) {
        struct berval pdn = {policy.size(), policy.data()};
        EntryReader p(op, on, pdn);
        if (p.get()) levels.policy = read_limits(cfg, p.get());
        else Debug(LDAP_DEBUG_ANY, "%s tally: policy \"%s\" of \"%s\" not found; ignored\n",
                   op->o_log_prefix, policy.c_str(), account->e_nname.bv_val);
    }
    struct berval parent;
    dnParent(&account->e_nname, &parent);
    if (!BER_BVISEMPTY(&parent) && dnIsSuffix(&parent, op->o_bd->be_nsuffix)) {
        std::string parent_ndn(parent.bv_val, parent.bv_len);
        auto cached = ti->ti_parents.get(parent_ndn, now);
        std::string parent_policy = cached ? *cached : std::string();
        if (!cached) {
            EntryReader pe(op, on, parent);
            if (pe.get()) parent_policy = read_policy_dn(cfg, pe.get());
            ti->ti_parents.put(parent_ndn, parent_policy, now);
        }
        if (!parent_policy.empty()) {
            struct berval pdn = {parent_policy.size(), parent_policy.data()};
            EntryReader p(op, on, pdn);
            if (p.get()) levels.parentPolicy = read_limits(cfg, p.get());
        }
    }
    return levels;
}

void set_response(SlapReply *rs, const char *oid, const std::string &value) {
    struct berval bv = {value.size(), const_cast<char *>(value.data())};
    rs->sr_rspdata = value.empty() ? nullptr : ber_dupbv(nullptr, &bv);
    rs->sr_rspoid = ch_strdup(oid);
}

/* The front handler decodes a charge request to find the account's
 * database; the overlay instance it dispatches to, on the same thread and
 * for the same operation, uses that decoding instead of a second one. */
struct DecodedCharge {
    const Operation *op = nullptr;
    const ChargeRequest *request = nullptr;
};
thread_local DecodedCharge t_decoded;

/* aggregate_of - the aggregate an account counts in: the entry its
 * tallyAggregateDN names, else the nearest ancestor (within the database)
 * of class tallyAggregate, remembered per parent DN; empty when none */
std::string aggregate_of(Operation *op, slap_overinst *on, Info *ti, Entry *account, std::int64_t now) {
    const Resolved &cfg = ti->ti_resolved;
    std::string named = read_aggregate_dn(cfg, account);
    if (!named.empty() || !cfg.aggregate_class) return named;
    struct berval parent;
    dnParent(&account->e_nname, &parent);
    if (BER_BVISEMPTY(&parent) || !dnIsSuffix(&parent, op->o_bd->be_nsuffix)) return {};
    const std::string key(parent.bv_val, parent.bv_len);
    if (auto cached = ti->ti_aggregates.get(key, now)) return *cached;
    std::string found;
    for (struct berval dn = parent; !BER_BVISEMPTY(&dn) && dnIsSuffix(&dn, op->o_bd->be_nsuffix);) {
        EntryReader e(op, on, dn);
        if (e.get() && is_aggregate(cfg, e.get())) {
            found.assign(dn.bv_val, dn.bv_len);
            break;
        }
        struct berval up;
        dnParent(&dn, &up);  // not in place: dnParent reads dn while writing its result
        dn = up;
    }
    ti->ti_aggregates.put(key, found, now);
    return found;
}

/* OnEntry - op aimed at another entry (the aggregate) for the writes the
 * counter functions make to "the account" (op->o_req_dn), restored at scope exit */
class OnEntry {
public:
    OnEntry(Operation *op, const std::string &ndn) : op_(op), dn_(op->o_req_dn), ndn_(op->o_req_ndn) {
        op->o_req_dn = op->o_req_ndn = {ndn.size(), const_cast<char *>(ndn.data())};
    }
    ~OnEntry() {
        op_->o_req_dn = dn_;
        op_->o_req_ndn = ndn_;
    }
    OnEntry(const OnEntry &) = delete;
    OnEntry &operator=(const OnEntry &) = delete;

private:
    Operation *op_;
    struct berval dn_, ndn_;
};

/* Part - one entry a charge reads and writes: the account, or its aggregate */
struct Part {
    std::string ndn;
    StoredState before;                         // as read (history: what the entry holds itself)
    std::vector<CounterValue> in_entry;         // history an earlier version kept in the entry
    std::optional<HistoryPlace> place;          // the history entry, when a period rolls over
    bool place_exists = false;
    std::vector<CounterValue> history_before;   // what the history entry holds
    std::vector<CounterValue> history_after;
    CounterSource source;                       // where the counters are read and written
    PendingWrites::Handle basis;                // the pending write decided on, if any
    bool accounting_only = false;               // count, never refuse (global or tallyAccountingOnly)
};

/* Decided - what a charge read, decided and wants written */
struct Decided {
    ChargePlan plan;                            // new_state: the account after; aggregate_state: the aggregate's
    Part account;                               // the entry charged (an aggregate itself when self_aggregate)
    std::optional<Part> aggregate;              // the aggregate it counts in
    bool self_aggregate = false;
    std::unique_ptr<MutexLock> aggregate_lock;  // the aggregate's counters, after the account's lock
};

enum class Side { account, aggregate };

/* read_part - one entry under the caller's lock(s): the ACL decision, its
 * counters (on part.basis when set), its limits into windows, and on a
 * roll-over where its history goes. For the account side also whether
 * it is an aggregate itself (then nothing more is read: the caller takes
 * the aggregate's lock and reads it again as one) and which aggregate it
 * counts in. */
Outcome read_part(Operation *op, slap_overinst *on, Info *ti, const ChargeRequest &req, const ChargePolicy &policy,
                  std::int64_t now, Side side, Part &part, std::vector<CurrentWindow> &windows, StoredState &stored,
                  std::string *aggregate_dn = nullptr, bool *self_aggregate = nullptr) {
    const Resolved &cfg = ti->ti_resolved;
    {
        // One read serves authorization, limits and counters. Released
        // before the write: back-mdb must not see a read transaction of
        // this thread still open when the write begins.
        struct berval ndn = {part.ndn.size(), part.ndn.data()};
        EntryReader e(op, on, ndn);
        if (!e.get())
            return {LDAP_NO_SUCH_OBJECT, side == Side::account ? "no such account entry" : "no such aggregate entry"};
        auto no = req.mode == Mode::check ? denied(op, e.get(), g_schema.usage, ACL_READ, "reading usage")
                                          : denied(op, e.get(), g_schema.charge_right, ACL_WRITE, "charging");
        if (no) {
            if (side == Side::aggregate) no->text += " (the aggregate \"" + part.ndn + "\")";
            return *no;
        }
        if (side == Side::aggregate && !is_aggregate(cfg, e.get()))
            return {LDAP_NO_SUCH_OBJECT, "not an aggregate (no objectClass tallyAggregate)"};
        if (side == Side::account) {
            *self_aggregate = is_aggregate(cfg, e.get());
            if (*self_aggregate) return {};
            *aggregate_dn = aggregate_of(op, on, ti, e.get(), now);
        }
        stored = read_counters_of(op, ti, e.get(), policy.own_sid, part.basis ? &part.basis->after : nullptr,
                                  part.source);
        if (req.mode != Mode::check && rolls_over(windows, stored, policy.own_sid)) {
            part.in_entry = part.basis ? part.basis->after.history : read_counters(e.get(), g_schema.history);
            part.place = history_place(op->o_bd, ti->ti_config, e.get(), policy.own_sid);
            if (!part.place)
                Debug(LDAP_DEBUG_ANY, "%s tally: \"%s\" has no entryUUID; its history stays in the entry\n",
                      op->o_log_prefix, part.ndn.c_str());
        }
        LimitLevels levels;
        if (side == Side::account) levels = limits_of(op, on, ti, e.get(), now);
        else levels.account = read_aggregate_limits(cfg, e.get());  // an aggregate's own, nothing inherited
        for (CurrentWindow &cw : windows)
            for (Metric m : kAllMetrics) {
                auto i = static_cast<int>(m);
                cw.limits[i] = resolve_limit(levels, cw.name, m);
                // Soft limits are the account's (its own, its policies', the defaults).
                if (side == Side::account) cw.warnings[i] = resolve_warning(levels, cw.name, m, cw.limits[i].max);
            }
        // Decided here, with the limits, so every door and tallyctl check agree.
        if (side == Side::account) part.accounting_only = resolve_accounting_only(levels, policy.accounting_only);
    }
    part.place_exists = part.place && read_history(op, *part.place, part.history_before);
    stored.history = part.in_entry;
    stored.history.insert(stored.history.end(), part.history_before.begin(), part.history_before.end());
    return {};
}

/* settle_part - after the plan: what the entry itself holds as before, and
 * the history moved to its history entry out of the state to write */
void settle_part(Part &part, StoredState &&stored, StoredState &after) {
    stored.history = std::move(part.in_entry);
    part.before = std::move(stored);
    if (part.place) {
        part.history_after = std::move(after.history);
        after.history.clear();
    }
}

/* decide_charge - read the account (and its aggregate, and their history
 * when a period rolls over) and decide; writes nothing. The caller holds
 * the account's lock (not for check) and set d.account.basis; the
 * aggregate's lock is taken here, after it, and kept in d. */
Outcome decide_charge(Operation *op, slap_overinst *on, Info *ti, const ChargeRequest &req,
                      const ChargePolicy &policy, std::int64_t now, Decided &d) {
    const bool writes = req.mode != Mode::check;
    std::vector<CurrentWindow> windows = windows_at(ti, now);
    StoredState stored;
    std::string aggregate_dn;
    bool self = false;
    d.account.ndn.assign(op->o_req_ndn.bv_val, op->o_req_ndn.bv_len);
    if (Outcome out = read_part(op, on, ti, req, policy, now, Side::account, d.account, windows, stored,
                                &aggregate_dn, &self);
        out.rc != LDAP_SUCCESS)
        return out;
    if (self) {
        // An aggregate charged (or checked) itself: its counters are
        // guarded by the aggregate's lock, which its accounts' charges take.
        d.self_aggregate = true;
        if (writes) {
            d.aggregate_lock = std::make_unique<MutexLock>(ti->ti_aggregate_locks.of(op->o_req_ndn));
            d.account.basis = ti->ti_pending.latest(d.account.ndn);
        }
        if (Outcome out = read_part(op, on, ti, req, policy, now, Side::aggregate, d.account, windows, stored);
            out.rc != LDAP_SUCCESS)
            return out;
    }
    std::optional<AggregateInput> input;
    if (!aggregate_dn.empty()) {
        struct berval agg = {aggregate_dn.size(), aggregate_dn.data()};
        if (writes) d.aggregate_lock = std::make_unique<MutexLock>(ti->ti_aggregate_locks.of(agg));
        d.aggregate.emplace();
        d.aggregate->ndn = aggregate_dn;
        if (writes) d.aggregate->basis = ti->ti_pending.latest(aggregate_dn);
        input.emplace();
        input->windows = windows_at(ti, now);
        Outcome out = read_part(op, on, ti, req, policy, now, Side::aggregate, *d.aggregate, input->windows,
                                input->stored);
        bool drop = out.rc == LDAP_NO_SUCH_OBJECT ||
                    (!writes && (out.rc == LDAP_INSUFFICIENT_ACCESS || out.rc == LDAP_STRONG_AUTH_REQUIRED));
        if (drop) {
            // A missing aggregate is ignored, as a missing policy is; a
            // usage read by someone who may not read the aggregate's shows the account alone.
            if (out.rc == LDAP_NO_SUCH_OBJECT)
                Debug(LDAP_DEBUG_ANY, "%s tally: aggregate \"%s\" of \"%s\": %s; ignored\n", op->o_log_prefix,
                      aggregate_dn.c_str(), op->o_req_ndn.bv_val, out.text.c_str());
            d.aggregate.reset();
            input.reset();
            d.aggregate_lock.reset();
        } else if (out.rc != LDAP_SUCCESS) {
            return out;
        }
    }

    // An accounting-only account is never refused, by its own limits or its aggregate's.
    ChargePolicy effective = policy;
    effective.accounting_only = d.account.accounting_only;
    d.plan = plan_charge(windows, stored, req, effective, now, input ? &*input : nullptr);
    settle_part(d.account, std::move(stored), d.plan.new_state);
    if (d.aggregate) {
        settle_part(*d.aggregate, std::move(input->stored), d.plan.aggregate_state);
        d.plan.response.aggregate_dn = aggregate_dn;
    }
    return {};
}

/* write_history_of - store the history decide_charge moved, in its own
 * commit before the entry's (see tally_history.cpp) */
Outcome write_history_of(Operation *op, unsigned own_sid, const Part &p) {
    const char *text = nullptr;
    int rc = write_history(op, *p.place, p.place_exists, p.history_before, p.history_after, own_sid, &text);
    if (rc != LDAP_SUCCESS) return {rc == LDAP_BUSY ? LDAP_BUSY : LDAP_OTHER, text ? text : "", true};
    return {};
}

/* Write - one entry's counters to store: before as read (or as the
 * pending write they were decided on left them), after as decided */
struct Write {
    Part *part;
    const StoredState *after;
};

/* write_one - store one entry's counters where its source says */
Outcome write_one(Operation *op, slap_overinst *on, const Write &w, const StoredState &from, const StoredState &to,
                  unsigned own_sid) {
    OnEntry aimed(op, w.part->ndn);
    const char *text = nullptr;
    int rc = write_counter_state(op, on, w.part->source, from, to, own_sid, &text);
    if (rc != LDAP_SUCCESS) return {rc == LDAP_BUSY ? LDAP_BUSY : LDAP_OTHER, text ? text : "", true};
    return {};
}

/* write_counters - store the counters of the account, its aggregate, or
 * both. With group commit the writes are queued as one piece of work
 * (both in one transaction), the locks let go once they are, and each
 * after recorded as its entry's pending state until the commit (so the
 * next charge decides on it). Without it (syncprov or accesslog on the
 * database) they are two commits: the aggregate's first, taken back if
 * the account's fails. Leaves its arguments as they are, so a group
 * commit can run the work again on its own. */
Outcome write_counters(Operation *op, slap_overinst *on, Info *ti, MutexLock &lock, Decided &d,
                       const std::vector<Write> &writes, unsigned own_sid) {
    bool shared = GroupCommit::usable(on);
    for (const Write &w : writes) {
        OnEntry aimed(op, w.part->ndn);
        const char *prepared = nullptr;
        if (int rc = prepare_counter_entry(op, w.part->source, &prepared); rc != LDAP_SUCCESS)
            return {rc == LDAP_BUSY ? LDAP_BUSY : LDAP_OTHER, prepared ? prepared : "", true};
        // A group commit shares one transaction of the charge's database: a
        // counter entry in another database is written alone.
        shared = shared && counters_in_own_database(op, w.part->source);
    }
    if (!shared) {
        for (auto it = writes.rbegin(); it != writes.rend(); ++it) {
            Outcome out = write_one(op, on, *it, it->part->before, *it->after, own_sid);
            if (out.rc == LDAP_SUCCESS) continue;
            if (it != writes.rbegin()) {
                // The account's write failed after the aggregate's: nothing may stay counted.
                const Write &first = writes.back();
                if (write_one(op, on, first, *first.after, first.part->before, own_sid).rc != LDAP_SUCCESS)
                    Debug(LDAP_DEBUG_ANY, "%s tally: the aggregate \"%s\" keeps a charge the account's failed write "
                                          "did not count\n",
                          op->o_log_prefix, first.part->ndn.c_str());
            }
            return out;
        }
        return {};
    }
    auto work = [&]() -> Outcome {
        for (const Write &w : writes)
            if (Outcome out = write_one(op, on, w, w.part->before, *w.after, own_sid); out.rc != LDAP_SUCCESS)
                return out;
        return {};
    };
    PendingWrites::Ticket first = ti->ti_pending.add(writes[0].part->ndn, *writes[0].after);
    PendingWrites::Ticket second = writes.size() > 1 ? ti->ti_pending.add(writes[1].part->ndn, *writes[1].after)
                                                     : PendingWrites::Ticket(ti->ti_pending, "", nullptr);
    Outcome out = ti->ti_batches.run(
        op, on, work,
        [&] {
            lock.unlock();
            d.aggregate_lock.reset();
        },
        writes.size() > 1);
    first.settle(out.rc == LDAP_SUCCESS);
    second.settle(out.rc == LDAP_SUCCESS);
    return out;
}

/* writes_of - what a decision writes: the account first, then its aggregate */
std::vector<Write> writes_of(Decided &d) {
    std::vector<Write> w;
    if (d.plan.write) w.push_back({&d.account, &d.plan.new_state});
    if (d.plan.aggregate_write && d.aggregate) w.push_back({&*d.aggregate, &d.plan.aggregate_state});
    return w;
}

/* move_out - after the commit: what the entries still held of counters that now live apart */
void move_out(Operation *op, slap_overinst *on, const std::vector<Write> &writes, unsigned own_sid) {
    for (const Write &w : writes) {
        OnEntry aimed(op, w.part->ndn);
        move_out_of_account(op, on, w.part->source, own_sid,
                            w.part->place ? w.part->before.history : std::vector<CounterValue>{});
    }
}

int do_charge(Operation *op, SlapReply *rs, slap_overinst *on, Info *ti) {
    ChargeRequest decoded;
    const ChargeRequest *given = t_decoded.op == op ? t_decoded.request : nullptr;
    if (!given) {
        if (auto err = decode_charge_request(request_value(op), decoded))
            return count_error(ti, rs, LDAP_PROTOCOL_ERROR, "malformed charge request: " + *err);
        given = &decoded;
    }
    const ChargeRequest &req = *given;
    if (req.mode != Mode::check && refuse_on_replica(op, rs)) {
        ti->ti_monitor.counters.add(MonitorCounter::errors_other);
        return rs->sr_err;
    }

    const OverlayConfig &cfg = ti->ti_config;
    ChargePolicy policy;
    policy.accounting_only = cfg.accounting_only;
    policy.history_keep = cfg.history;
    policy.charge_id_ttl = cfg.charge_id_ttl;
    policy.charge_id_max = cfg.charge_id_max;
    policy.own_sid = own_server_id();
    if (req.mode == Mode::cancel)
        policy.period_at = [ti](std::size_t i, std::int64_t t) {
            return ti->ti_zone->period_of(ti->ti_resolved.windows[i], t);
        };

    Decided d;
    Outcome out;
    if (req.mode == Mode::check) {
        out = decide_charge(op, on, ti, req, policy, now_seconds(), d);  // writes nothing: no lock
    } else {
        const std::string account(op->o_req_ndn.bv_val, op->o_req_ndn.bv_len);
        for (;;) {
            // The account's lock (then its aggregate's), from the read until
            // the write is queued behind the one decided on (or committed,
            // without group commit), makes decision and write atomic.
            Locker lock(ti, op->o_req_ndn);
            d = Decided{};
            d.account.basis = ti->ti_pending.latest(account);
            out = decide_charge(op, on, ti, req, policy, now_seconds(), d);
            if (out.rc != LDAP_SUCCESS) break;
            std::vector<Write> writes = writes_of(d);
            if (writes.empty()) {
                // Nothing to write (refused, or counted already): answer only
                // once what it was decided on is committed; decide again if
                // that write failed.
                lock.unlock();
                d.aggregate_lock.reset();
                bool sound = !d.account.basis || ti->ti_pending.wait(d.account.basis);
                if (d.aggregate && d.aggregate->basis) sound = ti->ti_pending.wait(d.aggregate->basis) && sound;
                if (sound) break;
                continue;
            }
            for (const Write &w : writes)
                if (w.part->place && (out = write_history_of(op, policy.own_sid, *w.part)).rc != LDAP_SUCCESS) break;
            if (out.rc != LDAP_SUCCESS) break;
            out = write_counters(op, on, ti, lock, d, writes, policy.own_sid);
            if (out.rc == LDAP_SUCCESS) move_out(op, on, writes, policy.own_sid);
            break;
        }
    }
    d.aggregate_lock.reset();
    if (out.rc != LDAP_SUCCESS) return count_error(ti, rs, out.rc, out.text, out.write_failed);

    const ChargeResponse &resp = d.plan.response;
    if (req.mode != Mode::check && (d.plan.write || d.plan.aggregate_write)) count_write(ti, out);
    ti->ti_monitor.counters.add(counter_of(req.mode, resp.verdict));
    if (resp.first_hit) ti->ti_monitor.counters.add(MonitorCounter::first_limit_hits);
    std::string why = describe_refusal(resp);
    // Say why an over-limit message was let through: the account counts only.
    if (resp.exceeded && resp.verdict == Verdict::accepted && d.account.accounting_only) why += " accountingOnly";
    std::string level = resp.exceeded ? " level=" + std::string(level_name(resp.exceeded->level)) : "";
    std::string aggregate = resp.aggregate_dn.empty() ? "" : " aggregate=\"" + resp.aggregate_dn + "\"";
    Debug(LDAP_DEBUG_STATS,
          "%s TALLY CHARGE dn=\"%s\" mode=%s id=\"%s\" messages=%llu recipients=%llu external=%llu bytes=%llu%s "
          "verdict=%s%s%s%s%s\n",
          op->o_log_prefix, op->o_req_ndn.bv_val, std::string(mode_name(req.mode)).c_str(),
          req.charge_id.c_str(), static_cast<unsigned long long>(req.messages),
          static_cast<unsigned long long>(req.recipients), static_cast<unsigned long long>(req.external_recipients),
          static_cast<unsigned long long>(req.bytes), aggregate.c_str(), std::string(verdict_name(resp.verdict)).c_str(),
          why.empty() ? "" : " exceeded=", why.c_str(), level.c_str(),
          out.batch > 1 ? (" batch=" + std::to_string(out.batch)).c_str() : "");
    set_response(rs, kChargeOid, encode_charge_response(resp));
    return reply(rs, LDAP_SUCCESS, resp.verdict == Verdict::refused ? why : "");
}

int do_reset(Operation *op, SlapReply *rs, slap_overinst *on, Info *ti) {
    ResetRequest req;
    if (auto err = decode_reset_request(request_value(op), req))
        return count_error(ti, rs, LDAP_PROTOCOL_ERROR, "malformed reset request: " + *err);
    if (refuse_on_replica(op, rs)) {
        ti->ti_monitor.counters.add(MonitorCounter::errors_other);
        return rs->sr_err;
    }
    if (!req.window.empty()) {
        bool known = false;
        for (const WindowDef &w : ti->ti_resolved.windows) known |= w.name == req.window;
        if (!known) return count_error(ti, rs, LDAP_NO_SUCH_ATTRIBUTE, "no window named \"" + req.window + "\"");
    }
    const unsigned own_sid = own_server_id();
    Outcome out;
    bool aggregate = false;
    {
        Locker lock(ti, op->o_req_ndn);
        const std::int64_t now = now_seconds();
        std::vector<CurrentWindow> windows = windows_at(ti, now);
        Decided d;
        d.account.ndn.assign(op->o_req_ndn.bv_val, op->o_req_ndn.bv_len);
        StoredState stored;
        {
            EntryReader entry(op, on, op->o_req_ndn);
            if (!entry.get()) return count_error(ti, rs, LDAP_NO_SUCH_OBJECT, "no such account entry");
            if (auto no = denied(op, entry.get(), g_schema.reset_right, ACL_WRITE, "reset"))
                return count_error(ti, rs, no->rc, no->text);
            aggregate = is_aggregate(ti->ti_resolved, entry.get());
        }
        // An aggregate's counters are guarded by the aggregate's lock (its
        // accounts' charges write them): read them under it.
        if (aggregate) d.aggregate_lock = std::make_unique<MutexLock>(ti->ti_aggregate_locks.of(op->o_req_ndn));
        {
            EntryReader entry(op, on, op->o_req_ndn);
            if (!entry.get()) return count_error(ti, rs, LDAP_NO_SUCH_OBJECT, "no such account entry");
            d.account.basis = ti->ti_pending.latest(d.account.ndn);
            stored = read_counters_of(op, ti, entry.get(), own_sid,
                                      d.account.basis ? &d.account.basis->after : nullptr, d.account.source);
        }
        // The reset is a replicated event: this server's share restarts with
        // reset=now, which voids every older share of the period, here and on
        // every provider it reaches. History is not touched.
        d.plan.new_state = plan_reset(stored, windows, req.window, own_sid, now);
        d.plan.write = true;
        d.account.before = std::move(stored);
        std::vector<Write> writes = writes_of(d);
        out = write_counters(op, on, ti, lock, d, writes, own_sid);
        if (out.rc == LDAP_SUCCESS) move_out(op, on, writes, own_sid);
    }
    if (out.rc != LDAP_SUCCESS) return count_error(ti, rs, out.rc, out.text, out.write_failed);
    count_write(ti, out);
    ti->ti_monitor.counters.add(MonitorCounter::resets);
    Debug(LDAP_DEBUG_STATS, "%s TALLY RESET dn=\"%s\"%s window=%s by=\"%s\"\n", op->o_log_prefix,
          op->o_req_ndn.bv_val, aggregate ? " level=aggregate" : "", req.window.empty() ? "all" : req.window.c_str(),
          op->o_ndn.bv_val);
    set_response(rs, kResetOid, "");
    return reply(rs, LDAP_SUCCESS, "");
}

/* info_of - the overlay's state on a database that carries it */
Info *info_of(BackendDB *be) {
    if (!overlay_is_over(be)) return nullptr;
    auto *oi = static_cast<slap_overinfo *>(be->bd_info->bi_private);
    for (slap_overinst *on = oi->oi_list; on; on = on->on_next)
        if (on->on_bi.bi_type && std::strcmp(on->on_bi.bi_type, "tally") == 0)
            return static_cast<Info *>(on->on_bi.bi_private);
    return nullptr;
}

/* dispatch - shared front half of both operations: DN, database, overlay */
int dispatch(Operation *op, SlapReply *rs, const std::string &account_dn) {
    struct berval dn = {account_dn.size(), const_cast<char *>(account_dn.data())};
    struct berval ndn = BER_BVNULL;
    if (dnNormalize(0, nullptr, nullptr, &dn, &ndn, op->o_tmpmemctx) != LDAP_SUCCESS)
        return reply(rs, LDAP_INVALID_DN_SYNTAX, "account DN is not a valid DN");
    BackendDB *bd = op->o_bd;
    op->o_req_dn = ndn;
    op->o_req_ndn = ndn;
    op->o_bd = select_backend(&op->o_req_ndn, 0);
    int rc;
    if (!op->o_bd) {
        rc = reply(rs, LDAP_NO_SUCH_OBJECT, "no database holds this DN");
    } else if (!overlay_is_inst(op->o_bd, "tally")) {
        rc = reply(rs, LDAP_UNWILLING_TO_PERFORM, "the tally overlay is not configured on the database holding this DN");
    } else if ((rc = backend_check_restrictions(op, rs, &op->ore_reqoid)) != LDAP_SUCCESS) {
        // rs already says why (read-only database, restricted operation,
        // an anonymous write); counted by the database it was meant for
        if (Info *ti = info_of(op->o_bd)) ti->ti_monitor.counters.add(counter_of(error_class(rc, false)));
    } else {
        rc = op->o_bd->be_extended(op, rs);
        if (rc == SLAP_CB_CONTINUE) rc = reply(rs, LDAP_OTHER, "extended operation not handled");
    }
    op->o_bd = bd;
    op->o_tmpfree(ndn.bv_val, op->o_tmpmemctx);
    BER_BVZERO(&op->o_req_dn);
    BER_BVZERO(&op->o_req_ndn);
    return rc;
}

template <typename Request, typename Decode>
int front(Operation *op, SlapReply *rs, Decode decode, const char *what) noexcept {
    try {
        if (!op->ore_reqdata) return reply(rs, LDAP_PROTOCOL_ERROR, std::string(what) + " request has no value");
        Request req;
        if (auto err = decode(request_value(op), req))
            return reply(rs, LDAP_PROTOCOL_ERROR, std::string("malformed ") + what + " request: " + *err);
        if constexpr (std::is_same_v<Request, ChargeRequest>) t_decoded = {op, &req};
        struct Forget {
            ~Forget() { t_decoded = {}; }
        } forget;
        return dispatch(op, rs, req.account);
    } catch (const std::bad_alloc &) {
        return reply(rs, LDAP_NO_MEMORY, "out of memory");
    } catch (...) {
        return reply(rs, LDAP_OTHER, "internal error");
    }
}

}  // namespace

unsigned own_server_id() { return slap_serverID > 0 ? static_cast<unsigned>(slap_serverID) : 0; }

int exop_charge(Operation *op, SlapReply *rs) {
    return front<ChargeRequest>(op, rs, decode_charge_request, "charge");
}

int exop_reset(Operation *op, SlapReply *rs) {
    return front<ResetRequest>(op, rs, decode_reset_request, "reset");
}

int overlay_extended(Operation *op, SlapReply *rs) {
    auto *on = reinterpret_cast<slap_overinst *>(op->o_bd->bd_info);
    auto *ti = static_cast<Info *>(on->on_bi.bi_private);
    bool charge = bvmatch(&op->ore_reqoid, &g_charge_oid);
    if (!charge && !bvmatch(&op->ore_reqoid, &g_reset_oid)) return SLAP_CB_CONTINUE;
    try {
        monitor_attach_late(op, on, ti, slap_get_time());
        return charge ? do_charge(op, rs, on, ti) : do_reset(op, rs, on, ti);
    } catch (const std::bad_alloc &) {
        return count_error(ti, rs, LDAP_NO_MEMORY, "out of memory");
    } catch (...) {
        return count_error(ti, rs, LDAP_OTHER, "internal error");
    }
}

}  // namespace tally::overlay
