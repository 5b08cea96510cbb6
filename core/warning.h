// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* warning.h - soft limits: a threshold that warns, never refuses
 *
 * DESCRIPTION
 *   A warning threshold is set per window and metric, like a limit, on the
 *   account, its policy, its parent's policy or the overlay defaults
 *   (tallyWarning, tally-default-warning):
 *     N          warn once usage reaches N
 *     P%         warn once usage reaches P percent of the limit (1..100;
 *                no limit: never)
 *     none       no warning, and stop looking further
 *     inherit    ask the next level (same as leaving it unset)
 *   The first charge of a period that brings usage to the threshold warns
 *   (ChargeResponse::first_warning) and marks the window's counter
 *   (warned=EPOCH), so an account warns once per window and period however
 *   many servers charge it.
 */
#pragma once

#include "metric.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tally {

struct WarningValue {
    enum class Kind { inherit, none, absolute, percent };
    Kind kind = Kind::inherit;
    std::uint64_t n = 0;
    bool operator==(const WarningValue &) const = default;
};

/* parse_warning_value - "400", "80%", "none", "inherit"; nullopt otherwise */
std::optional<WarningValue> parse_warning_value(std::string_view text);

/* parse_warning - a tallyWarning value "WINDOW METRIC 80%|400|none|inherit":
 * nullopt when valid, else why not */
std::optional<std::string> parse_warning(std::string_view text, std::string &window, Metric &m, WarningValue &v);

/* WarningSet - what one level says, by window and metric */
class WarningSet {
public:
    void set(const std::string &window, Metric m, WarningValue v) { values_[{window, m}] = v; }
    WarningValue get(const std::string &window, Metric m) const;
    bool empty() const { return values_.empty(); }
    const std::map<std::pair<std::string, Metric>, WarningValue> &all() const { return values_; }

private:
    std::map<std::pair<std::string, Metric>, WarningValue> values_;
};

/* WarningLevels - the four levels in resolution order, as LimitLevels */
struct WarningLevels {
    WarningSet account, policy, parentPolicy;
    const WarningSet *defaults = nullptr;
};

/* resolve_warning - the absolute threshold for window and metric given its
 * resolved limit (nullopt: unlimited); nullopt: no warning */
std::optional<std::uint64_t> resolve_warning(const WarningLevels &levels, const std::string &window, Metric m,
                                             std::optional<std::uint64_t> limit);

}  // namespace tally
