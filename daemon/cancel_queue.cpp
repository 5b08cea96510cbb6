// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* cancel_queue.cpp - the background sender of charge cancels */
#include "cancel_queue.h"

#include <csignal>
#include <pthread.h>

namespace tally::daemon {

CancelQueue::CancelQueue(SendFn send, std::chrono::seconds lifetime, std::shared_ptr<spdlog::logger> log,
                         std::chrono::milliseconds retry, Metrics *metrics)
    : send_(std::move(send)), lifetime_(lifetime), retry_(retry), log_(std::move(log)), metrics_(metrics),
      thread_([this] { run(); }) {}

CancelQueue::~CancelQueue() { stop(); }

void CancelQueue::stop() {
    std::deque<Pending> lost;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) return;
        stopped_ = stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        lost.swap(queue_);
    }
    for (const Pending &p : lost) report_lost(p.request);
}

void CancelQueue::report_lost(const ChargeRequest &request) {
    if (metrics_) metrics_->cancel_lost(Metrics::CancelLoss::stopping);
    log_->error("qid={} cancel not sent (stopping): the refused message may stay counted on \"{}\"",
                request.charge_id, request.account);
}

void CancelQueue::add(const ChargeRequest &charge) {
    if (charge.charge_id.empty()) return;  // nothing to name it by
    ChargeRequest cancel = charge;
    cancel.mode = Mode::cancel;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (stopped_) {
            lock.unlock();
            report_lost(cancel);
            return;
        }
        if (queue_.size() >= kMaxPendingCancels) {
            if (metrics_) metrics_->cancel_lost(Metrics::CancelLoss::queue_full);
            log_->error("qid={} cancel dropped: {} cancels already waiting; the refused message may be counted",
                        charge.charge_id, kMaxPendingCancels);
            return;
        }
        queue_.push_back({cancel, std::chrono::steady_clock::now()});
    }
    if (metrics_) metrics_->cancel_queued();
    wake_.notify_all();
}

std::deque<CancelQueue::Pending> CancelQueue::take_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::deque<Pending> out;
    out.swap(queue_);
    return out;
}

void CancelQueue::adopt(std::deque<Pending> items) {
    if (items.empty()) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto &p : items) {
            if (queue_.size() < kMaxPendingCancels) queue_.push_back(std::move(p));
            else if (metrics_) metrics_->cancel_lost(Metrics::CancelLoss::queue_full);
        }
    }
    wake_.notify_all();
}

std::size_t CancelQueue::pending() {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size();
}

void CancelQueue::run() {
    // Signals are the main thread's business (SIGUSR1 reloads, SIGTERM
    // stops); this thread may start before it blocks them.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        // Give the directory a moment: the charge that failed just now failed for a reason.
        wake_.wait_for(lock, retry_, [&] { return stopping_; });
        while (!stopping_ && !queue_.empty()) {
            Pending p = queue_.front();
            if (std::chrono::steady_clock::now() - p.since > lifetime_) {
                // The overlay forgets the charge id after its tally-charge-id-ttl:
                // a cancel sent later would be taken for a new charge id.
                queue_.pop_front();
                if (metrics_) metrics_->cancel_lost(Metrics::CancelLoss::expired);
                log_->error("qid={} cancel given up after {} s: the refused message may be counted on \"{}\"",
                            p.request.charge_id, lifetime_.count(), p.request.account);
                continue;
            }
            lock.unlock();
            engine::ChargeResult r = send_(p.request);
            lock.lock();
            // still down, or our identity refused: try again after retry_
            if (r.status == engine::DirStatus::unavailable || r.status == engine::DirStatus::refused) break;
            queue_.pop_front();
            if (r.status == engine::DirStatus::ok) {
                if (metrics_) metrics_->cancel_sent();
                log_->info("qid={} charge cancelled on \"{}\" (its answer was lost; the message was refused)",
                           p.request.charge_id, p.request.account);
            } else {
                if (metrics_) metrics_->cancel_lost(Metrics::CancelLoss::failed);
                log_->error("qid={} cancel failed: {}", p.request.charge_id, r.error);
            }
        }
    }
}

}  // namespace tally::daemon
