// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* overlay_config.cpp - directive parsing for the overlay's settings */
#include "overlay_config.h"

#include <cctype>
#include <charconv>

namespace tally {

namespace {

std::string capitalized(std::string_view s) {
    std::string out(s);
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out;
}

bool valid_attribute_name(std::string_view s) {
    if (s.empty() || s.size() > 64 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
    for (char ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') return false;
    return true;
}

std::optional<std::string> window_and_metric(const OverlayConfig &c, const std::string &w,
                                             const std::string &metric, Metric &m) {
    auto pm = parse_metric(metric);
    if (!pm) return "unknown metric \"" + metric + "\" (messages, recipients, bytes, byteRecipients, externalRecipients)";
    m = *pm;
    for (const WindowDef &d : c.effective_windows())
        if (d.name == w) return std::nullopt;
    return "window \"" + w + "\" is not configured; declare it with tally-window first";
}

}  // namespace

std::vector<WindowDef> OverlayConfig::effective_windows() const {
    if (!windows.empty()) return windows;
    return {WindowDef{"day", std::string(builtin_pattern("day"))}};
}

std::optional<std::string> config_add_window(OverlayConfig &c, const std::vector<std::string> &args) {
    if (args.empty() || args.size() > 2) return "usage: tally-window NAME [PATTERN]";
    WindowDef w;
    if (auto err = parse_window(args[0], args.size() > 1 ? args[1] : "", w)) return err;
    for (const WindowDef &d : c.windows)
        if (d.name == w.name) return "window \"" + w.name + "\" is already configured";
    if (c.windows.size() >= 16) return "at most 16 windows";
    c.windows.push_back(std::move(w));
    return std::nullopt;
}

std::optional<std::string> config_add_default_limit(OverlayConfig &c, const std::vector<std::string> &args) {
    if (args.size() != 3) return "usage: tally-default-limit WINDOW METRIC N|unlimited|inherit";
    Metric m;
    if (auto err = window_and_metric(c, args[0], args[1], m)) return err;
    auto v = parse_limit_value(args[2]);
    if (!v) return "bad limit \"" + args[2] + "\": a whole number, unlimited or inherit";
    c.defaults.set(args[0], m, *v);
    return std::nullopt;
}

std::optional<std::string> config_add_default_warning(OverlayConfig &c, const std::vector<std::string> &args) {
    if (args.size() != 3) return "usage: tally-default-warning WINDOW|* METRIC|* N|P%|none|inherit";
    WarningRule rule;
    if (auto err = parse_warning_rule(args[0] + " " + args[1] + " " + args[2], rule)) return err;
    Metric m;
    if (rule.window != "*")
        if (auto err = window_and_metric(c, args[0], rule.metric ? args[1] : "messages", m)) return err;
    c.defaults.warnings.add(rule);
    return std::nullopt;
}

std::optional<std::string> config_add_limit_attribute(OverlayConfig &c, const std::vector<std::string> &args) {
    if (args.size() != 3) return "usage: tally-limit-attribute WINDOW METRIC ATTRIBUTE";
    Metric m;
    if (auto err = window_and_metric(c, args[0], args[1], m)) return err;
    if (!valid_attribute_name(args[2])) return "bad attribute name \"" + args[2] + "\"";
    c.limit_attributes[{args[0], m}] = args[2];
    return std::nullopt;
}

std::optional<std::string> parse_count_setting(std::string_view text, std::uint64_t max, std::uint64_t &out) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v > max)
        return "\"" + std::string(text) + "\" is not a whole number from 0 to " + std::to_string(max);
    out = v;
    return std::nullopt;
}

std::string limit_attribute_name(const OverlayConfig &c, const std::string &window, Metric m) {
    auto it = c.limit_attributes.find({window, m});
    if (it != c.limit_attributes.end()) return it->second;
    if (window == "hour" || window == "day" || window == "week" || window == "month")
        return "tally" + capitalized(metric_name(m)) + "Per" + capitalized(window);
    return {};
}

std::optional<std::string> parse_generic_limit(std::string_view text, std::string &window, Metric &m,
                                               LimitValue &v) {
    std::vector<std::string> tok;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ') ++j;
        if (j > i) tok.emplace_back(text.substr(i, j - i));
        i = j;
    }
    if (tok.size() != 3) return "expected \"WINDOW METRIC N|unlimited|inherit\"";
    auto pm = parse_metric(tok[1]);
    if (!pm) return "unknown metric \"" + tok[1] + "\"";
    auto pv = parse_limit_value(tok[2]);
    if (!pv) return "bad limit \"" + tok[2] + "\"";
    window = tok[0];
    m = *pm;
    v = *pv;
    return std::nullopt;
}

}  // namespace tally
