// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_entry.cpp - between slapd entries and the core's types
 *
 * DESCRIPTION
 *   Reading: counters, history and recent charge ids from an account
 *   entry; limits from an account or policy entry (the per-window
 *   attributes, possibly mapped to e.g. mtpolicyd's, then tallyLimit).
 *   Writing: one internal modify of the account entry (and, when a period
 *   rolls over, of its history entry: tally_history.cpp), run through the
 *   database's overlay stack (so syncprov and accesslog see it) as the
 *   database's rootdn (the default ACL could deny the internal write
 *   otherwise). It deletes and adds single values of this server's share
 *   only, never replaces a whole attribute: replicated between providers
 *   (delta-syncrepl), one provider's write never touches another's share.
 */
#include "tally.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace tally::overlay {

namespace {

std::string_view view(const struct berval &bv) { return {bv.bv_val, bv.bv_len}; }

template <typename T, typename Decode>
std::vector<T> decode_values(Entry *e, AttributeDescription *ad, Decode decode) {
    std::vector<T> out;
    if (!e || !ad) return out;
    Attribute *a = attr_find(e->e_attrs, ad);
    if (!a) return out;
    for (unsigned i = 0; i < a->a_numvals; ++i) {
        if (auto v = decode(view(a->a_vals[i]))) {
            out.push_back(std::move(*v));
        } else {
            Debug(LDAP_DEBUG_ANY, "tally: ignoring malformed %s value \"%s\" on \"%s\"\n",
                  ad->ad_cname.bv_val, a->a_vals[i].bv_val, e->e_name.bv_val);
        }
    }
    return out;
}

/* make_values - a NULL-terminated berval array allocated with slapd's allocator */
BerVarray make_values(const std::vector<std::string> &vals) {
    auto *arr = static_cast<BerVarray>(ch_calloc(vals.size() + 1, sizeof(struct berval)));
    for (std::size_t i = 0; i < vals.size(); ++i) {
        struct berval bv;
        bv.bv_val = const_cast<char *>(vals[i].c_str());
        bv.bv_len = vals[i].size();
        ber_dupbv(&arr[i], &bv);
    }
    return arr;
}

/* add_values - append a delete or add of vals of ad to the modification list */
void add_values(Modifications **&tail, int mod_op, AttributeDescription *ad, const std::vector<std::string> &vals) {
    if (vals.empty()) return;
    auto *m = static_cast<Modifications *>(ch_calloc(1, sizeof(Modifications)));
    m->sml_op = mod_op;
    m->sml_flags = SLAP_MOD_INTERNAL;
    m->sml_desc = ad;
    m->sml_type = ad->ad_cname;
    m->sml_numvals = static_cast<int>(vals.size());
    m->sml_values = make_values(vals);
    // Counters match by octetStringMatch, which has no normalizer: no
    // normalized copy, so each value is stored once.
    m->sml_nvalues = nullptr;
    *tail = m;
    tail = &m->sml_next;
}

/* missing_from - the encoded own-share values of from that to does not
 * hold: compared as counters, so only the values that changed are encoded */
std::vector<std::string> missing_from(const std::vector<CounterValue> &from, const std::vector<CounterValue> &to,
                                      unsigned sid) {
    std::vector<std::string> out;
    for (const CounterValue &c : from)
        if (c.sid == sid && std::find(to.begin(), to.end(), c) == to.end()) out.push_back(encode_counter(c));
    return out;
}

}  // namespace

/* diff_counters - delete what went, add what came; unchanged values and
 * other servers' shares stay untouched */
void diff_counters(Modifications **&tail, AttributeDescription *ad, const std::vector<CounterValue> &before,
                   const std::vector<CounterValue> &after, unsigned sid) {
    add_values(tail, LDAP_MOD_DELETE, ad, missing_from(before, after, sid));
    add_values(tail, LDAP_MOD_ADD, ad, missing_from(after, before, sid));
}

std::vector<CounterValue> read_counters(Entry *e, AttributeDescription *ad) {
    return decode_values<CounterValue>(e, ad, decode_counter);
}

StoredState read_state(Entry *e, unsigned own_sid) {
    StoredState st;
    st.usage = decode_values<CounterValue>(e, g_schema.usage, decode_counter);
    std::vector<RecentCharges> own;
    for (auto &[sid, recent] : decode_values<std::pair<unsigned, RecentCharges>>(e, g_schema.recent, decode_recent)) {
        if (sid == own_sid) own.push_back(std::move(recent));
        else st.recent_others.push_back(std::move(recent));
    }
    if (own.size() == 1) st.recent = std::move(own[0]);
    if (own.size() > 1) {
        // Several values of our own (a full refresh's copy): decide on
        // their fold, delete each at the next write.
        for (const RecentCharges &r : own) st.recent = merge_recent(st.recent, r);
        st.recent_stored = std::move(own);
    }
    return st;
}

