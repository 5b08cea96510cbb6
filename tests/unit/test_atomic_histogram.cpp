// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyd's lock-free end-of-data histogram: buckets, sum and count as
// Prometheus reads them, also with many threads observing at once.
#include "atomic_histogram.h"

#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <thread>
#include <vector>

using namespace tally::daemon;

TEST_CASE("atomic histogram: cumulative buckets by upper bound (le), +Inf, sum and count", "[metrics]") {
    AtomicHistogram h({0.001, 0.005, 0.1});
    for (double v : {0.0005, 0.001, 0.003, 0.2, 7.0}) h.observe(v);
    auto s = h.snapshot();
    REQUIRE(s.bucket.size() == 4);
    CHECK(s.bucket[0].cumulative_count == 2);  // 0.0005 and 0.001 (le is inclusive)
    CHECK(s.bucket[1].cumulative_count == 3);
    CHECK(s.bucket[2].cumulative_count == 3);
    CHECK(s.bucket[3].cumulative_count == 5);
    CHECK(std::isinf(s.bucket[3].upper_bound));
    CHECK(s.sample_count == 5);
    CHECK(s.sample_sum == Approx(7.2045));
}

TEST_CASE("atomic histogram: every observe of many threads is counted", "[metrics]") {
    AtomicHistogram h({0.001});
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) h.observe(i % 2 ? 0.0001 : 0.01);
        });
    for (auto &t : threads) t.join();
    auto s = h.snapshot();
    CHECK(s.sample_count == 80000);
    CHECK(s.bucket[0].cumulative_count == 40000);
    CHECK(s.sample_sum == Approx(40000 * 0.0101));
}

TEST_CASE("atomic histogram: the family serializes as one Prometheus histogram per label set", "[metrics]") {
    HistogramFamily f("tally_test_seconds", "A test");
    f.add({{"door", "milter"}}, {0.005}).observe(0.002);
    f.add({{"door", "policy"}}, {0.005});
    std::string text = prometheus::TextSerializer().Serialize(f.Collect());
    CHECK_THAT(text, Catch::Contains("# TYPE tally_test_seconds histogram"));
    CHECK_THAT(text, Catch::Contains("tally_test_seconds_bucket{door=\"milter\",le=\"0.005\"} 1"));
    CHECK_THAT(text, Catch::Contains("tally_test_seconds_bucket{door=\"milter\",le=\"+Inf\"} 1"));
    CHECK_THAT(text, Catch::Contains("tally_test_seconds_count{door=\"policy\"} 0"));
}
