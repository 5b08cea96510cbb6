// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* warning.cpp - warning threshold syntax and resolution */
#include "warning.h"

#include <charconv>
#include <strings.h>
#include <vector>

namespace tally {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::uint64_t> number(std::string_view t) {
    if (t.empty() || t.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return v;
}

}  // namespace

std::optional<WarningValue> parse_warning_value(std::string_view t) {
    if (iequals(t, "none")) return WarningValue{WarningValue::Kind::none, 0};
    if (iequals(t, "inherit")) return WarningValue{};
    if (!t.empty() && t.back() == '%') {
        auto p = number(t.substr(0, t.size() - 1));
        if (!p || *p < 1 || *p > 100) return std::nullopt;
        return WarningValue{WarningValue::Kind::percent, *p};
    }
    auto n = number(t);
    if (!n || *n < 1) return std::nullopt;
    return WarningValue{WarningValue::Kind::absolute, *n};
}

std::optional<std::string> parse_warning(std::string_view text, std::string &window, Metric &m, WarningValue &v) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ') ++j;
        if (j > i) words.push_back(text.substr(i, j - i));
        i = j;
    }
    if (words.size() != 3) return "expected WINDOW METRIC N|P%|none|inherit";
    auto metric = parse_metric(words[1]);
    if (!metric) return "unknown metric \"" + std::string(words[1]) + "\" (messages, recipients, bytes, byteRecipients)";
    auto value = parse_warning_value(words[2]);
    if (!value)
        return "\"" + std::string(words[2]) + "\" is not a whole number (1 or more), a percentage (1%..100%), none "
               "or inherit";
    window = std::string(words[0]);
    m = *metric;
    v = *value;
    return std::nullopt;
}

WarningValue WarningSet::get(const std::string &window, Metric m) const {
    auto it = values_.find({window, m});
    return it == values_.end() ? WarningValue{} : it->second;
}

std::optional<std::uint64_t> resolve_warning(const WarningLevels &levels, const std::string &window, Metric m,
                                             std::optional<std::uint64_t> limit) {
    for (const WarningSet *set : {&levels.account, &levels.policy, &levels.parentPolicy, levels.defaults}) {
        if (!set || set->empty()) continue;
        WarningValue v = set->get(window, m);
        switch (v.kind) {
        case WarningValue::Kind::inherit: continue;
        case WarningValue::Kind::none: return std::nullopt;
        case WarningValue::Kind::absolute: return v.n;
        case WarningValue::Kind::percent:
            if (!limit) return std::nullopt;
            // Rounded up: 80% of 5 warns at 4, never below the share asked for.
            if (*limit > UINT64_MAX / 100) return *limit / 100 * v.n;  // no overflow for absurd limits
            return (*limit * v.n + 99) / 100;
        }
    }
    return std::nullopt;
}

}  // namespace tally
