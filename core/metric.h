// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* metric.h - the quantities Tally counts per window
 *
 * DESCRIPTION
 *   The same four counters as mtpolicyd's Accounting plugin: messages,
 *   recipients (one per recipient of each message), bytes, and bytes
 *   multiplied by recipients (what a message really costs a relay); and
 *   externalRecipients, the recipients whose domain is not hosted (the
 *   brake on a compromised mailbox spamming outside). It is last, so the
 *   first four keep their numbers on the wire and in the counters.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tally {

enum class Metric : int { messages = 0, recipients = 1, bytes = 2, byteRecipients = 3, externalRecipients = 4 };

inline constexpr std::size_t kMetricCount = 5;
inline constexpr std::array<Metric, kMetricCount> kAllMetrics = {
    Metric::messages, Metric::recipients, Metric::bytes, Metric::byteRecipients, Metric::externalRecipients};
/* the four of mtpolicyd's Accounting, carried by every counter value */
inline constexpr std::array<Metric, 4> kClassicMetrics = {Metric::messages, Metric::recipients, Metric::bytes,
                                                          Metric::byteRecipients};

/* metric_name - the name used in configuration, counters and reports */
std::string_view metric_name(Metric m);

/* parse_metric - name to metric, case-insensitive; nullopt when unknown */
std::optional<Metric> parse_metric(std::string_view name);

/* Usage - one value per metric; additions saturate instead of wrapping. */
struct Usage {
    std::array<std::uint64_t, kMetricCount> v{};

    std::uint64_t &operator[](Metric m) { return v[static_cast<int>(m)]; }
    std::uint64_t operator[](Metric m) const { return v[static_cast<int>(m)]; }
    bool operator==(const Usage &) const = default;

    /* add - saturating addition of another usage */
    void add(const Usage &other);
    /* subtract - never below zero */
    void subtract(const Usage &other);
};

/* saturating_add - a + b, or UINT64_MAX when that would overflow */
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b);

/* usage_of_message - what one message with these recipients (external of
 * them outside the hosted domains) and bytes costs */
Usage usage_of_message(std::uint64_t messages, std::uint64_t recipients, std::uint64_t bytes,
                       std::uint64_t external = 0);

}  // namespace tally