/* add_window_limits - the "WINDOW METRIC N" values of ad (tallyLimit,
 * tallyAggregateLimit) into set; malformed ones logged and skipped */
static void add_window_limits(LimitSet &set, Entry *e, AttributeDescription *ad) {
    Attribute *a = e && ad ? attr_find(e->e_attrs, ad) : nullptr;
    for (unsigned i = 0; a && i < a->a_numvals; ++i) {
        std::string w;
        Metric m;
        LimitValue v;
        if (parse_generic_limit(view(a->a_vals[i]), w, m, v)) {
            Debug(LDAP_DEBUG_ANY, "tally: ignoring malformed %s \"%s\" on \"%s\"\n", ad->ad_cname.bv_val,
                  a->a_vals[i].bv_val, e->e_name.bv_val);
            continue;
        }
        set.set(w, m, v);
    }
}

LimitSet read_limits(const Resolved &r, Entry *e) {
    LimitSet set;
    if (!e) return set;
    // The generic form first, so that the dedicated attributes override it.
    add_window_limits(set, e, r.generic_limit);
    for (std::size_t wi = 0; wi < r.windows.size(); ++wi) {
        for (Metric m : kAllMetrics) {
            AttributeDescription *ad = r.limit_ads[wi][static_cast<int>(m)];
            Attribute *a = ad ? attr_find(e->e_attrs, ad) : nullptr;
            if (!a || a->a_numvals == 0) continue;
            auto v = parse_limit_value(view(a->a_vals[0]));
            if (!v) {
                Debug(LDAP_DEBUG_ANY, "tally: ignoring malformed limit %s: \"%s\" on \"%s\"\n",
                      ad->ad_cname.bv_val, a->a_vals[0].bv_val, e->e_name.bv_val);
                continue;
            }
            set.set(r.windows[wi].name, m, *v);
        }
    }
    Attribute *w = r.warning ? attr_find(e->e_attrs, r.warning) : nullptr;
    for (unsigned i = 0; w && i < w->a_numvals; ++i) {
        WarningRule rule;
        if (parse_warning_rule(view(w->a_vals[i]), rule)) {
            Debug(LDAP_DEBUG_ANY, "tally: ignoring malformed tallyWarning \"%s\" on \"%s\"\n", w->a_vals[i].bv_val,
                  e->e_name.bv_val);
            continue;
        }
        set.warnings.add(rule);
    }
    // Boolean syntax: slapd stores exactly TRUE or FALSE.
    if (Attribute *a = r.accounting_only ? attr_find(e->e_attrs, r.accounting_only) : nullptr; a && a->a_numvals > 0)
        set.accounting_only = view(a->a_vals[0]) == "TRUE";
    return set;
}

LimitSet read_aggregate_limits(const Resolved &r, Entry *e) {
    LimitSet set;
    add_window_limits(set, e, r.aggregate_limit);
    return set;
}

std::string read_aggregate_dn(const Resolved &r, Entry *e) {
    if (!e || !r.aggregate_dn) return {};
    Attribute *a = attr_find(e->e_attrs, r.aggregate_dn);
    if (!a || a->a_numvals == 0) return {};
    return std::string(view(a->a_nvals[0]));
}

bool is_aggregate(const Resolved &r, Entry *e) {
    return e && r.aggregate_class && is_entry_objectclass(e, r.aggregate_class, 0);
}

std::string read_policy_dn(const Resolved &r, Entry *e) {
    if (!e || !r.policy_dn) return {};
    Attribute *a = attr_find(e->e_attrs, r.policy_dn);
    if (!a || a->a_numvals == 0) return {};
    return std::string(view(a->a_nvals[0]));
}

int write_state(Operation *op, BackendDB &db, struct berval *dn, struct berval *ndn, const StoredState &old_state,
                const StoredState &new_state, unsigned own_sid, const char **text) {
    Modifications *mods = nullptr, **tail = &mods;
    diff_counters(tail, g_schema.usage, old_state.usage, new_state.usage, own_sid);
    diff_counters(tail, g_schema.history, old_state.history, new_state.history, own_sid);
    if (new_state.recent != old_state.recent || !old_state.recent_stored.empty()) {
        std::vector<std::string> gone;
        for (const RecentCharges &r : old_state.recent_stored) gone.push_back(encode_recent(own_sid, r));
        if (gone.empty() && !old_state.recent.empty()) gone.push_back(encode_recent(own_sid, old_state.recent));
        add_values(tail, LDAP_MOD_DELETE, g_schema.recent, gone);
        if (!new_state.recent.empty())
            add_values(tail, LDAP_MOD_ADD, g_schema.recent, {encode_recent(own_sid, new_state.recent)});
    }
    if (!mods) return LDAP_SUCCESS;
    return internal_modify(op, db, dn, ndn, mods, text);
}

