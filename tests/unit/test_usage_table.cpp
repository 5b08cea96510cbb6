// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyctl's usage table.
#include "usage_table.h"

#include <catch2/catch.hpp>

using namespace tally;

TEST_CASE("usage table shows used, limit and what is left", "[tallyctl]") {
    ChargeResponse r;
    WindowReport w;
    w.window = "day";
    w.period = "2026-11-22";
    w.usage[Metric::messages] = 7;
    w.usage[Metric::recipients] = 12;
    w.limits = {10, 10, std::nullopt, std::nullopt};
    r.windows.push_back(w);
    std::string t = format_usage_table("uid=a", r);
    CHECK_THAT(t, Catch::Contains("account: uid=a"));
    CHECK_THAT(t, Catch::Matches("(.|\\n)*day +2026-11-22 +messages +7 +10 +3\\n(.|\\n)*"));
    CHECK_THAT(t, Catch::Matches("(.|\\n)*recipients +12 +10 +0\\n(.|\\n)*"));  // over: 0 left
    CHECK_THAT(t, Catch::Matches("(.|\\n)*bytes +0 +unlimited +-\\n(.|\\n)*"));
}
