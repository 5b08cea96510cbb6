// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* pending_writes.cpp - decided counter writes not yet committed (see the header) */
#include "pending_writes.h"

namespace tally {

PendingWrites::Handle PendingWrites::latest(const std::string &account) const {
    std::lock_guard<std::mutex> g(mutex_);
    auto it = latest_.find(account);
    return it == latest_.end() ? nullptr : it->second;
}

PendingWrites::Ticket PendingWrites::add(const std::string &account, StoredState after) {
    auto w = std::make_shared<Write>(std::move(after));
    {
        std::lock_guard<std::mutex> g(mutex_);
        latest_[account] = w;
    }
    return Ticket(*this, account, std::move(w));
}

void PendingWrites::settle(const std::string &account, const Handle &w, bool written) {
    {
        std::lock_guard<std::mutex> g(mutex_);
        w->settled = true;
        w->written = written;
        // Only the newest goes: a later write decided on this one is still
        // pending (and, if this one failed, will fail in turn).
        auto it = latest_.find(account);
        if (it != latest_.end() && it->second == w) latest_.erase(it);
    }
    settled_.notify_all();
}

bool PendingWrites::wait(const Handle &w) {
    std::unique_lock<std::mutex> g(mutex_);
    settled_.wait(g, [&] { return w->settled; });
    return w->written;
}

std::size_t PendingWrites::size() const {
    std::lock_guard<std::mutex> g(mutex_);
    return latest_.size();
}

}  // namespace tally
