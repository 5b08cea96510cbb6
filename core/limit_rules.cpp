// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* limit_rules.cpp - limit value syntax and resolution */
#include "limit_rules.h"

#include <charconv>
#include <strings.h>

namespace tally {

namespace {
bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

std::optional<LimitValue> parse_limit_value(std::string_view t) {
    if (iequals(t, "unlimited")) return LimitValue::unlimited();
    if (iequals(t, "inherit")) return LimitValue::inherit();
    if (t.empty() || t.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return LimitValue::of(v);
}

std::string format_limit_value(const LimitValue &v) {
    switch (v.kind) {
    case LimitValue::Kind::inherit: return "inherit";
    case LimitValue::Kind::unlimited: return "unlimited";
    case LimitValue::Kind::value: break;
    }
    return std::to_string(v.n);
}

LimitValue LimitSet::get(const std::string &window, Metric m) const {
    auto it = values_.find({window, m});
    return it == values_.end() ? LimitValue::inherit() : it->second;
}

ResolvedLimit resolve_limit(const LimitLevels &levels, const std::string &window, Metric m) {
    const std::pair<const LimitSet *, LimitSource> order[] = {
        {&levels.account, LimitSource::account},
        {&levels.policy, LimitSource::policy},
        {&levels.parentPolicy, LimitSource::parentPolicy},
        {levels.defaults, LimitSource::defaults},
    };
    for (auto [set, source] : order) {
        if (!set || set->empty()) continue;
        LimitValue v = set->get(window, m);
        if (v.kind == LimitValue::Kind::unlimited) return {std::nullopt, source};
        if (v.kind == LimitValue::Kind::value) return {v.n, source};
    }
    return {std::nullopt, LimitSource::none};
}

bool resolve_accounting_only(const LimitLevels &levels, bool global) {
    for (const LimitSet *set : {&levels.account, &levels.policy, &levels.parentPolicy})
        if (set->accounting_only) return *set->accounting_only;
    return global;
}

std::optional<std::uint64_t> resolve_warning(const LimitLevels &levels, const std::string &window, Metric m,
                                             const std::optional<std::uint64_t> &limit) {
    return resolve_warning({&levels.account.warnings, &levels.policy.warnings, &levels.parentPolicy.warnings,
                            levels.defaults ? &levels.defaults->warnings : nullptr},
                           window, m, limit);
}

}  // namespace tally
