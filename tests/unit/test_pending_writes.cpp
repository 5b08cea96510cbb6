// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Pending writes: what the next charge of an account decides on while the
// previous one's group commit is still running.
#include "pending_writes.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace tally;

namespace {

StoredState with_usage(std::uint64_t messages) {
    StoredState s;
    CounterValue c;
    c.window = "day";
    c.period = "2026-12-02";
    c.usage[Metric::messages] = messages;
    s.usage.push_back(c);
    return s;
}

}  // namespace

TEST_CASE("the next charge decides on the newest pending state of its account", "[pending]") {
    PendingWrites p;
    CHECK_FALSE(p.latest("uid=a"));
    auto first = p.add("uid=a", with_usage(1));
    REQUIRE(p.latest("uid=a"));
    CHECK(p.latest("uid=a")->after == with_usage(1));
    CHECK_FALSE(p.latest("uid=b"));  // other accounts are not affected
    auto second = p.add("uid=a", with_usage(2));
    CHECK(p.latest("uid=a")->after == with_usage(2));

    // The older one committing does not hide the newer one, still pending.
    first.settle(true);
    REQUIRE(p.latest("uid=a"));
    CHECK(p.latest("uid=a")->after == with_usage(2));
    second.settle(true);
    CHECK_FALSE(p.latest("uid=a"));  // the entry holds it now
    CHECK(p.size() == 0);
    second.settle(false);  // a second settle changes nothing
    CHECK(p.size() == 0);
}

TEST_CASE("a pending write never settled counts as failed and is forgotten", "[pending]") {
    PendingWrites p;
    PendingWrites::Handle h;
    {
        auto t = p.add("uid=a", with_usage(1));
        h = p.latest("uid=a");
    }  // e.g. an exception between queuing and the commit
    REQUIRE(h);
    CHECK(h->settled);
    CHECK_FALSE(h->written);
    CHECK_FALSE(p.latest("uid=a"));
    CHECK_FALSE(p.wait(h));
}

TEST_CASE("waiting for a pending write answers whether it was committed", "[pending]") {
    for (bool committed : {true, false}) {
        PendingWrites p;
        auto t = p.add("uid=a", with_usage(1));
        auto basis = p.latest("uid=a");
        std::atomic<int> answer{-1};
        std::thread waiter([&] { answer = p.wait(basis) ? 1 : 0; });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(answer == -1);  // still waiting: the commit is not known yet
        t.settle(committed);
        waiter.join();
        CHECK(answer == (committed ? 1 : 0));
        CHECK(p.size() == 0);
    }
}
