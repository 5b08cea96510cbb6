// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_monitor.cpp - the overlay's counters under cn=Monitor
 *
 * DESCRIPTION
 *   When slapd has a monitor database, each database carrying the overlay
 *   gets Tally's counters (core/monitor_counters.h) on its back-monitor
 *   entry, cn=Database N,cn=Databases,cn=Monitor, with the auxiliary class
 *   tallyMonitor: the way back-mdb adds its olmMDB attributes and pcache
 *   its pcacheNumQueries (overlays/pcache.c), through back-monitor's
 *   function table found at run time, backend_info("monitor")->bi_extra.
 *   Nothing links against back-monitor: without a monitor database the
 *   overlay loads and runs as before.
 *
 *   Attaching happens at db_open (slapd.conf, cn=config at startup, or the
 *   overlay added at runtime) and, for a monitor database added through
 *   cn=config later, at the first charge or reset after it appears (checked
 *   at most once a second). The values are read live by a monitor callback
 *   when somebody searches the entry. Detaching (the overlay removed at
 *   runtime) takes the class and the attributes off the entry again.
 *
 *   Threads: attach and detach run either while slapd is paused (db_open,
 *   db_close from cn=config) or on an operation thread, which never runs
 *   during a paused configuration change; the Info's monitor mutex keeps two
 *   operation threads from attaching at once.
 */
#include "tally.h"

#include "back-monitor/back-monitor.h"

#include <cstdio>
#include <string>

