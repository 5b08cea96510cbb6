// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* window.h - accounting windows: fixed calendar periods in a time zone
 *
 * DESCRIPTION
 *   A window is a name ("day") and a strftime-style pattern ("%Y-%m-%d"),
 *   the same idea as mtpolicyd's time_pattern: the period a moment belongs
 *   to is the pattern formatted in the configured time zone, and a new
 *   period begins when that text changes. hour, day, week (ISO 8601) and
 *   month are built in; any pattern made of the date/time conversions in
 *   kAllowedConversions works.
 *
 * BUGS
 *   In the hour that repeats when daylight saving time ends, both
 *   occurrences share one hourly period (as with mtpolicyd's local time).
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace date { class time_zone; }

namespace tally {

struct WindowDef {
    std::string name;     // "day"; [A-Za-z0-9_-]+
    std::string pattern;  // "%Y-%m-%d"
    bool operator==(const WindowDef &) const = default;
};

/* parse_window - "day", "hour", "week", "month" or NAME with a PATTERN.
 * Returns an error text on failure, nullopt on success. */
std::optional<std::string> parse_window(std::string_view name, std::string_view pattern_or_empty,
                                        WindowDef &out);

/* builtin_pattern - the pattern of a built-in window name, or empty */
std::string_view builtin_pattern(std::string_view name);

/* TimeZone - a resolved IANA zone; "UTC" and "localtime" are accepted. */
class TimeZone {
public:
    /* locate - resolve a zone name; nullopt with *error set when unknown */
    static std::optional<TimeZone> locate(std::string_view name, std::string *error);
    const std::string &name() const { return name_; }

    /* period_of - the period text of a window at a moment (seconds since epoch) */
    std::string period_of(const WindowDef &w, std::int64_t epoch_seconds) const;

private:
    std::string name_;
    const date::time_zone *zone_ = nullptr;
};

}  // namespace tally
