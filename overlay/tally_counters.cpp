// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_counters.cpp - counters in an entry of their own (tally-counter-database)
 *
 * DESCRIPTION
 *   By default a charge writes the account entry: its modifyTimestamp,
 *   modifiersName and entryCSN change on every message, back-mdb rewrites
 *   the whole entry (jpegPhoto, certificates and all), and plain syncrepl
 *   sends the whole account. With tally-counter-database SUFFIX each
 *   server keeps an account's counters (tallyUsage, tallyRecentCharge) in
 *   an entry of its own,
 *
 *     cn=<entryUUID of the account>,cn=tally-counters-sid<N>,SUFFIX
 *
 *   named like history entries (core/history_place.h): by entryUUID so a
 *   renamed account keeps them, one container per serverID so two
 *   providers never add the same entry. A charge reads the entries of
 *   every server slapd knows (its own serverID and every olcServerID of
 *   cn=config) and writes only its own; searches of the account still
 *   show tallyUsage and tallyRecentCharge (bi_operational), under the
 *   account's ACLs.
 *
 *   Values written into the account before the option was set are read
 *   for a server until its counter entry exists; that server's first
 *   write moves them (the entry gets them, the account loses them).
 */
#include "tally.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace tally::overlay {

namespace {

/* collect_sid - an internal search's callback: the serverID of each container found */
int collect_sid(Operation *op, SlapReply *rs) {
    if (rs->sr_type != REP_SEARCH || !rs->sr_entry) return 0;
    auto *sids = static_cast<std::vector<unsigned> *>(op->o_callback->sc_private);
    if (auto sid = counter_container_sid({rs->sr_entry->e_nname.bv_val, rs->sr_entry->e_nname.bv_len}))
        sids->push_back(*sid);
    return 0;
}

/* container_sids - the servers that have a counter container under suffix
 * (one-level internal search as the database's rootdn): on a consumer,
 * which configures no serverIDs, these say whose entries to read */
std::vector<unsigned> container_sids(Operation *op, const std::string &suffix) {
    std::vector<unsigned> sids;
    struct berval base = {suffix.size(), const_cast<char *>(suffix.data())};
    BackendDB *found = select_backend(&base, 0);
    if (!found) return sids;
    BackendDB db = *found;
    Operation op2 = *op;
    SlapReply rs2 = {REP_RESULT};
    slap_callback cb = {};
    cb.sc_response = collect_sid;
    cb.sc_private = &sids;
    op2.o_tag = LDAP_REQ_SEARCH;
    std::memset(&op2.oq_search, 0, sizeof(op2.oq_search));
    // None of the client's controls (paged results, assertion, sort) apply
    // to this search.
    std::memset(op2.o_ctrlflag, 0, sizeof(op2.o_ctrlflag));
    op2.o_ctrls = nullptr;
    op2.o_bd = &db;
    op2.o_req_dn = op2.o_req_ndn = base;
    op2.o_dn = db.be_rootdn;
    op2.o_ndn = db.be_rootndn;
    op2.ors_scope = LDAP_SCOPE_ONELEVEL;
    op2.ors_deref = LDAP_DEREF_NEVER;
    op2.ors_tlimit = SLAP_NO_LIMIT;
    op2.ors_slimit = SLAP_NO_LIMIT;
    op2.ors_attrs = slap_anlist_no_attrs;
    op2.o_do_not_cache = 1;
    op2.o_callback = &cb;
    char filter[] = "(objectClass=tallyCounterContainer)";
    op2.ors_filterstr = {sizeof(filter) - 1, filter};
    op2.ors_filter = str2filter_x(&op2, filter);
    if (!op2.ors_filter) return sids;
    db.be_search(&op2, &rs2);
    filter_free_x(&op2, op2.ors_filter, 1);
    return sids;
}

/* Counter containers added since the module loaded, in any database: one
 * count for every ServerIdCache, since the counter database need not be
 * the database whose overlay reads it. */
std::atomic<std::uint64_t> g_containers_added{0};

/* known_sids - every serverID in cn=config (olcServerID) and every server
 * with a counter container, looked up again once a container was added
 * (a consumer lists no serverIDs: a provider writing its very first
 * counters counts there from the moment its container arrives), and at
 * least every 10 seconds (a container added where no overlay saw it) */
std::vector<unsigned> known_sids(Operation *op, Info *ti) {
    ServerIdCache &cache = ti->ti_server_ids;
    const std::int64_t now = slap_get_time();
    const std::uint64_t generation = g_containers_added.load();
    MutexLock lock(cache.mutex);
    if (cache.read_at && now - cache.read_at < 10 && cache.generation == generation) return cache.sids;
    std::vector<unsigned> sids = container_sids(op, ti->ti_config.counter_database);
    AttributeDescription *ad = nullptr;
    const char *text = nullptr;
    struct berval config_dn = BER_BVC("cn=config");
    if (BackendDB *cfg = select_backend(&config_dn, 0); cfg && slap_str2ad("olcServerID", &ad, &text) == LDAP_SUCCESS) {
        EntryReader e(op, cfg, config_dn);
        if (Attribute *a = e.get() ? attr_find(e.get()->e_attrs, ad) : nullptr)
            for (unsigned i = 0; i < a->a_numvals; ++i)
                if (auto sid = server_id_of({a->a_vals[i].bv_val, a->a_vals[i].bv_len})) sids.push_back(*sid);
    }
    cache.sids = sids;
    cache.read_at = now;
    cache.generation = generation;  // read before the search: an add during it reads again
    return sids;
}

/* counter_sids - the servers whose counter entries a charge reads: this
 * one first, then every other configured one */
std::vector<unsigned> counter_sids(Operation *op, Info *ti, unsigned own_sid) {
    std::vector<unsigned> sids{own_sid};
    for (unsigned sid : known_sids(op, ti))
        if (std::find(sids.begin(), sids.end(), sid) == sids.end()) sids.push_back(sid);
    return sids;
}

BackendDB *database_of(const HistoryPlace &place) {
    struct berval ndn = place.ndn();
    return select_backend(&ndn, 0);
}

/* each_counter_entry - fn(sid, entry) for the counter entry of account of
 * every server in sids (counter_sids); entry is null where there is none */
template <typename Fn>
void each_counter_entry(Operation *op, Info *ti, Entry *account, const std::vector<unsigned> &sids, Fn fn) {
    for (unsigned sid : sids) {
        auto place = counter_place(ti->ti_config, account, sid);
        BackendDB *db = place ? database_of(*place) : nullptr;
        if (!db) {
            fn(sid, nullptr);
            continue;
        }
        EntryReader e(op, db, place->ndn());
        fn(sid, e.get());
    }
}

/* only_sid - the values of one server in a state read from an entry */
StoredState only_sid(const StoredState &st, unsigned sid, unsigned own_sid) {
    StoredState out;
    for (const CounterValue &c : st.usage)
        if (c.sid == sid) out.usage.push_back(c);
    if (sid == own_sid) {
        out.recent = st.recent;
        out.recent_stored = st.recent_stored;
    }
    return out;
}

/* holds_nothing - whether st has no values of sid */
bool holds_nothing(const StoredState &st, unsigned sid) {
    bool none = std::none_of(st.usage.begin(), st.usage.end(), [&](const CounterValue &c) { return c.sid == sid; });
    return none && st.recent.empty() && st.recent_stored.empty();
}

/* merge_into - add one source's values to the state a charge decides on */
void merge_into(StoredState &to, StoredState &&from, bool own) {
    to.usage.insert(to.usage.end(), from.usage.begin(), from.usage.end());
    if (own) {
        to.recent = std::move(from.recent);
        to.recent_stored = std::move(from.recent_stored);
    }
    to.recent_others.insert(to.recent_others.end(), from.recent_others.begin(), from.recent_others.end());
}

}  // namespace

