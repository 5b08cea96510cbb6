// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* limit_rules.h - limit values and their resolution order
 *
 * DESCRIPTION
 *   A limit is set per metric per window. Each level (account entry, the
 *   policy it references, the policy named on its parent entry, the
 *   overlay defaults) may say:
 *     N          at most N (0 refuses everything for that metric)
 *     unlimited  no limit, and stop looking further
 *     inherit    no opinion: ask the next level (same as leaving it unset)
 *   The first level with a number or "unlimited" wins; when no level says
 *   anything the metric is unlimited.
 */
#pragma once

#include "metric.h"
#include "warning_rules.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tally {

struct LimitValue {
    enum class Kind { inherit, unlimited, value };
    Kind kind = Kind::inherit;
    std::uint64_t n = 0;

    static LimitValue inherit() { return {}; }
    static LimitValue unlimited() { return {Kind::unlimited, 0}; }
    static LimitValue of(std::uint64_t v) { return {Kind::value, v}; }
    bool operator==(const LimitValue &) const = default;
};

/* parse_limit_value - "123", "unlimited", "inherit" (case-insensitive, no
 * sign, no spaces); nullopt when the text is none of these */
std::optional<LimitValue> parse_limit_value(std::string_view text);

/* format_limit_value - the inverse of parse_limit_value */
std::string format_limit_value(const LimitValue &v);

/* Where a resolved limit came from, for reports and logs. */
enum class LimitSource { account = 0, policy = 1, parentPolicy = 2, defaults = 3, none = 4 };

/* ResolvedLimit - nullopt max means unlimited */
struct ResolvedLimit {
    std::optional<std::uint64_t> max;
    LimitSource source = LimitSource::none;
};

/* LimitSet - the limits one level says something about, by window and metric */
class LimitSet {
public:
    void set(const std::string &window, Metric m, LimitValue v) { values_[{window, m}] = v; }
    LimitValue get(const std::string &window, Metric m) const;
    bool empty() const { return values_.empty(); }
    const std::map<std::pair<std::string, Metric>, LimitValue> &all() const { return values_; }

    /* tallyAccountingOnly on this level: TRUE counts and never refuses,
     * FALSE enforces; nullopt (absent) asks the next level */
    std::optional<bool> accounting_only;

    /* tallyWarning (tally-default-warning on the defaults): soft limits */
    WarningSet warnings;

private:
    std::map<std::pair<std::string, Metric>, LimitValue> values_;
};

/* LimitLevels - the four levels in resolution order; absent levels are
 * empty. The defaults are shared configuration, referred to, not copied. */
struct LimitLevels {
    LimitSet account, policy, parentPolicy;
    const LimitSet *defaults = nullptr;
};

/* resolve_limit - first level with a number or "unlimited" wins */
ResolvedLimit resolve_limit(const LimitLevels &levels, const std::string &window, Metric m);

/* resolve_accounting_only - "count, never refuse" for this account: the
 * first of account, policy, parent's policy that says TRUE or FALSE wins,
 * else the overlay's tally-accounting-only (global) */
bool resolve_accounting_only(const LimitLevels &levels, bool global);

/* resolve_warning - the warning threshold of window and m over the levels'
 * tallyWarning values (warning_rules.h), given the resolved limit */
std::optional<std::uint64_t> resolve_warning(const LimitLevels &levels, const std::string &window, Metric m,
                                             const std::optional<std::uint64_t> &limit);

}  // namespace tally