int drop_values(Operation *op, BackendDB &db, struct berval *dn, struct berval *ndn, const StoredState &st,
                unsigned own_sid, const char **text) {
    Modifications *mods = nullptr, **tail = &mods;
    add_values(tail, SLAP_MOD_SOFTDEL, g_schema.usage, missing_from(st.usage, {}, own_sid));
    std::vector<std::string> recent;
    for (const RecentCharges &r : st.recent_stored) recent.push_back(encode_recent(own_sid, r));
    if (recent.empty() && !st.recent.empty()) recent.push_back(encode_recent(own_sid, st.recent));
    add_values(tail, SLAP_MOD_SOFTDEL, g_schema.recent, recent);
    add_values(tail, SLAP_MOD_SOFTDEL, g_schema.history, missing_from(st.history, {}, own_sid));
    if (!mods) return LDAP_SUCCESS;
    return internal_modify(op, db, dn, ndn, mods, text);
}

BackendDB stack_top(Operation *op, slap_overinst *on) {
    BackendDB db = *op->o_bd;
    db.bd_info = reinterpret_cast<BackendInfo *>(on->on_info);
    return db;
}

InternalOp::InternalOp(Operation *op, BackendDB &db, ber_tag_t tag, const struct berval &dn,
                       const struct berval &ndn)
    : op2(*op) {
    cb.sc_response = slap_null_cb;
    op2.o_tag = tag;
    // A time of its own: accesslog names its record by the operation's time,
    // and a roll-over writes several entries within one operation.
    slap_op_time(&op2.o_time, &op2.o_tincr);
    op2.o_bd = &db;
    op2.o_callback = &cb;
    op2.o_dn = db.be_rootdn;
    op2.o_ndn = db.be_rootndn;
    op2.o_req_dn = dn;
    op2.o_req_ndn = ndn;
}

int internal_modify(Operation *op, BackendDB &db, struct berval *dn, struct berval *ndn, Modifications *mods,
                    const char **text) {
    InternalOp w(op, db, LDAP_REQ_MODIFY, *dn, *ndn);
    Operation &op2 = w.op2;
    SlapReply &rs2 = w.rs2;
    op2.o_relax = SLAP_CONTROL_CRITICAL;
    op2.orm_modlist = mods;
    op2.orm_no_opattrs = 0;
    op2.orm_increment = 0;
    int rc = op2.o_bd->be_modify(&op2, &rs2);
    if (rc != LDAP_SUCCESS && text) *text = "counters could not be written (see slapd log)";
    if (rc != LDAP_SUCCESS)
        Debug(LDAP_DEBUG_ANY, "%s tally: writing counters of \"%s\" failed: %d %s\n", op->o_log_prefix,
              ndn->bv_val, rc, rs2.sr_text ? rs2.sr_text : "");
    // be_modify appended modifiersName, modifyTimestamp, entryCSN: the whole
    // chain is ours to free now.
    slap_mods_free(mods, 1);
    return rc;
}

namespace {

/* The crash test's pause (tests/integration/test_replication.cpp, issue
 * 23): with TALLY_TEST_PAUSE_DIR set when the module loads, the first
 * counter write that finds DIR/pause removes it and, once back-mdb has
 * committed it and before the layers below the overlay answer, creates
 * DIR/paused (holding slapd's pid) and sleeps: the test SIGKILLs slapd
 * then (after 60 s it carries on). Only where the overlay sits below accesslog does that
 * moment fall between the database commit and the accesslog write, so the
 * test configuration places it there. Unset, nothing of this runs. */
std::string g_pause_dir;
thread_local slap_callback t_pause_cb;

int pause_after_commit(Operation *, SlapReply *rs) {
    if (rs->sr_type != REP_RESULT || rs->sr_err != LDAP_SUCCESS) return SLAP_CB_CONTINUE;
    // Written whole under another name, then renamed: the test reads a complete pid.
    const std::string tmp = g_pause_dir + "/paused.tmp", pid = std::to_string(getpid()) + "\n";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return SLAP_CB_CONTINUE;
    bool ok = write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
    close(fd);
    if (!ok || rename(tmp.c_str(), (g_pause_dir + "/paused").c_str()) != 0) return SLAP_CB_CONTINUE;
    for (int i = 0; i < 600; ++i) usleep(100000);
    return SLAP_CB_CONTINUE;
}

}  // namespace

void test_pause_init() {
    if (const char *d = std::getenv("TALLY_TEST_PAUSE_DIR")) g_pause_dir = d;
}

void test_pause_arm(Operation *op) {
    if (g_pause_dir.empty() || op->o_tag != LDAP_REQ_MODIFY) return;
    bool usage = false;
    for (Modifications *m = op->orm_modlist; m; m = m->sml_next) usage |= m->sml_desc == g_schema.usage;
    // unlink succeeds for one thread only: one write pauses per request.
    if (!usage || unlink((g_pause_dir + "/pause").c_str()) != 0) return;
    t_pause_cb = slap_callback{};
    t_pause_cb.sc_response = pause_after_commit;
    t_pause_cb.sc_next = op->o_callback;
    op->o_callback = &t_pause_cb;
}

}  // namespace tally::overlay