void counter_container_added() { ++g_containers_added; }

std::optional<HistoryPlace> counter_place(const OverlayConfig &cfg, Entry *account, unsigned sid) {
    if (cfg.counter_database.empty()) return std::nullopt;
    Attribute *uuid = attr_find(account->e_attrs, slap_schema.si_ad_entryUUID);
    if (!uuid || uuid->a_numvals == 0) return std::nullopt;
    auto rdn = history_entry_rdn({uuid->a_vals[0].bv_val, uuid->a_vals[0].bv_len});
    if (!rdn) return std::nullopt;
    HistoryPlace p;
    p.container_dn_ = p.container_ndn_ = counter_container_rdn(sid) + "," + cfg.counter_database;
    p.dn_ = p.ndn_ = *rdn + "," + p.container_dn_;
    return p;
}

StoredState read_counters_of(Operation *op, Info *ti, Entry *account, unsigned own_sid, const StoredState *basis,
                             CounterSource &src) {
    src = CounterSource{};
    src.own = counter_place(ti->ti_config, account, own_sid);
    if (!src.own) return basis ? *basis : read_state(account, own_sid);
    StoredState in_account = read_state(account, own_sid);
    src.in_account = only_sid(in_account, own_sid, own_sid);
    if (basis) {
        // The pending write decided on was prepared (its entry added) and
        // puts this server's values in place first.
        src.own_exists = true;
        src.own_empty = false;
        return *basis;
    }
    StoredState st;
    bool others_apart = false;
    const std::vector<unsigned> known = counter_sids(op, ti, own_sid);
    each_counter_entry(op, ti, account, known, [&](unsigned sid, Entry *e) {
        const bool own = sid == own_sid;
        std::optional<StoredState> from;
        if (e) from = read_state(e, own_sid);
        // An entry without values of its server (just added, its first write
        // not committed) leaves the account's values in force.
        if (from && holds_nothing(own ? *from : only_sid(*from, sid, own_sid), sid) &&
            (own || from->recent_others.empty()))
            from.reset();
        if (own) {
            src.own_exists = e != nullptr;
            src.own_empty = !from;
        }
        if (from) {
            // An entry holds one server's values; anything else in it is not counted.
            StoredState mine = only_sid(*from, sid, own_sid);
            if (!own) mine.recent_others = std::move(from->recent_others);
            others_apart |= !own;
            merge_into(st, std::move(mine), own);
        } else {
            // Not moved yet: what the account holds for this server.
            merge_into(st, only_sid(in_account, sid, own_sid), own);
        }
    });
    // Shares in the account of servers nobody knows (retired, not
    // configured here) still count, as they did before the option.
    for (const CounterValue &c : in_account.usage)
        if (std::find(known.begin(), known.end(), c.sid) == known.end()) st.usage.push_back(c);
    // Other servers' recent charge ids from the account until one of them
    // has moved its counters.
    if (!others_apart) st.recent_others = std::move(in_account.recent_others);
    return st;
}