namespace tally::overlay {

namespace {

std::array<AttributeDescription *, kMonitorCounters> g_monitor_ads{};
ObjectClass *g_monitor_class = nullptr;

/* monitor_api - back-monitor's function table once a monitor database is
 * configured, else null */
monitor_extra_t *monitor_api() {
    BackendInfo *mi = backend_info("monitor");
    if (!mi || !mi->bi_extra) return nullptr;
    auto *api = static_cast<monitor_extra_t *>(mi->bi_extra);
    return api->is_configured() ? api : nullptr;
}

void set_integer(Attribute *a, std::uint64_t value) {
    char buf[24];
    struct berval bv = {static_cast<ber_len_t>(std::snprintf(buf, sizeof(buf), "%llu",
                                                             static_cast<unsigned long long>(value))),
                        buf};
    if (a->a_nvals != a->a_vals) ber_bvreplace(&a->a_nvals[0], &bv);
    ber_bvreplace(&a->a_vals[0], &bv);
}

/* update - mc_update: the live values, when the entry is read */
int update(Operation *, SlapReply *, Entry *e, void *priv) {
    auto *ti = static_cast<Info *>(priv);
    for (const MonitorAttribute &m : monitor_attributes()) {
        AttributeDescription *ad = g_monitor_ads[static_cast<std::size_t>(m.counter)];
        if (Attribute *a = attr_find(e->e_attrs, ad)) set_integer(a, ti->ti_monitor.counters.get(m.counter));
    }
    return SLAP_CB_CONTINUE;
}

/* take_off - remove the class and the attributes from the entry */
void take_off(Entry *e) {
    const char *text;
    char textbuf[SLAP_TEXT_BUFLEN];
    struct berval values[2] = {g_monitor_class->soc_cname, BER_BVNULL};
    Modification mod = {};
    mod.sm_op = LDAP_MOD_DELETE;
    mod.sm_desc = slap_schema.si_ad_objectClass;
    mod.sm_values = values;
    mod.sm_numvals = 1;
    (void)modify_delete_values(e, &mod, 1, &text, textbuf, sizeof(textbuf));  // absent already: fine
    for (AttributeDescription *ad : g_monitor_ads) {
        Modification all = {};
        all.sm_op = LDAP_MOD_DELETE;
        all.sm_desc = ad;
        (void)modify_delete_values(e, &all, 1, &text, textbuf, sizeof(textbuf));
    }
}

/* release - mc_free: the entry lets go of the callback (detach, or the
 * monitor database freeing its entries at shutdown, when the Info may be
 * gone already and must not be touched) */
int release(Entry *e, void **priv) {
    take_off(e);
    if (!slapd_shutdown && *priv) {
        auto *ti = static_cast<Info *>(*priv);
        BER_BVZERO(&ti->ti_monitor.ndn);
        ti->ti_monitor.callback = nullptr;
        ti->ti_monitor.attached.store(false);
    }
    *priv = nullptr;
    return SLAP_CB_CONTINUE;
}

/* attach_locked - register the class, the attributes and the callback on
 * the database's monitor entry; the caller holds the monitor mutex */
void attach_locked(BackendDB *be, slap_overinst *on, Info *ti, monitor_extra_t *api) {
    MonitorLink &link = ti->ti_monitor;
    Attribute *attrs = attrs_alloc(1 + kMonitorCounters);
    if (!attrs) return;
    Attribute *a = attrs;
    a->a_desc = slap_schema.si_ad_objectClass;
    attr_valadd(a, &g_monitor_class->soc_cname, nullptr, 1);
    struct berval zero = BER_BVC("0");
    for (AttributeDescription *ad : g_monitor_ads) {
        a = a->a_next;
        a->a_desc = ad;
        attr_valadd(a, &zero, nullptr, 1);
    }
    auto *cb = static_cast<monitor_callback_t *>(ch_calloc(1, sizeof(monitor_callback_t)));
    cb->mc_update = update;
    cb->mc_free = release;
    cb->mc_private = ti;
    BER_BVZERO(&link.ndn);
    // The database's entry (created now, or later from back-monitor's limbo
    // while slapd starts: link.ndn is filled then, before the attributes are
    // added, as the limbo runs in order).
    int rc = api->register_overlay(be, on, &link.ndn);
    if (rc == 0) rc = api->register_entry_attrs(&link.ndn, attrs, cb, nullptr, -1, nullptr);
    attrs_free(attrs);  // registered copies them
    if (rc != 0) {
        ch_free(cb);
        Debug(LDAP_DEBUG_ANY, "tally: could not add its counters to cn=Monitor for \"%s\" (%d)\n",
              be->be_suffix ? be->be_suffix[0].bv_val : "", rc);
        return;
    }
    link.callback = cb;
    link.attached.store(true);
    Debug(LDAP_DEBUG_CONFIG, "tally: counters of \"%s\" under cn=Monitor\n",
          be->be_suffix ? be->be_suffix[0].bv_val : "");
}

}  // namespace

int monitor_schema_register() {
    const std::string arc = TALLY_OID_ARC;
    std::string may;
    for (const MonitorAttribute &m : monitor_attributes()) {
        std::string def = "( " + arc + ".1." + std::to_string(m.oid) + " NAME '" + m.name + "' DESC 'Tally monitor: " +
                          m.description +
                          "' EQUALITY integerMatch ORDERING integerOrderingMatch "
                          "SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE NO-USER-MODIFICATION "
                          "USAGE dSAOperation )";
        if (int rc = register_at(def.c_str(), &g_monitor_ads[static_cast<std::size_t>(m.counter)], 0)) {
            Debug(LDAP_DEBUG_ANY, "tally: register_at failed (%d) for %s\n", rc, def.c_str());
            return rc;
        }
        may += (may.empty() ? "" : " $ ") + std::string(m.name);
    }
    std::string oc = "( " + arc + ".2." + std::to_string(kMonitorClassOid) + " NAME '" + kMonitorClassName +
                     "' DESC 'Tally: the counters of a database carrying the tally overlay, on its cn=Monitor "
                     "entry' SUP top AUXILIARY MAY ( " +
                     may + " ) )";
    if (int rc = register_oc(oc.c_str(), &g_monitor_class, 0)) {
        Debug(LDAP_DEBUG_ANY, "tally: register_oc failed (%d) for %s\n", rc, oc.c_str());
        return rc;
    }
    return 0;
}

bool monitor_attach(BackendDB *be, slap_overinst *on, Info *ti) {
    MonitorLink &link = ti->ti_monitor;
    MutexLock lock(link.mutex);
    if (link.attached.load()) return true;
    monitor_extra_t *api = monitor_api();
    if (!api) return true;  // nothing to attach to: not a failure
    attach_locked(be, on, ti, api);
    return link.attached.load();
}

void monitor_try_attach(Operation *op, slap_overinst *on, Info *ti, std::int64_t now) {
    MonitorLink &link = ti->ti_monitor;
    std::int64_t due = link.next_try.load(std::memory_order_relaxed);
    if (now < due || !link.next_try.compare_exchange_strong(due, now + 1)) return;
    // A monitor database that refused once is asked again only every five
    // minutes: the failure is logged each time.
    if (!monitor_attach(op->o_bd->bd_self, on, ti)) link.next_try.store(now + 300);
}

void monitor_detach(Info *ti) {
    MonitorLink &link = ti->ti_monitor;
    MutexLock lock(link.mutex);
    if (!link.attached.load() || BER_BVISNULL(&link.ndn)) return;
    monitor_extra_t *api = monitor_api();
    if (!api) return;
    struct berval none = BER_BVNULL;
    // release() runs inside, takes the class and attributes off the entry
    // and marks the link detached; back-monitor frees the callback.
    api->unregister_entry_callback(&link.ndn, static_cast<monitor_callback_t *>(link.callback), &none, 0, &none);
}

}  // namespace tally::overlay
