// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_history.cpp - past periods, kept out of the account entry
 *
 * DESCRIPTION
 *   A charge rewrites the account entry, and back-mdb rewrites an entry as
 *   one record: history kept there (100 days are ~10 KB) made every charge
 *   rewrite it, and at a million accounts the write-back of those pages
 *   limited throughput. So history lives in one entry per account and
 *   server (names in core/history_place.h), written only when a period
 *   rolls over, in the account's database or, with tally-history-database,
 *   in another one (then the pages charges rewrite stay in a small file:
 *   README, Tuning slapd). Searches of the account still show
 *   tallyHistory: the overlay adds it from those entries (bi_operational),
 *   under the account's ACLs.
 *
 *   Order of writes at a roll-over: the history entry first, then the
 *   account. A crash between the two leaves the old period in the account
 *   and already in the history; the next charge moves it again and the
 *   value-level diff finds nothing to add.
 *
 *   Values written by an earlier version in the account itself are read
 *   too, and moved to the history entry at the account's next roll-over.
 */
#include "tally.h"

#include <algorithm>

namespace tally::overlay {

namespace {

/* history_db - the database that holds place, entered at the top of its
 * overlay stack (its syncprov and accesslog see the writes); null when
 * none does (tally-history-database names a suffix no database has) */
BackendDB *history_db(const HistoryPlace &place) {
    struct berval ndn = place.ndn();
    return select_backend(&ndn, 0);
}

Attribute *stored_history(Entry *e) { return e ? attr_find(e->e_attrs, g_schema.history) : nullptr; }

}  // namespace

/* add_named_entry - add an empty entry "cn=VALUE,..." of class oc as the rootdn of db */
int add_named_entry(Operation *op, BackendDB &db, const std::string &dn, const std::string &ndn, ObjectClass *oc) {
    Entry *e = entry_alloc();
    ber_str2bv(dn.c_str(), dn.size(), 1, &e->e_name);
    ber_str2bv(ndn.c_str(), ndn.size(), 1, &e->e_nname);
    attr_merge_normalize_one(e, slap_schema.si_ad_objectClass, &oc->soc_cname, nullptr);
    struct berval cn = {dn.find(',') - 3, const_cast<char *>(dn.data()) + 3};  // the value of "cn=VALUE,"
    attr_merge_normalize_one(e, slap_schema.si_ad_cn, &cn, nullptr);

    InternalOp w(op, db, LDAP_REQ_ADD, e->e_name, e->e_nname);
    Operation &op2 = w.op2;
    SlapReply &rs2 = w.rs2;
    op2.o_relax = SLAP_CONTROL_NONE;
    op2.ora_e = e;
    op2.ora_modlist = nullptr;
    int rc = op2.o_bd->be_add(&op2, &rs2);
    if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS && rc != LDAP_NO_SUCH_OBJECT)
        Debug(LDAP_DEBUG_ANY, "%s tally: adding \"%s\" failed: %d %s\n", op->o_log_prefix,
              dn.c_str(), rc, rs2.sr_text ? rs2.sr_text : "");
    // As in fe_op_add: the backend leaves the entry to its caller.
    if (op2.ora_e == e) entry_free(e);
    return rc;
}

std::optional<HistoryPlace> history_place(BackendDB *be, const OverlayConfig &cfg, Entry *account, unsigned sid) {
    Attribute *uuid = attr_find(account->e_attrs, slap_schema.si_ad_entryUUID);
    if (!uuid || uuid->a_numvals == 0 || !be->be_suffix || !be->be_nsuffix) return std::nullopt;
    auto rdn = history_entry_rdn({uuid->a_vals[0].bv_val, uuid->a_vals[0].bv_len});
    if (!rdn) return std::nullopt;
    HistoryPlace p;
    std::string container = history_container_rdn(sid);
    if (!cfg.history_database.empty()) {
        p.container_dn_ = p.container_ndn_ = container + "," + cfg.history_database;
    } else {
        p.container_dn_ = container + "," + std::string(be->be_suffix[0].bv_val, be->be_suffix[0].bv_len);
        p.container_ndn_ = container + "," + std::string(be->be_nsuffix[0].bv_val, be->be_nsuffix[0].bv_len);
    }
    p.dn_ = *rdn + "," + p.container_dn_;
    p.ndn_ = *rdn + "," + p.container_ndn_;
    return p;
}

bool read_history(Operation *op, const HistoryPlace &place, std::vector<CounterValue> &out) {
    BackendDB *db = history_db(place);
    if (!db) return false;
    EntryReader h(op, db, place.ndn());
    if (!h.get()) return false;
    out = read_counters(h.get(), g_schema.history);
    return true;
}

