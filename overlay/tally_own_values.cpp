// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_own_values.cpp - a replicated modification never takes this
 * provider's own counter values away
 *
 * DESCRIPTION
 *   The rule and why: core/own_values.h. This is the glue: it rewrites the
 *   tallyUsage and tallyRecentCharge modifications of a replicated modify
 *   (syncrepl, on a multi-provider database of a server with a serverID)
 *   before the backend applies them.
 *
 *   A delete of values needs nothing but the values. A replace or a delete
 *   of the whole attribute (what a full refresh sends when every value
 *   changed) needs our values as they are: the account's lock is taken,
 *   our queued group-commit writes of the account are waited for, the
 *   entry is read, and the lock is held until the backend has applied the
 *   modification, so no charge of ours can change our values in between.
 */
#include "tally.h"

#include "own_values.h"

#include <optional>
#include <stdexcept>

namespace tally::overlay {

namespace {

/* ReplicaLock - the account's lock held across the backend's modify,
 * let go by the callback's cleanup (which slapd calls once the result is
 * sent, also for syncrepl's internal operations) */
struct ReplicaLock {
    slap_callback cb;
    ldap_pvt_thread_mutex_t *mutex;
};

int release_replica_lock(Operation *op, SlapReply *rs) {
    (void)rs;
    auto *rl = static_cast<ReplicaLock *>(op->o_callback->sc_private);
    ldap_pvt_thread_mutex_unlock(rl->mutex);
    op->o_callback = nullptr;  // slap_cleanup_play takes a callback that did this out of the chain
    op->o_tmpfree(rl, op->o_tmpmemctx);
    return SLAP_CB_CONTINUE;
}

bool is_counter_mod(const Modifications *m) { return m->sml_desc == g_schema.usage || m->sml_desc == g_schema.recent; }

std::optional<ValueChange> change_kind(short op) {
    switch (op) {
    case LDAP_MOD_ADD:
    case SLAP_MOD_SOFTADD:
    case SLAP_MOD_ADD_IF_NOT_PRESENT:
        return ValueChange::add;
    case LDAP_MOD_DELETE:
    case SLAP_MOD_SOFTDEL:
        return ValueChange::remove;
    case LDAP_MOD_REPLACE:
        return ValueChange::replace;
    default:
        return std::nullopt;  // increment: not a counter's
    }
}

std::string text_of(const struct berval &bv) { return {bv.bv_val, bv.bv_len}; }

/* ValuePool - each value string the rewrite may produce, with the value and
 * normalized value slapd holds for it (from the modification or the entry) */
struct ValuePool {
    std::vector<std::pair<std::string, std::pair<struct berval, struct berval>>> items;
    bool normalized = false;  // slapd keeps normalized values apart for this attribute
    void add(BerVarray vals, BerVarray nvals, int n) {
        if (!vals) return;
        normalized = normalized || nvals != nullptr;
        for (int i = 0; i < n && vals[i].bv_val; ++i)
            items.push_back({text_of(vals[i]), {vals[i], nvals ? nvals[i] : vals[i]}});
    }
    const std::pair<struct berval, struct berval> *find(const std::string &v) const {
        for (const auto &it : items)
            if (it.first == v) return &it.second;
        return nullptr;
    }
};

/* rewrite - m's values become out's (copies: m's old arrays are freed) */
void rewrite(Modifications *m, ValueChange kind_before, const AttributeChange &out, const ValuePool &pool) {
    const bool normalized = m->sml_nvalues != nullptr || pool.normalized;
    const int n = static_cast<int>(out.values.size());
    BerVarray vals = n ? static_cast<BerVarray>(ch_calloc(n + 1, sizeof(struct berval))) : nullptr;
    BerVarray nvals = n && normalized ? static_cast<BerVarray>(ch_calloc(n + 1, sizeof(struct berval))) : nullptr;
    for (int i = 0; i < n; ++i) {
        const auto *src = pool.find(out.values[i]);  // every value came from the modification or the entry
        if (!src) throw std::logic_error("own_values: a value from nowhere");
        ber_dupbv(&vals[i], const_cast<struct berval *>(&src->first));
        if (nvals) ber_dupbv(&nvals[i], const_cast<struct berval *>(&src->second));
    }
    if (m->sml_values) ber_bvarray_free(m->sml_values);
    if (m->sml_nvalues) ber_bvarray_free(m->sml_nvalues);
    m->sml_values = vals;
    m->sml_nvalues = nvals;
    m->sml_numvals = n;
    if (out.kind != kind_before) m->sml_op = out.kind == ValueChange::replace ? LDAP_MOD_REPLACE : LDAP_MOD_DELETE;
}

}  // namespace

void adjust_replicated_counters(Operation *op) {
    // A consumer copies its provider, every value: it has no share of its own.
    const unsigned own = SLAP_MULTIPROVIDER(op->o_bd) ? own_server_id() : 0;

    bool wants_current = false, any = false;
    for (Modifications *m = op->orm_modlist; m; m = m->sml_next) {
        if (!is_counter_mod(m)) continue;
        any = true;
        auto kind = change_kind(m->sml_op);
        if (own && (kind == ValueChange::replace || (kind == ValueChange::remove && !m->sml_values)))
            wants_current = true;
    }
    if (!any) return;

    auto *on = reinterpret_cast<slap_overinst *>(op->o_bd->bd_info);
    Info *ti = static_cast<Info *>(on->on_bi.bi_private);
    std::vector<std::string> current_usage, current_recent;
    ValuePool pool;
    if (wants_current) {
        ldap_pvt_thread_mutex_t &mutex = ti->ti_locks.of(op->o_req_ndn);
        ldap_pvt_thread_mutex_lock(&mutex);
        auto *held = static_cast<ReplicaLock *>(op->o_tmpcalloc(1, sizeof(ReplicaLock), op->o_tmpmemctx));
        held->mutex = &mutex;
        held->cb.sc_cleanup = release_replica_lock;
        held->cb.sc_private = held;
        held->cb.sc_next = op->o_callback;
        op->o_callback = &held->cb;
        // Our charges of the account queued for a group commit go in first.
        const std::string account = text_of(op->o_req_ndn);
        for (int i = 0; i < 1000; ++i) {
            PendingWrites::Handle w = ti->ti_pending.latest(account);
            if (!w) break;
            ti->ti_pending.wait(w);
        }
    }
    std::optional<EntryReader> reader;
    if (wants_current) reader.emplace(op, on, op->o_req_ndn);
    if (Entry *e = reader ? reader->get() : nullptr) {
        for (Attribute *a = e->e_attrs; a; a = a->a_next) {
            if (a->a_desc != g_schema.usage && a->a_desc != g_schema.recent) continue;
            auto &into = a->a_desc == g_schema.usage ? current_usage : current_recent;
            for (unsigned i = 0; i < a->a_numvals; ++i) into.push_back(text_of(a->a_vals[i]));
            pool.add(a->a_vals, a->a_nvals != a->a_vals ? a->a_nvals : nullptr, static_cast<int>(a->a_numvals));
        }
    }

    for (Modifications **link = &op->orm_modlist; *link;) {
        Modifications *m = *link;
        auto kind = is_counter_mod(m) ? change_kind(m->sml_op) : std::nullopt;
        if (!kind) {
            link = &m->sml_next;
            continue;
        }
        if (own && *kind != ValueChange::add) {
            const bool usage = m->sml_desc == g_schema.usage;
            AttributeChange in{*kind, {}};
            for (unsigned i = 0; m->sml_values && m->sml_values[i].bv_val; ++i)
                in.values.push_back(text_of(m->sml_values[i]));
            pool.add(m->sml_values, m->sml_nvalues, static_cast<int>(in.values.size()));
            auto out =
                keep_own_values(in, usage ? current_usage : current_recent, own, usage ? usage_owner : recent_owner);
            if (!out || *out != in) {
                // Rare (a full refresh, a crash's leftovers) and worth knowing: stats level.
                Debug(LDAP_DEBUG_STATS,
                      "%s TALLY KEEP-OWN dn=\"%s\" attr=%s sid=%u: a replicated %s kept this server's own values%s\n",
                      op->o_log_prefix, op->o_req_dn.bv_val, m->sml_desc->ad_cname.bv_val, own,
                      in.kind == ValueChange::replace ? "replace" : "delete",
                      out ? "" : " (the modification dropped)");
                if (!out) {
                    *link = m->sml_next;
                    m->sml_next = nullptr;
                    slap_mods_free(m, 1);
                    continue;
                }
                rewrite(m, in.kind, *out, pool);
            }
        }
        // Replaying a change twice (after a crash of this server, whose
        // syncrepl cookie lags its data) or out of order must not fail: a
        // failed replay makes syncrepl give up delta-syncrepl for a full
        // refresh, which stalled or forgot counts (issue 23). Values are
        // whole snapshots and readers fold a share's values, so a value
        // already there or already gone changes nothing.
        if (m->sml_op == LDAP_MOD_ADD) m->sml_op = SLAP_MOD_SOFTADD;
        else if (m->sml_op == LDAP_MOD_DELETE) m->sml_op = SLAP_MOD_SOFTDEL;
        link = &m->sml_next;
    }
}

}  // namespace tally::overlay
