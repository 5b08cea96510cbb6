// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* warning_rules.cpp - warning threshold syntax and resolution */
#include "warning_rules.h"

#include <charconv>
#include <strings.h>
#include <vector>

namespace tally {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::uint64_t> parse_number(std::string_view t) {
    if (t.empty() || t.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return v;
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ') ++j;
        if (j > i) out.push_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

}  // namespace

std::optional<WarningValue> parse_warning_value(std::string_view t) {
    if (iequals(t, "none")) return WarningValue{WarningValue::Kind::none, 0};
    if (iequals(t, "inherit")) return WarningValue{};
    if (!t.empty() && t.back() == '%') {
        auto p = parse_number(t.substr(0, t.size() - 1));
        if (!p || *p == 0 || *p > 100) return std::nullopt;
        return WarningValue{WarningValue::Kind::percent, *p};
    }
    auto n = parse_number(t);
    if (!n || *n == 0) return std::nullopt;
    return WarningValue{WarningValue::Kind::absolute, *n};
}

std::string format_warning_value(const WarningValue &v) {
    switch (v.kind) {
    case WarningValue::Kind::inherit: return "inherit";
    case WarningValue::Kind::none: return "none";
    case WarningValue::Kind::percent: return std::to_string(v.n) + "%";
    case WarningValue::Kind::absolute: break;
    }
    return std::to_string(v.n);
}

std::optional<std::string> parse_warning_rule(std::string_view text, WarningRule &out) {
    auto tok = words(text);
    if (tok.size() != 3) return "expected \"WINDOW METRIC N|P%|none|inherit\" (WINDOW and METRIC may be *)";
    std::optional<Metric> m;
    if (tok[1] != "*") {
        m = parse_metric(tok[1]);
        if (!m) return "unknown metric \"" + std::string(tok[1]) + "\"";
    }
    auto v = parse_warning_value(tok[2]);
    if (!v)
        return "bad warning \"" + std::string(tok[2]) +
               "\" (a number above 0, a percentage from 1% to 100%, none or inherit)";
    out = WarningRule{std::string(tok[0]), m, *v};
    return std::nullopt;
}

std::string format_warning_rule(const WarningRule &r) {
    return r.window + " " + (r.metric ? std::string(metric_name(*r.metric)) : std::string("*")) + " " +
           format_warning_value(r.value);
}

std::vector<WarningRule> WarningSet::rules() const {
    std::vector<WarningRule> out;
    for (const auto &[key, value] : rules_) out.push_back(WarningRule{key.first, key.second, value});
    return out;
}

WarningValue WarningSet::get(const std::string &window, Metric m) const {
    const std::pair<std::string, std::optional<Metric>> order[] = {
        {window, m}, {window, std::nullopt}, {"*", m}, {"*", std::nullopt}};
    for (const auto &key : order) {
        auto it = rules_.find(key);
        if (it != rules_.end() && it->second.kind != WarningValue::Kind::inherit) return it->second;
    }
    return {};
}

std::optional<std::uint64_t> resolve_warning(const std::array<const WarningSet *, 4> &levels,
                                             const std::string &window, Metric m,
                                             const std::optional<std::uint64_t> &limit) {
    for (const WarningSet *set : levels) {
        if (!set || set->empty()) continue;
        WarningValue v = set->get(window, m);
        switch (v.kind) {
        case WarningValue::Kind::inherit: continue;
        case WarningValue::Kind::none: return std::nullopt;
        case WarningValue::Kind::absolute: return v.n;
        case WarningValue::Kind::percent:
            if (!limit) return std::nullopt;
            // ceil(limit * p / 100) without overflow for any 64-bit limit
            std::uint64_t t = *limit / 100 * v.n + (*limit % 100 * v.n + 99) / 100;
            return t > 0 ? t : 1;
        }
    }
    return std::nullopt;
}

}  // namespace tally
