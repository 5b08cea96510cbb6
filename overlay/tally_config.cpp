// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tally_config.cpp - one ConfigTable serving slapd.conf and cn=config
 *
 * DESCRIPTION
 *   Every directive is parsed by libtally_core (overlay_config.h); this
 *   file only moves arguments in and values out. cn=config changes take
 *   effect at once: back-config pauses the server's threads while it
 *   modifies, so no charge sees a half-changed configuration.
 */
#include "tally.h"

#include <algorithm>
#include <cstring>

namespace tally::overlay {

namespace {

enum {
    CFG_WINDOW = 1,
    CFG_TIMEZONE,
    CFG_DEFAULT_LIMIT,
    CFG_DEFAULT_WARNING,
    CFG_LIMIT_ATTRIBUTE,
    CFG_HISTORY,
    CFG_HISTORY_DATABASE,
    CFG_ACCOUNTING_ONLY,
    CFG_CHARGE_ID_TTL,
    CFG_CHARGE_ID_MAX,
    CFG_COUNTER_DATABASE,
    CFG_LAST
};

int config_handler(ConfigArgs *c);

#define TALLY_CFG_AT TALLY_OID_ARC ".1.100"
#define TALLY_CFG_OC TALLY_OID_ARC ".2.100"
#define HANDLER reinterpret_cast<void *>(&config_handler)

ConfigTable g_table[] = {
    {"tally-window", "name [pattern]", 2, 3, 0, ARG_MAGIC | CFG_WINDOW, HANDLER,
     "( " TALLY_CFG_AT ".1 NAME 'olcTallyWindow' "
     "DESC 'Accounting window: NAME [strftime PATTERN]; hour, day, week, month are built in' "
     "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString X-ORDERED 'VALUES' )",
     nullptr, {}},
    {"tally-timezone", "zone", 2, 2, 0, ARG_MAGIC | CFG_TIMEZONE, HANDLER,
     "( " TALLY_CFG_AT ".2 NAME 'olcTallyTimezone' "
     "DESC 'IANA time zone the windows follow, or localtime' "
     "EQUALITY caseExactMatch SYNTAX OMsDirectoryString SINGLE-VALUE )",
     nullptr, {}},
    {"tally-default-limit", "window metric value", 4, 4, 0, ARG_MAGIC | CFG_DEFAULT_LIMIT, HANDLER,
     "( " TALLY_CFG_AT ".3 NAME 'olcTallyDefaultLimit' "
     "DESC 'Default limit: WINDOW METRIC N|unlimited|inherit' "
     "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString )",
     nullptr, {}},
    {"tally-default-warning", "window metric value", 4, 4, 0, ARG_MAGIC | CFG_DEFAULT_WARNING, HANDLER,
     "( " TALLY_CFG_AT ".11 NAME 'olcTallyDefaultWarning' "
     "DESC 'Default warning threshold (soft limit): WINDOW|* METRIC|* N|P%|none|inherit' "
     "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString )",
     nullptr, {}},
    {"tally-limit-attribute", "window metric attribute", 4, 4, 0, ARG_MAGIC | CFG_LIMIT_ATTRIBUTE, HANDLER,
     "( " TALLY_CFG_AT ".4 NAME 'olcTallyLimitAttribute' "
     "DESC 'Attribute holding a limit: WINDOW METRIC ATTRIBUTE' "
     "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString )",
     nullptr, {}},
    {"tally-history", "count", 2, 2, 0, ARG_MAGIC | CFG_HISTORY, HANDLER,
     "( " TALLY_CFG_AT ".5 NAME 'olcTallyHistory' "
     "DESC 'Past periods kept per window' EQUALITY integerMatch SYNTAX OMsInteger SINGLE-VALUE )",
     nullptr, {}},
    {"tally-history-database", "suffix", 2, 2, 0, ARG_MAGIC | CFG_HISTORY_DATABASE, HANDLER,
     "( " TALLY_CFG_AT ".9 NAME 'olcTallyHistoryDatabase' "
     "DESC 'Suffix of the database that keeps the history entries; default: the account database' "
     "EQUALITY distinguishedNameMatch SYNTAX OMsDN SINGLE-VALUE )",
     nullptr, {}},
    {"tally-counter-database", "suffix", 2, 2, 0, ARG_MAGIC | CFG_COUNTER_DATABASE, HANDLER,
     "( " TALLY_CFG_AT ".10 NAME 'olcTallyCounterDatabase' "
     "DESC 'Suffix under which each account keeps its counters in an entry of its own (served on the account); "
     "default: in the account entry' "
     "EQUALITY distinguishedNameMatch SYNTAX OMsDN SINGLE-VALUE )",
     nullptr, {}},
    {"tally-accounting-only", "on|off", 2, 2, 0, ARG_MAGIC | ARG_ON_OFF | CFG_ACCOUNTING_ONLY, HANDLER,
     "( " TALLY_CFG_AT ".6 NAME 'olcTallyAccountingOnly' "
     "DESC 'Count without refusing' EQUALITY booleanMatch SYNTAX OMsBoolean SINGLE-VALUE )",
     nullptr, {}},
    {"tally-charge-id-ttl", "seconds", 2, 2, 0, ARG_MAGIC | CFG_CHARGE_ID_TTL, HANDLER,
     "( " TALLY_CFG_AT ".7 NAME 'olcTallyChargeIdTTL' "
     "DESC 'Seconds a charge id is remembered' EQUALITY integerMatch SYNTAX OMsInteger SINGLE-VALUE )",
     nullptr, {}},
    {"tally-charge-id-max", "count", 2, 2, 0, ARG_MAGIC | CFG_CHARGE_ID_MAX, HANDLER,
     "( " TALLY_CFG_AT ".8 NAME 'olcTallyChargeIdMax' "
     "DESC 'Charge ids remembered per account' EQUALITY integerMatch SYNTAX OMsInteger SINGLE-VALUE )",
     nullptr, {}},
    {nullptr, nullptr, 0, 0, 0, ARG_IGNORED, nullptr, nullptr, nullptr, {}},
};

ConfigOCs g_ocs[] = {
    {"( " TALLY_CFG_OC ".1 NAME 'olcTallyConfig' "
     "DESC 'Tally overlay configuration' SUP olcOverlayConfig "
     "MAY ( olcTallyWindow $ olcTallyTimezone $ olcTallyDefaultLimit $ olcTallyDefaultWarning $ olcTallyLimitAttribute $ "
     "olcTallyHistory $ olcTallyHistoryDatabase $ olcTallyAccountingOnly $ olcTallyChargeIdTTL $ "
     "olcTallyChargeIdMax $ olcTallyCounterDatabase ) )",
     Cft_Overlay, g_table, nullptr, nullptr, nullptr, nullptr, nullptr},
    {nullptr, Cft_Abstract, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},
};

void emit(ConfigArgs *c, const std::string &s) {
    struct berval bv;
    bv.bv_val = const_cast<char *>(s.c_str());
    bv.bv_len = s.size();
    value_add_one(&c->rvalue_vals, &bv);
}

std::vector<std::string> args_of(ConfigArgs *c) {
    std::vector<std::string> a;
    for (int i = 1; i < c->argc; ++i) a.emplace_back(c->argv[i]);
    return a;
}

int fail(ConfigArgs *c, const std::string &msg) {
    snprintf(c->cr_msg, sizeof(c->cr_msg), "%s", msg.c_str());
    Debug(LDAP_DEBUG_ANY, "%s: %s: %s\n", c->log, c->argv ? c->argv[0] : "tally", c->cr_msg);
    return ARG_BAD_CONF;
}

int handle_emit(ConfigArgs *c, Info *ti) {
    const OverlayConfig &cfg = ti->ti_config;
    switch (c->type) {
    case CFG_WINDOW:
        for (const WindowDef &w : cfg.windows) emit(c, w.name + " " + w.pattern);
        return cfg.windows.empty() ? 1 : 0;
    case CFG_TIMEZONE:
        if (cfg.timezone == "localtime") return 1;
        emit(c, cfg.timezone);
        return 0;
    case CFG_DEFAULT_LIMIT:
        for (const auto &[k, v] : cfg.defaults.all())
            emit(c, k.first + " " + std::string(metric_name(k.second)) + " " + format_limit_value(v));
        return cfg.defaults.empty() ? 1 : 0;
    case CFG_DEFAULT_WARNING:
        for (const WarningRule &r : cfg.defaults.warnings.rules()) emit(c, format_warning_rule(r));
        return cfg.defaults.warnings.empty() ? 1 : 0;
    case CFG_LIMIT_ATTRIBUTE:
        for (const auto &[k, v] : cfg.limit_attributes)
            emit(c, k.first + " " + std::string(metric_name(k.second)) + " " + v);
        return cfg.limit_attributes.empty() ? 1 : 0;
    case CFG_HISTORY: emit(c, std::to_string(cfg.history)); return 0;
    case CFG_HISTORY_DATABASE:
        if (cfg.history_database.empty()) return 1;
        emit(c, cfg.history_database);
        return 0;
    case CFG_COUNTER_DATABASE:
        if (cfg.counter_database.empty()) return 1;
        emit(c, cfg.counter_database);
        return 0;
    case CFG_ACCOUNTING_ONLY: c->value_int = cfg.accounting_only ? 1 : 0; return 0;
    case CFG_CHARGE_ID_TTL: emit(c, std::to_string(cfg.charge_id_ttl)); return 0;
    case CFG_CHARGE_ID_MAX: emit(c, std::to_string(cfg.charge_id_max)); return 0;
    }
    return 1;
}

/* key_of_args - the (window, metric) a deleted value names, from its
 * parsed arguments (back-config parses a value before deleting it) */
std::optional<std::pair<std::string, Metric>> key_of_args(ConfigArgs *c) {
    if (c->argc < 3) return std::nullopt;
    auto m = parse_metric(c->argv[2]);
    if (!m) return std::nullopt;
    return std::make_pair(std::string(c->argv[1]), *m);
}

int handle_delete(ConfigArgs *c, Info *ti) {
    OverlayConfig &cfg = ti->ti_config;
    switch (c->type) {
    case CFG_WINDOW:
        if (c->argc < 2) {
            cfg.windows.clear();
        } else {
            std::erase_if(cfg.windows, [&](const WindowDef &w) { return w.name == c->argv[1]; });
        }
        return 0;
    case CFG_TIMEZONE: {
        std::string err;
        cfg.timezone = OverlayConfig{}.timezone;
        ti->ti_zone = TimeZone::locate("localtime", &err);
        if (!ti->ti_zone) ti->ti_zone = TimeZone::locate("UTC", &err);
        return 0;
    }
    case CFG_DEFAULT_LIMIT:
        if (auto key = key_of_args(c)) {
            LimitSet fresh;
            for (const auto &[k, v] : cfg.defaults.all())
                if (k != *key) fresh.set(k.first, k.second, v);
            fresh.warnings = cfg.defaults.warnings;
            fresh.accounting_only = cfg.defaults.accounting_only;
            cfg.defaults = fresh;
        } else {
            WarningSet warnings = cfg.defaults.warnings;
            cfg.defaults = LimitSet();
            cfg.defaults.warnings = warnings;
        }
        return 0;
    case CFG_DEFAULT_WARNING:
        if (c->argc >= 3) {
            cfg.defaults.warnings.remove(c->argv[1], std::string_view(c->argv[2]) == "*"
                                                          ? std::nullopt
                                                          : parse_metric(c->argv[2]));
        } else {
            cfg.defaults.warnings = WarningSet();
        }
        return 0;
    case CFG_LIMIT_ATTRIBUTE:
        if (auto key = key_of_args(c)) cfg.limit_attributes.erase(*key);
        else cfg.limit_attributes.clear();
        return 0;
    // Deleting a setting restores its default, declared once in OverlayConfig.
    case CFG_HISTORY: cfg.history = OverlayConfig{}.history; return 0;
    case CFG_HISTORY_DATABASE: cfg.history_database.clear(); return 0;
    case CFG_COUNTER_DATABASE: cfg.counter_database.clear(); return 0;
    case CFG_ACCOUNTING_ONLY: cfg.accounting_only = OverlayConfig{}.accounting_only; return 0;
    case CFG_CHARGE_ID_TTL: cfg.charge_id_ttl = OverlayConfig{}.charge_id_ttl; return 0;
    case CFG_CHARGE_ID_MAX: cfg.charge_id_max = OverlayConfig{}.charge_id_max; return 0;
    }
    return 1;
}

int handle_set(ConfigArgs *c, Info *ti) {
    OverlayConfig &cfg = ti->ti_config;
    std::optional<std::string> err;
    std::uint64_t n = 0;
    switch (c->type) {
    case CFG_WINDOW:
        err = config_add_window(cfg, args_of(c));
        // cn=config may insert at a position ({N} prefix): keep that order.
        if (!err && c->valx >= 0 && static_cast<std::size_t>(c->valx) + 1 < cfg.windows.size())
            std::rotate(cfg.windows.begin() + c->valx, cfg.windows.end() - 1, cfg.windows.end());
        break;
    case CFG_DEFAULT_LIMIT: err = config_add_default_limit(cfg, args_of(c)); break;
    case CFG_DEFAULT_WARNING: err = config_add_default_warning(cfg, args_of(c)); break;
    case CFG_LIMIT_ATTRIBUTE: {
        AttributeDescription *ad = nullptr;
        const char *text = nullptr;
        if (slap_str2ad(c->argv[3], &ad, &text) != LDAP_SUCCESS)
            return fail(c, std::string("attribute \"") + c->argv[3] + "\" is not defined in the schema; "
                           "load its schema before the overlay");
        err = config_add_limit_attribute(cfg, args_of(c));
        break;
    }
    case CFG_TIMEZONE: {
        std::string e;
        auto zone = TimeZone::locate(c->argv[1], &e);
        if (!zone) return fail(c, e);
        ti->ti_zone = zone;
        cfg.timezone = c->argv[1];
        break;
    }
    case CFG_HISTORY:
        err = parse_count_setting(c->argv[1], 1000, n);
        if (!err) cfg.history = n;
        break;
    case CFG_HISTORY_DATABASE:
    case CFG_COUNTER_DATABASE: {
        // The database may be declared later in slapd.conf: whether one holds
        // this suffix is checked when history or counters are written.
        struct berval dn, ndn = BER_BVNULL;
        ber_str2bv(c->argv[1], 0, 0, &dn);
        if (dnNormalize(0, nullptr, nullptr, &dn, &ndn, nullptr) != LDAP_SUCCESS || BER_BVISEMPTY(&ndn)) {
            if (ndn.bv_val) ch_free(ndn.bv_val);
            return fail(c, std::string("\"") + c->argv[1] + "\" is not a DN");
        }
        (c->type == CFG_HISTORY_DATABASE ? cfg.history_database : cfg.counter_database).assign(ndn.bv_val, ndn.bv_len);
        ch_free(ndn.bv_val);
        break;
    }
    case CFG_ACCOUNTING_ONLY: cfg.accounting_only = c->value_int != 0; break;
    case CFG_CHARGE_ID_TTL:
        err = parse_count_setting(c->argv[1], 30 * 86400, n);
        if (!err) cfg.charge_id_ttl = static_cast<std::int64_t>(n);
        break;
    case CFG_CHARGE_ID_MAX:
        err = parse_count_setting(c->argv[1], 100000, n);
        if (!err) cfg.charge_id_max = n;
        break;
    default: return fail(c, "unknown tally directive");
    }
    if (err) return fail(c, *err);
    return 0;
}

int config_handler(ConfigArgs *c) {
    auto *on = reinterpret_cast<slap_overinst *>(c->bi);
    auto *ti = static_cast<Info *>(on->on_bi.bi_private);
    try {
        if (c->op == SLAP_CONFIG_EMIT) return handle_emit(c, ti);
        int rc = c->op == LDAP_MOD_DELETE ? handle_delete(c, ti) : handle_set(c, ti);
        rebuild_resolved(ti);
        return rc;
    } catch (const std::exception &e) {
        return fail(c, std::string("internal error: ") + e.what());
    } catch (...) {
        return fail(c, "internal error");
    }
}

AttributeDescription *find_ad(const std::string &name) {
    AttributeDescription *ad = nullptr;
    const char *text = nullptr;
    if (name.empty() || slap_str2ad(name.c_str(), &ad, &text) != LDAP_SUCCESS) return nullptr;
    return ad;
}

}  // namespace

void rebuild_resolved(Info *ti) {
    static unsigned long generation = 0;
    Resolved r;
    r.windows = ti->ti_config.effective_windows();
    for (const WindowDef &w : r.windows) {
        std::array<AttributeDescription *, kMetricCount> ads{};
        for (Metric m : kAllMetrics)
            ads[static_cast<int>(m)] = find_ad(limit_attribute_name(ti->ti_config, w.name, m));
        r.limit_ads.push_back(ads);
    }
    r.generic_limit = find_ad("tallyLimit");
    r.policy_dn = find_ad("tallyPolicyDN");
    r.aggregate_limit = find_ad("tallyAggregateLimit");
    r.aggregate_dn = find_ad("tallyAggregateDN");
    r.aggregate_class = oc_find("tallyAggregate");
    r.accounting_only = find_ad("tallyAccountingOnly");
    r.warning = find_ad("tallyWarning");
    r.generation = ++generation;
    ti->ti_resolved = std::move(r);
}

int config_register() {
    g_overlay.on_bi.bi_cf_ocs = g_ocs;
    return config_register_schema(g_table, g_ocs);
}

}  // namespace tally::overlay
