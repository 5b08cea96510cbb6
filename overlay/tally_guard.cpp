// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_guard.cpp - keep clients from writing counters or malformed limits
 *
 * DESCRIPTION
 *   Counters change only through the charge and reset operations. slapd
 *   already refuses NO-USER-MODIFICATION attributes from clients, except
 *   to a manager using the Relax control; this guard refuses that too, and
 *   refuses storing the ACL pseudo-attributes tallyCharge and tallyReset.
 *   Limit values are checked here so that a typo ("5OO") is refused with
 *   a clear message instead of silently meaning "inherit".
 *   Replication (syncrepl on a consumer, the update DN) passes, except
 *   that on a provider it never removes the provider's own counter values
 *   (tally_own_values.cpp).
 */
#include "tally.h"

namespace tally::overlay {

namespace {

bool is_counter(AttributeDescription *ad) {
    return ad == g_schema.usage || ad == g_schema.history || ad == g_schema.recent;
}

/* is_acl_right - tallyCharge, tallyReset: never stored, only named in ACLs */
bool is_acl_right(AttributeDescription *ad) { return ad == g_schema.charge_right || ad == g_schema.reset_right; }

/* refusal_text - why a client may not write ad (empty: it may) */
std::string refusal_text(AttributeDescription *ad, bool modify) {
    std::string name(ad->ad_cname.bv_val, ad->ad_cname.bv_len);
    if (is_counter(ad))
        return name + " is maintained by the tally overlay" + (modify ? "; use tallyctl reset" : "");
    if (is_acl_right(ad))
        return name + " is an ACL pseudo-attribute of the tally overlay and is never stored; grant write access "
                      "to it in the ACLs (olcAccess) to allow " +
               (ad == g_schema.charge_right ? "charging" : "resetting") + " the entry";
    return "";
}

/* is_limit_attribute - tallyLimit or tallyAggregateLimit (generic: WINDOW
 * METRIC VALUE), or the attribute of any window and metric */
bool is_limit_attribute(const Resolved &r, AttributeDescription *ad, bool &generic) {
    generic = ad == r.generic_limit || (ad && ad == r.aggregate_limit);
    if (generic) return true;
    for (const auto &ads : r.limit_ads)
        for (AttributeDescription *x : ads)
            if (x == ad) return true;
    return false;
}

/* check_values - nullopt when every value is a valid limit or warning */
std::optional<std::string> check_values(const Resolved &cfg, AttributeDescription *ad, BerVarray vals) {
    bool generic = false;
    if (vals && ad && ad == cfg.warning) {
        for (int i = 0; vals[i].bv_val; ++i) {
            std::string_view v(vals[i].bv_val, vals[i].bv_len);
            WarningRule rule;
            if (auto err = parse_warning_rule(v, rule))
                return std::string(ad->ad_cname.bv_val) + ": \"" + std::string(v) + "\": " + *err;
        }
        return std::nullopt;
    }
    if (!vals || !is_limit_attribute(cfg, ad, generic)) return std::nullopt;
    for (int i = 0; vals[i].bv_val; ++i) {
        std::string_view v(vals[i].bv_val, vals[i].bv_len);
        if (generic) {
            std::string w;
            Metric m;
            LimitValue lv;
            if (auto err = parse_generic_limit(v, w, m, lv))
                return std::string(ad->ad_cname.bv_val) + ": \"" + std::string(v) + "\": " + *err;
        } else if (!parse_limit_value(v)) {
            return std::string(ad->ad_cname.bv_val) + ": \"" + std::string(v) +
                   "\" is not a whole number, unlimited or inherit";
        }
    }
    return std::nullopt;
}

/* own_write - the overlay's internal write of counters: it goes through the
 * whole overlay stack (so syncprov sees it) and so through these hooks too,
 * which have nothing to do for it */
bool own_write(Operation *op) {
    Modifications *m = op->orm_modlist;
    return m && (m->sml_flags & SLAP_MOD_INTERNAL) && is_counter(m->sml_desc);
}

thread_local std::string t_guard_text;

int refuse(Operation *op, SlapReply *rs, std::string text) {
    t_guard_text = std::move(text);
    send_ldap_error(op, rs, LDAP_CONSTRAINT_VIOLATION, t_guard_text.c_str());
    return rs->sr_err;
}

Info *info_of(Operation *op) {
    auto *on = reinterpret_cast<slap_overinst *>(op->o_bd->bd_info);
    return static_cast<Info *>(on->on_bi.bi_private);
}

/* forget_aggregates - which aggregate an account counts in follows the
 * object classes of its ancestors: a change of one, or entries added,
 * moved or deleted, forgets every answer (they are few and rebuilt on
 * the next charge; such changes are rare) */
void forget_aggregates(Operation *op) {
    if (op->o_tag == LDAP_REQ_MODIFY) {
        bool classes = false;
        for (Modifications *m = op->orm_modlist; m; m = m->sml_next)
            classes |= m->sml_desc == slap_schema.si_ad_objectClass;
        if (!classes) return;
    }
    info_of(op)->ti_aggregates.clear();
}

}  // namespace

int guard_modify(Operation *op, SlapReply *rs) {
    if (own_write(op)) {
        test_pause_arm(op);
        return SLAP_CB_CONTINUE;
    }
    info_of(op)->ti_parents.forget(std::string(op->o_req_ndn.bv_val, op->o_req_ndn.bv_len));
    forget_aggregates(op);
    if (be_shadow_update(op)) {
        try {
            adjust_replicated_counters(op);
        } catch (const std::exception &e) {
            Debug(LDAP_DEBUG_ANY, "%s tally: a replicated change of \"%s\" applied as it came: %s\n",
                  op->o_log_prefix, op->o_req_dn.bv_val, e.what());
        }
        return SLAP_CB_CONTINUE;
    }
    try {
        const Resolved &cfg = info_of(op)->ti_resolved;
        for (Modifications *m = op->orm_modlist; m; m = m->sml_next) {
            if (m->sml_flags & SLAP_MOD_INTERNAL) continue;
            if (std::string why = refusal_text(m->sml_desc, true); !why.empty()) return refuse(op, rs, why);
            if (m->sml_op == LDAP_MOD_ADD || m->sml_op == LDAP_MOD_REPLACE)
                if (auto err = check_values(cfg, m->sml_desc, m->sml_values)) return refuse(op, rs, *err);
        }
    } catch (...) {
        send_ldap_error(op, rs, LDAP_OTHER, "internal error");
        return rs->sr_err;
    }
    return SLAP_CB_CONTINUE;
}

int guard_add(Operation *op, SlapReply *rs) {
    info_of(op)->ti_parents.forget(std::string(op->o_req_ndn.bv_val, op->o_req_ndn.bv_len));
    forget_aggregates(op);
    if (be_shadow_update(op)) return SLAP_CB_CONTINUE;
    try {
        const Resolved &cfg = info_of(op)->ti_resolved;
        for (Attribute *a = op->ora_e->e_attrs; a; a = a->a_next) {
            if (std::string why = refusal_text(a->a_desc, false); !why.empty()) return refuse(op, rs, why);
            if (auto err = check_values(cfg, a->a_desc, a->a_vals)) return refuse(op, rs, *err);
        }
    } catch (...) {
        send_ldap_error(op, rs, LDAP_OTHER, "internal error");
        return rs->sr_err;
    }
    return SLAP_CB_CONTINUE;
}

int guard_delete_or_rename(Operation *op, SlapReply *) {
    forget_aggregates(op);
    return SLAP_CB_CONTINUE;
}

int guard_response(Operation *op, SlapReply *rs) {
    // Forget a parent's cached policy again once its change is committed: a
    // charge between the forget in guard_modify and the commit may have
    // cached the old value.
    if (rs->sr_type == REP_RESULT && (op->o_tag == LDAP_REQ_ADD || (op->o_tag == LDAP_REQ_MODIFY && !own_write(op))))
        info_of(op)->ti_parents.forget(std::string(op->o_req_ndn.bv_val, op->o_req_ndn.bv_len));
    // The same for aggregates, once the change is committed.
    if (rs->sr_type == REP_RESULT && (op->o_tag == LDAP_REQ_ADD || op->o_tag == LDAP_REQ_DELETE ||
                                      op->o_tag == LDAP_REQ_MODRDN || (op->o_tag == LDAP_REQ_MODIFY && !own_write(op))))
        forget_aggregates(op);
    // A new server's counter container, here or replicated: read the containers again.
    if (rs->sr_type == REP_RESULT && rs->sr_err == LDAP_SUCCESS && op->o_tag == LDAP_REQ_ADD &&
        counter_container_sid({op->o_req_ndn.bv_val, op->o_req_ndn.bv_len}))
        counter_container_added();
    return SLAP_CB_CONTINUE;
}

}  // namespace tally::overlay
