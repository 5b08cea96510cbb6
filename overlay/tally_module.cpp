// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_module.cpp - slapo-tally's entry point: version check, schema,
 * extended operations and overlay registration
 *
 * DESCRIPTION
 *   init_module() is the only exported symbol. It refuses to load into a
 *   slapd other than the one whose headers the module was built with:
 *   struct layouts (Operation, BackendDB) differ between versions and a
 *   mismatch would corrupt memory instead of failing cleanly.
 */
#include "tally.h"

#include <cstring>

#ifndef TALLY_SLAPD_VERSION
#error "TALLY_SLAPD_VERSION must name the slapd version the headers come from"
#endif

namespace tally::overlay {

Schema g_schema;
slap_overinst g_overlay;

namespace {

#define TALLY_AT_ARC TALLY_OID_ARC ".1"

/* Operational attributes written only by the overlay. */
struct AttrDef {
    const char *def;
    AttributeDescription **ad;
};
const AttrDef kAttributes[] = {
    {"( " TALLY_AT_ARC ".1 NAME 'tallyUsage' "
     "DESC 'Tally: current usage of one window, one value per window and server: "
     "WINDOW PERIOD sid=N messages=N recipients=N bytes=N byteRecipients=N' "
     "EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 "
     "NO-USER-MODIFICATION USAGE directoryOperation )",
     &g_schema.usage},
    {"( " TALLY_AT_ARC ".2 NAME 'tallyHistory' "
     "DESC 'Tally: usage of past periods, same form as tallyUsage' "
     "EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 "
     "NO-USER-MODIFICATION USAGE directoryOperation )",
     &g_schema.history},
    {"( " TALLY_AT_ARC ".3 NAME 'tallyRecentCharge' "
     "DESC 'Tally: charge ids accepted recently, one value per server, oldest first: [sid=N ]EPOCH:ID EPOCH:ID ...' "
     "EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 "
     "NO-USER-MODIFICATION USAGE directoryOperation )",
     &g_schema.recent},
    /* ACL pseudo-attributes, never stored: write access to them on an
     * account entry is what allows charging it or resetting it. They are
     * deliberately not NO-USER-MODIFICATION, because slapd skips ACL write
     * checks on such attributes. */
    {"( " TALLY_AT_ARC ".4 NAME 'tallyCharge' "
     "DESC 'Tally: ACL pseudo-attribute; write access allows charging the entry' "
     "EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE "
     "USAGE directoryOperation )",
     &g_schema.charge_right},
    {"( " TALLY_AT_ARC ".5 NAME 'tallyReset' "
     "DESC 'Tally: ACL pseudo-attribute; write access allows resetting the counters of the entry' "
     "EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE "
     "USAGE directoryOperation )",
     &g_schema.reset_right},
};

#define TALLY_OC_ARC TALLY_OID_ARC ".2"

/* Object classes of the entries that keep history (tally_history.cpp). */
struct ClassDef {
    const char *def;
    ObjectClass **oc;
};
const ClassDef kClasses[] = {
    {"( " TALLY_OC_ARC ".4 NAME 'tallyHistoryRecord' "
     "DESC 'Tally: past periods of one account (named by its entryUUID) on one server, in tallyHistory' "
     "SUP top STRUCTURAL MUST cn )",
     &g_schema.history_record},
    {"( " TALLY_OC_ARC ".5 NAME 'tallyHistoryContainer' "
     "DESC 'Tally: holds the tallyHistoryRecord entries one server (serverID) writes' "
     "SUP top STRUCTURAL MUST cn )",
     &g_schema.history_container},
    {"( " TALLY_OC_ARC ".7 NAME 'tallyCounterRecord' "
     "DESC 'Tally: the counters of one account (named by its entryUUID) on one server, with tally-counter-database' "
     "SUP top STRUCTURAL MUST cn )",
     &g_schema.counter_record},
    {"( " TALLY_OC_ARC ".8 NAME 'tallyCounterContainer' "
     "DESC 'Tally: holds the tallyCounterRecord entries one server (serverID) writes' "
     "SUP top STRUCTURAL MUST cn )",
     &g_schema.counter_container},
};

int db_init(BackendDB *be, ConfigReply *cr) {
    auto *on = reinterpret_cast<slap_overinst *>(be->bd_info);
    if (SLAP_ISGLOBALOVERLAY(be)) {
        snprintf(cr->msg, sizeof(cr->msg), "tally cannot be a global overlay; put it in a database");
        Debug(LDAP_DEBUG_ANY, "tally: %s\n", cr->msg);
        return 1;
    }
    Info *ti;
    try {
        ti = new Info();
        std::string err;
        ti->ti_zone = TimeZone::locate("localtime", &err);
        if (!ti->ti_zone) ti->ti_zone = TimeZone::locate("UTC", &err);
    } catch (...) {
        snprintf(cr->msg, sizeof(cr->msg), "tally: out of memory or time zone database unreadable");
        return 1;
    }
    on->on_bi.bi_private = ti;
    rebuild_resolved(ti);
    return 0;
}

int db_open(BackendDB *be, ConfigReply *cr) {
    auto *on = reinterpret_cast<slap_overinst *>(be->bd_info);
    auto *ti = static_cast<Info *>(on->on_bi.bi_private);
    if (!ti->ti_zone) {
        snprintf(cr->msg, sizeof(cr->msg), "tally: no usable time zone; set tally-timezone");
        return 1;
    }
    rebuild_resolved(ti);  // the schema is complete now
    (void)monitor_attach(be, on, ti);  // a refusal is logged; charges work without it
    return 0;
}

int db_close(BackendDB *be, ConfigReply *) {
    auto *on = reinterpret_cast<slap_overinst *>(be->bd_info);
    if (auto *ti = static_cast<Info *>(on->on_bi.bi_private)) monitor_detach(ti);
    return 0;
}

int db_destroy(BackendDB *be, ConfigReply *cr) {
    auto *on = reinterpret_cast<slap_overinst *>(be->bd_info);
    auto *ti = static_cast<Info *>(on->on_bi.bi_private);
    if (ti) {
        delete ti;
        on->on_bi.bi_private = nullptr;
    }
    return 0;
}

/* version_matches - Versionstr reads "@(#) $OpenLDAP: slapd 2.5.13+dfsg-5 (...". */
bool version_matches(const char *running) {
    const char *want = "slapd " TALLY_SLAPD_VERSION " ";
    return running && std::strstr(running, want) != nullptr;
}

int initialize() {
    if (!version_matches(Versionstr)) {
        Debug(LDAP_DEBUG_ANY,
              "tally: this tally.so was built for slapd %s but the running slapd is \"%s\"; "
              "rebuild Tally against this slapd (scripts/setup fetches the matching OpenLDAP "
              "source) - refusing to load\n",
              TALLY_SLAPD_VERSION, Versionstr);
        return -1;
    }
    for (const AttrDef &a : kAttributes) {
        int code = register_at(a.def, a.ad, 0);
        if (code) {
            Debug(LDAP_DEBUG_ANY, "tally: register_at failed (%d) for %s\n", code, a.def);
            return code;
        }
    }
    for (const ClassDef &c : kClasses) {
        int code = register_oc(c.def, c.oc, 0);
        if (code) {
            Debug(LDAP_DEBUG_ANY, "tally: register_oc failed (%d) for %s\n", code, c.def);
            return code;
        }
    }
    if (int code = monitor_schema_register()) return code;
    static struct berval charge_oid = {std::strlen(kChargeOid), const_cast<char *>(kChargeOid)};
    static struct berval reset_oid = {std::strlen(kResetOid), const_cast<char *>(kResetOid)};
    int rc = load_extop2(&charge_oid, SLAP_EXOP_WRITES, exop_charge, 0);
    if (rc == LDAP_SUCCESS) rc = load_extop2(&reset_oid, SLAP_EXOP_WRITES, exop_reset, 0);
    if (rc != LDAP_SUCCESS) {
        Debug(LDAP_DEBUG_ANY, "tally: unable to register extended operations (%d)\n", rc);
        return rc;
    }

    test_pause_init();
    g_overlay.on_bi.bi_type = const_cast<char *>("tally");
    g_overlay.on_bi.bi_flags = SLAPO_BFLAG_SINGLE | SLAPO_BFLAG_DBONLY;
    g_overlay.on_bi.bi_db_init = db_init;
    g_overlay.on_bi.bi_db_open = db_open;
    g_overlay.on_bi.bi_db_close = db_close;
    g_overlay.on_bi.bi_db_destroy = db_destroy;
    g_overlay.on_bi.bi_extended = overlay_extended;
    g_overlay.on_bi.bi_op_modify = guard_modify;
    g_overlay.on_bi.bi_op_add = guard_add;
    g_overlay.on_bi.bi_op_delete = guard_delete_or_rename;
    g_overlay.on_bi.bi_op_modrdn = guard_delete_or_rename;
    g_overlay.on_bi.bi_operational = history_operational;
    g_overlay.on_response = guard_response;
    if ((rc = config_register()) != 0) return rc;
    return overlay_register(&g_overlay);
}

}  // namespace

}  // namespace tally::overlay

extern "C" __attribute__((visibility("default"))) int init_module(int argc, char *argv[]) {
    try {
        return tally::overlay::initialize();
    } catch (...) {
        Debug(LDAP_DEBUG_ANY, "tally: initialization failed\n");
        return -1;
    }
}
