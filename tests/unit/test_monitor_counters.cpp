// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The overlay's monitor counters: which counter an outcome moves, and the
// attribute table the schema and tallyctl share.
#include "monitor_counters.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace tally;

TEST_CASE("monitor counters: a charge counts by its verdict, other modes by their mode", "[unit][monitor]") {
    CHECK(counter_of(Mode::charge, Verdict::accepted) == MonitorCounter::charges_accepted);
    CHECK(counter_of(Mode::charge, Verdict::refused) == MonitorCounter::charges_refused);
    CHECK(counter_of(Mode::charge, Verdict::duplicate) == MonitorCounter::charges_duplicate);
    CHECK(counter_of(Mode::count, Verdict::accepted) == MonitorCounter::counts);
    CHECK(counter_of(Mode::count, Verdict::duplicate) == MonitorCounter::charges_duplicate);
    // a check reports a refusal without being one
    CHECK(counter_of(Mode::check, Verdict::refused) == MonitorCounter::checks);
    CHECK(counter_of(Mode::check, Verdict::accepted) == MonitorCounter::checks);
    CHECK(counter_of(Mode::cancel, Verdict::accepted) == MonitorCounter::cancels);
}

TEST_CASE("monitor counters: errors by class", "[unit][monitor]") {
    CHECK(counter_of(ErrorClass::bad_request) == MonitorCounter::errors_bad_request);
    CHECK(counter_of(ErrorClass::not_authorized) == MonitorCounter::errors_not_authorized);
    CHECK(counter_of(ErrorClass::write_failed) == MonitorCounter::errors_write_failed);
    CHECK(counter_of(ErrorClass::other) == MonitorCounter::errors_other);
}

TEST_CASE("monitor counters: one attribute per counter, in order, with distinct names and OIDs", "[unit][monitor]") {
    std::set<std::string> names;
    std::set<int> oids;
    for (std::size_t i = 0; i < kMonitorCounters; ++i) {
        const MonitorAttribute &m = monitor_attributes()[i];
        CHECK(static_cast<std::size_t>(m.counter) == i);
        CHECK(std::string(m.name).rfind("tallyMon", 0) == 0);
        // the schema string quotes the description: no quote inside it
        CHECK(std::string(m.description).find('\'') == std::string::npos);
        names.insert(m.name);
        oids.insert(m.oid);
    }
    CHECK(names.size() == kMonitorCounters);
    CHECK(oids.size() == kMonitorCounters);
}

TEST_CASE("monitor counters: add and get, each counter on its own", "[unit][monitor]") {
    MonitorCounters c;
    c.add(MonitorCounter::commits);
    c.add(MonitorCounter::committed_writes, 7);
    CHECK(c.get(MonitorCounter::commits) == 1);
    CHECK(c.get(MonitorCounter::committed_writes) == 7);
    CHECK(c.get(MonitorCounter::charges_accepted) == 0);
}
