// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* atomic_histogram.cpp - lock-free histogram buckets for tallyd's /metrics */
#include "atomic_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tally::daemon {

AtomicHistogram::AtomicHistogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void AtomicHistogram::observe(double value) {
    // The first bucket whose upper bound is >= value ("le"), else +Inf.
    std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    if (value > 0 && std::isfinite(value))
        sum_ns_.fetch_add(static_cast<std::uint64_t>(std::llround(value * 1e9)), std::memory_order_relaxed);
}

prometheus::ClientMetric::Histogram AtomicHistogram::snapshot() const {
    prometheus::ClientMetric::Histogram h;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        prometheus::ClientMetric::Bucket b;
        b.cumulative_count = cumulative;
        b.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
        h.bucket.push_back(b);
    }
    h.sample_count = cumulative;
    h.sample_sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return h;
}

AtomicHistogram &HistogramFamily::add(std::map<std::string, std::string> labels, std::vector<double> bounds) {
    members_.emplace_back(std::move(labels), std::make_unique<AtomicHistogram>(std::move(bounds)));
    return *members_.back().second;
}

std::vector<prometheus::MetricFamily> HistogramFamily::Collect() const {
    prometheus::MetricFamily f;
    f.name = name_;
    f.help = help_;
    f.type = prometheus::MetricType::Histogram;
    for (const auto &[labels, h] : members_) {
        prometheus::ClientMetric m;
        for (const auto &[k, v] : labels) m.label.push_back({k, v});
        m.histogram = h->snapshot();
        f.metric.push_back(std::move(m));
    }
    return {f};
}

}  // namespace tally::daemon
