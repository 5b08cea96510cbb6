// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* window.cpp - window patterns and period computation with the IANA tz database */
#include "window.h"

#include <cctype>
#include <chrono>
#include <date/tz.h>
#include <sstream>

namespace tally {

namespace {
/* Conversions that name a calendar period. Seconds are left out on purpose:
 * a period that short would turn every charge into a roll-over. */
constexpr std::string_view kAllowedConversions = "YyGgCmdejHUWVuwbBhaAMp%";

bool valid_window_name(std::string_view n) {
    if (n.empty() || n.size() > 32) return false;
    for (char c : n)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
    return true;
}
}  // namespace

std::string_view builtin_pattern(std::string_view name) {
    if (name == "hour") return "%Y-%m-%dT%H";
    if (name == "day") return "%Y-%m-%d";
    if (name == "week") return "%G-W%V";
    if (name == "month") return "%Y-%m";
    return {};
}

std::optional<std::string> parse_window(std::string_view name, std::string_view pattern,
                                        WindowDef &out) {
    if (!valid_window_name(name))
        return "window name \"" + std::string(name) +
               "\" must be 1-32 letters, digits, '_' or '-'";
    if (pattern.empty()) pattern = builtin_pattern(name);
    if (pattern.empty())
        return "window \"" + std::string(name) +
               "\" needs a pattern (built-in windows: hour, day, week, month)";
    if (pattern.size() > 64) return "window pattern longer than 64 characters";
    bool has_conversion = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(pattern[i]);
        if (std::isspace(c) || !std::isprint(c))
            return "window pattern \"" + std::string(pattern) +
                   "\" must not contain spaces or control characters";
        if (c != '%') continue;
        if (i + 1 >= pattern.size()) return "window pattern ends with a lone '%'";
        char conv = pattern[++i];
        if (kAllowedConversions.find(conv) == std::string_view::npos)
            return std::string("window pattern conversion %") + conv +
                   " is not allowed (use date and time conversions such as %Y %m %d %H %V)";
        if (conv != '%') has_conversion = true;
    }
    if (!has_conversion) return "window pattern \"" + std::string(pattern) + "\" has no conversion";
    out.name = std::string(name);
    out.pattern = std::string(pattern);
    return std::nullopt;
}

std::optional<TimeZone> TimeZone::locate(std::string_view name, std::string *error) {
    TimeZone tz;
    try {
        if (name == "localtime" || name.empty()) {
            tz.zone_ = date::current_zone();
        } else {
            tz.zone_ = date::locate_zone(std::string(name));
        }
    } catch (const std::exception &e) {
        if (error) *error = "unknown time zone \"" + std::string(name) + "\": " + e.what();
        return std::nullopt;
    }
    tz.name_ = name.empty() ? "localtime" : std::string(name);
    return tz;
}

std::string TimeZone::period_of(const WindowDef &w, std::int64_t epoch_seconds) const {
    using namespace std::chrono;
    date::sys_seconds t{seconds{epoch_seconds}};
    auto zoned = date::make_zoned(zone_, t);
    return date::format(w.pattern.c_str(), zoned);
}

}  // namespace tally
