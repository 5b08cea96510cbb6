// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* overlay_config.h - the overlay's settings, parsed and checked without slapd
 *
 * DESCRIPTION
 *   One OverlayConfig per database the overlay sits on. The slapd glue
 *   (overlay/tally_config.cpp) feeds it the arguments of each directive,
 *   from slapd.conf or cn=config alike, and prints it back for cn=config.
 *
 *   tally-window NAME [PATTERN]           (several; default: day)
 *   tally-timezone ZONE                   (default: localtime)
 *   tally-default-limit WINDOW METRIC N|unlimited|inherit   (several)
 *   tally-default-warning WINDOW|* METRIC|* N|P%|none|inherit (several; soft limits)
 *   tally-limit-attribute WINDOW METRIC ATTRIBUTE           (several)
 *   tally-history N                       (past periods kept per window; default 3)
 *   tally-history-database SUFFIX         (the database keeping history entries;
 *                                          default: the account's own)
 *   tally-counter-database SUFFIX         (each account's counters in an entry of
 *                                          its own under SUFFIX; default: in the account)
 *   tally-accounting-only on|off          (default off)
 *   tally-charge-id-ttl SECONDS           (default 600)
 *   tally-charge-id-max N                 (per account; default 16)
 */
#pragma once

#include "limit_rules.h"
#include "window.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally {

struct OverlayConfig {
    std::vector<WindowDef> windows;  // empty means the default: day
    std::string timezone = "localtime";
    LimitSet defaults;  // with defaults.warnings: tally-default-warning
    std::map<std::pair<std::string, Metric>, std::string> limit_attributes;  // overrides
    std::size_t history = 3;
    std::string history_database;  // normalized suffix; empty: the account's own database
    std::string counter_database;  // normalized suffix holding counter entries; empty: counters in the account
    bool accounting_only = false;
    std::int64_t charge_id_ttl = 600;
    std::size_t charge_id_max = 16;

    /* effective_windows - the configured windows, or the default */
    std::vector<WindowDef> effective_windows() const;
};

/* Each parser takes the directive's arguments (without the directive name)
 * and returns nullopt on success or an error text for the administrator. */
std::optional<std::string> config_add_window(OverlayConfig &c, const std::vector<std::string> &args);
std::optional<std::string> config_add_default_limit(OverlayConfig &c, const std::vector<std::string> &args);
std::optional<std::string> config_add_default_warning(OverlayConfig &c, const std::vector<std::string> &args);
std::optional<std::string> config_add_limit_attribute(OverlayConfig &c, const std::vector<std::string> &args);
std::optional<std::string> parse_count_setting(std::string_view text, std::uint64_t max, std::uint64_t &out);

/* limit_attribute_name - the attribute holding WINDOW's METRIC limit: a
 * configured override, else tally<Metric>Per<Window> for hour, day, week,
 * month, else empty (only tallyLimit values and defaults apply) */
std::string limit_attribute_name(const OverlayConfig &c, const std::string &window, Metric m);

/* parse_generic_limit - a tallyLimit value "WINDOW METRIC N|unlimited|inherit" */
std::optional<std::string> parse_generic_limit(std::string_view text, std::string &window, Metric &m,
                                               LimitValue &v);

}  // namespace tally
