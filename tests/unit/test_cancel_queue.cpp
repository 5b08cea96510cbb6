// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// The cancel queue against a fake sender: cancels are sent in mode cancel,
// retried while the directory is down, and given up after their lifetime.
#include "cancel_queue.h"

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <mutex>
#include <sstream>
#include <thread>

using namespace tally;
using namespace tally::daemon;

namespace {

struct Sender {
    std::mutex mutex;
    std::vector<ChargeRequest> sent;
    int failures_left = 0;  // answers "unavailable" this many times first
    engine::ChargeResult operator()(const ChargeRequest &r) {
        std::lock_guard<std::mutex> lock(mutex);
        sent.push_back(r);
        if (failures_left > 0) {
            --failures_left;
            return {engine::DirStatus::unavailable, {}, "Can't contact LDAP server"};
        }
        return {engine::DirStatus::ok, {}, ""};
    }
    std::size_t count() {
        std::lock_guard<std::mutex> lock(mutex);
        return sent.size();
    }
};

/* wait_until - polls cond for up to 5 s (the queue's own thread does the work) */
template <typename F>
bool wait_until(F cond) {
    for (int i = 0; i < 500 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return cond();
}

ChargeRequest lost_charge(const std::string &qid) {
    ChargeRequest r;
    r.account = "uid=alice,dc=x";
    r.charge_id = qid;
    r.messages = 1;
    return r;
}

}  // namespace

TEST_CASE("a lost charge is cancelled once the directory answers", "[cancel]") {
    std::ostringstream out;
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    Sender sender;
    sender.failures_left = 2;
    {
        CancelQueue q([&](const ChargeRequest &r) { return sender(r); }, std::chrono::seconds(600), log,
                      std::chrono::milliseconds(10));
        q.add(lost_charge("Q1"));
        q.add(lost_charge(""));  // no charge id: nothing to cancel it by
        CHECK(wait_until([&] { return q.pending() == 0; }));
    }
    REQUIRE(sender.count() == 3);  // two failures, then taken
    for (const auto &r : sender.sent) {
        CHECK(r.mode == Mode::cancel);
        CHECK(r.charge_id == "Q1");
    }
    CHECK_THAT(out.str(), Catch::Contains("qid=Q1 charge cancelled"));
}

TEST_CASE("a cancel older than the charge-id lifetime is given up, with an error line", "[cancel]") {
    std::ostringstream out;
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    Sender sender;
    {
        // lifetime 0 s: by the first retry the overlay would take it for a new charge id
        CancelQueue q([&](const ChargeRequest &r) { return sender(r); }, std::chrono::seconds(0), log,
                      std::chrono::milliseconds(10));
        q.add(lost_charge("Q2"));
        CHECK(wait_until([&] { return q.pending() == 0; }));
    }
    CHECK(sender.count() == 0);
    CHECK_THAT(out.str(), Catch::Contains("qid=Q2 cancel given up after 0 s"));
}

TEST_CASE("cancels still waiting at shutdown are named in the log", "[cancel]") {
    std::ostringstream out;
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    Sender sender;
    sender.failures_left = 1000000;
    {
        CancelQueue q([&](const ChargeRequest &r) { return sender(r); }, std::chrono::seconds(600), log,
                      std::chrono::milliseconds(10));
        q.add(lost_charge("Q3"));
        CHECK(wait_until([&] { return sender.count() >= 2; }));  // retried while down
    }
    CHECK_THAT(out.str(), Catch::Contains("qid=Q3 cancel not sent (stopping)"));
}

TEST_CASE("a stopped queue stays usable: a cancel added after stop() is logged as lost, never sent",
          "[cancel]") {
    std::ostringstream out;
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    Sender sender;
    sender.failures_left = 1000000;
    CancelQueue q([&](const ChargeRequest &r) { return sender(r); }, std::chrono::seconds(600), log,
                  std::chrono::milliseconds(10));
    q.add(lost_charge("Q4"));
    q.stop();
    CHECK_THAT(out.str(), Catch::Contains("qid=Q4 cancel not sent (stopping)"));
    const std::size_t sent = sender.count();
    q.add(lost_charge("Q5"));  // a milter thread still finishing, after the stop
    CHECK_THAT(out.str(), Catch::Contains("qid=Q5 cancel not sent (stopping)"));
    CHECK(q.pending() == 0);
    q.stop();  // twice is harmless
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(sender.count() == sent);
}