int prepare_counter_entry(Operation *op, CounterSource &src, const char **text) {
    if (!src.own || src.own_exists) return LDAP_SUCCESS;
    BackendDB *target = database_of(*src.own);
    if (!target) {
        Debug(LDAP_DEBUG_ANY, "%s tally: no database holds \"%s\" (tally-counter-database); counters not written\n",
              op->o_log_prefix, src.own->container_dn_.c_str());
        if (text) *text = "counters could not be written (see slapd log)";
        return LDAP_OTHER;
    }
    BackendDB db = *target;
    int rc = add_named_entry(op, db, src.own->dn_, src.own->ndn_, g_schema.counter_record);
    if (rc == LDAP_NO_SUCH_OBJECT) {
        rc = add_named_entry(op, db, src.own->container_dn_, src.own->container_ndn_, g_schema.counter_container);
        if (rc == LDAP_SUCCESS || rc == LDAP_ALREADY_EXISTS)
            rc = add_named_entry(op, db, src.own->dn_, src.own->ndn_, g_schema.counter_record);
    }
    if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS) {
        if (text) *text = "counters could not be written (see slapd log)";
        return rc;
    }
    src.own_exists = true;
    return LDAP_SUCCESS;
}

bool counters_in_own_database(Operation *op, const CounterSource &src) {
    if (!src.own) return true;
    BackendDB *db = database_of(*src.own);
    return db && db == op->o_bd->bd_self;
}

int write_counter_state(Operation *op, slap_overinst *on, const CounterSource &src, const StoredState &before,
                        const StoredState &after, unsigned own_sid, const char **text) {
    if (!src.own) {
        BackendDB db = stack_top(op, on);
        return write_state(op, db, &op->o_req_dn, &op->o_req_ndn, before, after, own_sid, text);
    }
    BackendDB *target = database_of(*src.own);
    if (!target) {
        if (text) *text = "counters could not be written (see slapd log)";
        return LDAP_OTHER;
    }
    // The entry holds this server's values only once written: the first
    // write (values read from the account, or none) adds all of them.
    // History is never kept there: history an earlier version left in the
    // account goes to the history entry and leaves the account
    // (move_out_of_account).
    StoredState stored = before, next = after;
    stored.history.clear();
    next.history.clear();
    if (src.own_empty) {
        stored.usage.erase(std::remove_if(stored.usage.begin(), stored.usage.end(),
                                          [&](const CounterValue &c) { return c.sid == own_sid; }),
                           stored.usage.end());
        stored.recent = {};
        stored.recent_stored.clear();
    }
    BackendDB db = target == op->o_bd->bd_self ? stack_top(op, on) : *target;
    struct berval dn = src.own->dn(), ndn = src.own->ndn();
    return write_state(op, db, &dn, &ndn, stored, next, own_sid, text);
}

void move_out_of_account(Operation *op, slap_overinst *on, const CounterSource &src, unsigned own_sid,
                         const std::vector<CounterValue> &history_moved) {
    if (!src.own) return;
    StoredState gone = src.in_account;
    gone.history = history_moved;
    if (gone.usage.empty() && gone.recent.empty() && gone.recent_stored.empty() && gone.history.empty()) return;
    BackendDB db = stack_top(op, on);
    const char *text = nullptr;
    if (drop_values(op, db, &op->o_req_dn, &op->o_req_ndn, gone, own_sid, &text) == LDAP_SUCCESS)
        Debug(LDAP_DEBUG_STATS, "%s tally: counters of \"%s\" moved to their own entry \"%s\"\n", op->o_log_prefix,
              op->o_req_ndn.bv_val, src.own->dn_.c_str());
}

void apart_values(Operation *op, Info *ti, Entry *account, const std::vector<AttributeDescription *> &ads,
                  std::vector<Attribute *> &out) {
    out.assign(ads.size(), nullptr);
    each_counter_entry(op, ti, account, counter_sids(op, ti, own_server_id()), [&](unsigned, Entry *e) {
        for (std::size_t i = 0; e && i < ads.size(); ++i) {
            Attribute *a = attr_find(e->e_attrs, ads[i]);
            if (!a || !a->a_numvals) continue;
            if (!out[i]) out[i] = attr_alloc(ads[i]);
            attr_valadd(out[i], a->a_vals, nullptr, static_cast<int>(a->a_numvals));
        }
    });
}

}  // namespace tally::overlay