int write_history(Operation *op, const HistoryPlace &place, bool exists,
                  const std::vector<CounterValue> &before, const std::vector<CounterValue> &after, unsigned sid,
                  const char **text) {
    Modifications *mods = nullptr, **tail = &mods;
    diff_counters(tail, g_schema.history, before, after, sid);
    if (!mods) return LDAP_SUCCESS;
    BackendDB *target = history_db(place);
    if (!target) {
        Debug(LDAP_DEBUG_ANY, "%s tally: no database holds \"%s\" (tally-history-database); history not written\n",
              op->o_log_prefix, place.container_dn_.c_str());
        slap_mods_free(mods, 1);
        if (text) *text = "history could not be written (see slapd log)";
        return LDAP_OTHER;
    }
    BackendDB db = *target;
    if (!exists) {
        // The entry is added empty and filled by the modify below: an add of
        // a DN that already exists (written by a crashed earlier attempt)
        // fails harmlessly, and the values go in value by value like every
        // other counter write.
        int rc = add_named_entry(op, db, place.dn_, place.ndn_, g_schema.history_record);
        if (rc == LDAP_NO_SUCH_OBJECT) {
            rc = add_named_entry(op, db, place.container_dn_, place.container_ndn_, g_schema.history_container);
            if (rc == LDAP_SUCCESS || rc == LDAP_ALREADY_EXISTS)
                rc = add_named_entry(op, db, place.dn_, place.ndn_, g_schema.history_record);
        }
        if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS) {
            slap_mods_free(mods, 1);
            if (text) *text = "history could not be written (see slapd log)";
            return rc;
        }
    }
    struct berval dn = place.dn(), ndn = place.ndn();
    return internal_modify(op, db, &dn, &ndn, mods, text);
}

int history_operational(Operation *op, SlapReply *rs) {
    // Never to a syncrepl consumer: it would store the values in its copy
    // of the account. The history and counter entries replicate by themselves.
    if (op->o_sync != SLAP_CONTROL_NONE || !rs->sr_entry) return SLAP_CB_CONTINUE;
    auto *on = reinterpret_cast<slap_overinst *>(op->o_bd->bd_info);
    auto *ti = static_cast<Info *>(on->on_bi.bi_private);
    const OverlayConfig &cfg = ti->ti_config;
    const bool all = SLAP_OPATTRS(rs->sr_attr_flags);
    const bool apart = !cfg.counter_database.empty();
    const bool want_history = all || ad_inlist(g_schema.history, rs->sr_attrs);
    const bool want_usage = apart && (all || ad_inlist(g_schema.usage, rs->sr_attrs));
    const bool want_recent = apart && (all || ad_inlist(g_schema.recent, rs->sr_attrs));
    if (!want_history && !want_usage && !want_recent) return SLAP_CB_CONTINUE;
    Entry *account = rs->sr_entry;
    try {
        Attribute **tail = &rs->sr_operational_attrs;
        while (*tail) tail = &(*tail)->a_next;
        auto append = [&](Attribute *a) {
            if (!a) return;
            *tail = a;
            tail = &a->a_next;
        };
        // The counters in their own entries (tally-counter-database), shown on the account.
        std::vector<CounterValue> usage = read_counters(account, g_schema.usage);
        if (apart && counter_place(cfg, account, own_server_id())) {
            if (want_usage || want_history) {
                std::vector<CounterValue> kept = apart_counters(op, ti, account, g_schema.usage);
                usage.insert(usage.end(), kept.begin(), kept.end());
            }
            Attribute *a = nullptr;
            if (want_usage) apart_values(op, ti, account, g_schema.usage, &a);
            append(a);
            a = nullptr;
            if (want_recent) apart_values(op, ti, account, g_schema.recent, &a);
            append(a);
        }
        // Only charged accounts have history: other entries cost one lookup of an attribute.
        if (!want_history || usage.empty()) return SLAP_CB_CONTINUE;
        // The servers whose history to show: this one and every one with a
        // share in the current counters.
        std::vector<unsigned> sids{own_server_id()};
        for (const CounterValue &c : usage)
            if (std::find(sids.begin(), sids.end(), c.sid) == sids.end()) sids.push_back(c.sid);
        Attribute *shown = nullptr;
        for (unsigned sid : sids) {
            auto place = history_place(op->o_bd, cfg, account, sid);
            if (!place) break;
            BackendDB *db = history_db(*place);
            if (!db) break;
            EntryReader h(op, db, place->ndn());
            if (Attribute *a = stored_history(h.get()); a && a->a_numvals) {
                if (!shown) shown = attr_alloc(g_schema.history);
                attr_valadd(shown, a->a_vals, nullptr, static_cast<int>(a->a_numvals));
            }
        }
        append(shown);
    } catch (...) {
        // Showing history and counters is best effort; the entry goes out without them.
    }
    return SLAP_CB_CONTINUE;
}

}  // namespace tally::overlay
