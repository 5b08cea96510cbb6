// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* warning_rules.h - soft limits: warning thresholds and their resolution
 *
 * DESCRIPTION
 *   A warning threshold says when an account is close to a limit: the
 *   first accepted message of a period that brings a window's usage of a
 *   metric to the threshold or past it raises one alert (log, mail,
 *   command), and the message is never refused for it. Values, held in
 *   tallyWarning (account, its policy, its parent's policy) and in the
 *   overlay's tally-default-warning:
 *
 *     WINDOW METRIC N       warn at N (absolute)
 *     WINDOW METRIC P%      warn at P percent (1..100) of the resolved limit;
 *                           nothing when that metric is unlimited
 *     WINDOW METRIC none    no warning, and stop looking further
 *     WINDOW METRIC inherit no opinion (same as not saying it)
 *
 *   WINDOW may be "*" (every window) and METRIC "*" (every metric). Within
 *   one level the most specific value wins: "day messages" before
 *   "day *" before "* messages" before "* *". Across levels the first level
 *   that says a number, a percentage or none wins, as for limits.
 */
#pragma once

#include "metric.h"

#include <array>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally {

struct WarningValue {
    enum class Kind { inherit, none, absolute, percent };
    Kind kind = Kind::inherit;
    std::uint64_t n = 0;  // the number, or the percentage (1..100)
    bool operator==(const WarningValue &) const = default;
};

/* parse_warning_value - "400", "80%", "none", "inherit" (case-insensitive,
 * no sign, no spaces); nullopt for anything else, a percentage of 0 or
 * above 100, or an absolute 0 (a warning at 0 would fire on nothing) */
std::optional<WarningValue> parse_warning_value(std::string_view text);

/* format_warning_value - the inverse of parse_warning_value */
std::string format_warning_value(const WarningValue &v);

/* WarningRule - one "WINDOW METRIC VALUE" (window "*", metric nullopt: every) */
struct WarningRule {
    std::string window;
    std::optional<Metric> metric;
    WarningValue value;
    bool operator==(const WarningRule &) const = default;
};

/* parse_warning_rule - nullopt on success, else why the text is refused */
std::optional<std::string> parse_warning_rule(std::string_view text, WarningRule &out);

/* format_warning_rule - "day messages 80%", "* * none" */
std::string format_warning_rule(const WarningRule &r);

/* WarningSet - the rules one level holds */
class WarningSet {
public:
    void add(const WarningRule &r) { rules_[{r.window, r.metric}] = r.value; }
    /* remove - the rule of exactly this window and metric (nullopt: "*") */
    void remove(const std::string &window, std::optional<Metric> m) { rules_.erase({window, m}); }
    bool empty() const { return rules_.empty(); }
    /* rules - every rule held, for printing the configuration back */
    std::vector<WarningRule> rules() const;
    /* get - the most specific value for window and m (inherit when none applies) */
    WarningValue get(const std::string &window, Metric m) const;

private:
    std::map<std::pair<std::string, std::optional<Metric>>, WarningValue> rules_;
};

/* resolve_warning - the absolute threshold for window and m, given the
 * levels in order (account, policy, parent's policy, defaults; null: absent)
 * and the resolved hard limit (nullopt: unlimited); nullopt when no warning
 * applies. A percentage rounds up (80% of 501 is 401) and is at least 1.
 * limit_rules.h has the form that takes LimitLevels. */
std::optional<std::uint64_t> resolve_warning(const std::array<const WarningSet *, 4> &levels,
                                             const std::string &window, Metric m,
                                             const std::optional<std::uint64_t> &limit);

}  // namespace tally
