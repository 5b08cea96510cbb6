// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* cancel_queue.h - cancels of charges whose answer was lost, sent in the background
 *
 * DESCRIPTION
 *   When a charge times out or its connection breaks, the milter cannot
 *   know whether slapd counted it, and its failure policy refuses the
 *   message (451). A hung slapd may still run that charge once it
 *   continues. So the charge is cancelled (the extended operation's mode
 *   cancel, same charge id): taken back if it was counted, remembered so
 *   it never counts if it arrives later. The cancels wait here and a
 *   background thread sends them, oldest first, every retry interval (a
 *   second) until the directory takes them; after the overlay's charge-id
 *   lifetime (charge_id_ttl, the overlay's tally-charge-id-ttl) they are
 *   pointless and dropped. At most kMaxPendingCancels wait; more are
 *   dropped with an error line (a refused message that may be counted).
 */
#pragma once

#include "backend.h"
#include "metrics.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace tally::daemon {

inline constexpr std::size_t kMaxPendingCancels = 10000;

class CancelQueue {
public:
    /* SendFn - sends one cancel (a charge in mode cancel): Directory::charge */
    using SendFn = std::function<engine::ChargeResult(const ChargeRequest &)>;
    /* metrics (may be null) outlives the queue: cancels queued, sent and lost are counted there */
    CancelQueue(SendFn send, std::chrono::seconds lifetime, std::shared_ptr<spdlog::logger> log,
                std::chrono::milliseconds retry = std::chrono::seconds(1), Metrics *metrics = nullptr);
    /* ~CancelQueue - stop() */
    ~CancelQueue();
    /* stop - end the sending thread; cancels still waiting, and any added
     * from now on, are logged (and counted) as lost. The queue stays usable,
     * so a thread still holding it (libmilter's, at exit) never touches
     * freed memory. */
    void stop();
    CancelQueue(const CancelQueue &) = delete;
    CancelQueue &operator=(const CancelQueue &) = delete;

    /* add - cancel this charge (by its charge id) as soon as the directory answers */
    void add(const ChargeRequest &charge);
    std::size_t pending();

    struct Pending {
        ChargeRequest request;  // mode cancel
        std::chrono::steady_clock::time_point since;
    };
    /* take_all, adopt - hand the waiting cancels to the queue of a reloaded configuration */
    std::deque<Pending> take_all();
    void adopt(std::deque<Pending> items);

private:
    void run();
    void report_lost(const ChargeRequest &request);

    SendFn send_;
    std::chrono::seconds lifetime_;
    std::chrono::milliseconds retry_;
    std::shared_ptr<spdlog::logger> log_;
    Metrics *metrics_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    bool stopped_ = false;  // stop() has run
    std::thread thread_;  // last: starts after everything it uses
};

}  // namespace tally::daemon
