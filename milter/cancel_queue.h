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
 *   background thread sends them, oldest first, once a second until the
 *   directory takes them; after the overlay's charge-id lifetime they are
 *   pointless and dropped. At most kMaxPendingCancels wait; more are
 *   dropped with an error line (a refused message that may be counted).
 */
#pragma once

#include "directory.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace tally::milter {

inline constexpr std::size_t kMaxPendingCancels = 10000;
inline constexpr std::chrono::seconds kCancelLifetime{600};  // the overlay's default tally-charge-id-ttl

class CancelQueue {
public:
    CancelQueue(Directory &d, std::shared_ptr<spdlog::logger> log);
    /* ~CancelQueue - stops the thread; cancels still waiting are logged as lost */
    ~CancelQueue();
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

    Directory &dir_;
    std::shared_ptr<spdlog::logger> log_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts after everything it uses
};

}  // namespace tally::milter
