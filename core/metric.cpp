// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* metric.cpp - metric names and saturating usage arithmetic */
#include "metric.h"

#include <limits>
#include <strings.h>

namespace tally {

namespace {
constexpr std::array<std::string_view, kMetricCount> kNames = {"messages", "recipients", "bytes",
                                                              "byteRecipients", "externalRecipients"};
}

std::string_view metric_name(Metric m) { return kNames[static_cast<int>(m)]; }

std::optional<Metric> parse_metric(std::string_view name) {
    for (Metric m : kAllMetrics) {
        std::string_view n = kNames[static_cast<int>(m)];
        if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return m;
    }
    return std::nullopt;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
    std::uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::numeric_limits<std::uint64_t>::max();
    return r;
}

void Usage::subtract(const Usage &other) {
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = v[i] > other.v[i] ? v[i] - other.v[i] : 0;
}

void Usage::add(const Usage &other) {
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = saturating_add(v[i], other.v[i]);
}

Usage usage_of_message(std::uint64_t messages, std::uint64_t recipients, std::uint64_t bytes,
                       std::uint64_t external) {
    Usage u;
    u[Metric::externalRecipients] = external;
    u[Metric::messages] = messages;
    u[Metric::recipients] = recipients;
    u[Metric::bytes] = bytes;
    std::uint64_t br;
    if (__builtin_mul_overflow(bytes, recipients, &br)) br = std::numeric_limits<std::uint64_t>::max();
    u[Metric::byteRecipients] = br;
    return u;
}

}  // namespace tally
