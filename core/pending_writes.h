// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* pending_writes.h - decided counter writes not yet committed
 *
 * DESCRIPTION
 *   With group commit a charge's write waits for the fsync of a shared
 *   transaction (~1-3 ms). Holding the account's lock that long made the
 *   next charge of the same account (and of every account sharing its lock
 *   stripe) wait for the whole commit: with 16 charges in flight over 64
 *   stripes about one in five did, and those waits made the p99. Instead
 *   the decided state is recorded here and
 *   the lock is released once the write is queued; the next charge of the
 *   account decides on that state and queues its own write behind it
 *   (transactions commit in queue order).
 *
 *   Exactness holds because nothing is answered before what it was
 *   decided on is committed:
 *   - a charge that writes is answered after its own commit, which comes
 *     after the commit of the state it was decided on; and its write
 *     deletes that state's exact values, so if that state never reached
 *     the entry the write fails (noSuchAttribute) instead of counting on
 *     a state that does not exist;
 *   - a charge that writes nothing (refused, or already counted) waits for
 *     the state it was decided on to settle, and decides again if that
 *     write failed.
 *
 *   Pure logic (standard threads only) so that it is unit-tested without slapd.
 */
#pragma once

#include "charge.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tally {

class PendingWrites {
public:
    /* Write - one decided state of an account, immutable once added */
    struct Write {
        explicit Write(StoredState s) : after(std::move(s)) {}
        const StoredState after;
        bool settled = false;  // guarded by the owner's mutex
        bool written = false;
    };
    using Handle = std::shared_ptr<Write>;

    /* Ticket - one's own pending write: settle() when its commit is known;
     * one never settled (an exception on the way) counts as failed */
    class Ticket {
    public:
        Ticket(PendingWrites &owner, std::string account, Handle w)
            : owner_(&owner), account_(std::move(account)), w_(std::move(w)) {}
        ~Ticket() {
            if (w_) owner_->settle(account_, w_, false);
        }
        Ticket(const Ticket &) = delete;
        Ticket &operator=(const Ticket &) = delete;
        void settle(bool written) {
            if (!w_) return;  // settled already
            owner_->settle(account_, w_, written);
            w_.reset();
        }

    private:
        PendingWrites *owner_;
        std::string account_;
        Handle w_;
    };

    /* latest - the account's newest write not yet settled; null: none */
    Handle latest(const std::string &account) const;
    /* add - after becomes the account's newest pending state. Call with the
     * account's lock held, before releasing it. */
    Ticket add(const std::string &account, StoredState after);
    /* wait - block until w is settled: whether it was written */
    bool wait(const Handle &w);
    /* size - accounts with a pending write (tests, diagnostics) */
    std::size_t size() const;

private:
    void settle(const std::string &account, const Handle &w, bool written);

    mutable std::mutex mutex_;
    std::condition_variable settled_;
    std::unordered_map<std::string, Handle> latest_;
};

}  // namespace tally
