// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_flow.h - one message from MAIL FROM to end of data, without libmilter
 *
 * DESCRIPTION
 *   The milter callbacks feed a MessageFlow the facts Postfix gives them
 *   (login, sender, accepted recipients, bytes, queue id) and return what
 *   it decides. The directory is reached through Backend, so the whole
 *   flow (lookups, sender restrictions, charge, failure policy, the log
 *   line) is unit-tested with a fake one.
 */
#pragma once

#include "account_cache.h"
#include "alert.h"
#include "cancel_queue.h"
#include "directory.h"
#include "policy.h"

#include <optional>
#include <string>

namespace tally::milter {

class Backend {
public:
    virtual ~Backend() = default;
    virtual LookupResult find_account(const std::string &login) = 0;
    virtual LookupResult find_sender(const std::string &address) = 0;
    virtual LookupResult find_relay(const std::string &client) = 0;
    virtual ChargeResult charge(const ChargeRequest &req) = 0;
    virtual std::optional<DenyLists> deny_lists(std::string *error) = 0;
    /* cancel_later - a charge whose outcome is unknown (its answer was lost)
     * for a message that is being refused: make sure it never counts */
    virtual void cancel_later(const ChargeRequest &req) = 0;
};

/* DirectoryBackend - the real one */
class DirectoryBackend : public Backend {
public:
    DirectoryBackend(Directory &d, CancelQueue &cancels) : d_(d), cancels_(cancels) {}
    LookupResult find_account(const std::string &login) override { return d_.find_account(login); }
    LookupResult find_sender(const std::string &address) override { return d_.find_sender(address); }
    LookupResult find_relay(const std::string &client) override { return d_.find_relay(client); }
    ChargeResult charge(const ChargeRequest &req) override { return d_.charge(req); }
    std::optional<DenyLists> deny_lists(std::string *error) override { return d_.deny_lists(error); }
    void cancel_later(const ChargeRequest &req) override { cancels_.add(req); }

private:
    Directory &d_;
    CancelQueue &cancels_;
};

/* Logins longer than this match no account: no directory has them, and
 * they would only make hostile searches expensive. */
inline constexpr std::size_t kMaxLogin = 256;

class MessageFlow {
public:
    MessageFlow(const MilterConfig &c, Backend &b, AccountCache &cache) : c_(c), b_(b), cache_(cache) {}

    /* mail_from - a new message; returns a decision when it is already
     * settled at MAIL FROM: unauthenticated mail that is not from a relay
     * host (the unauthenticated policy), and with stage = mail the sender
     * restrictions */
    std::optional<Decision> mail_from(const std::string &login, const std::string &raw_sender,
                                      const std::string &client);
    void add_recipient() { ++m_.recipients; }
    void add_bytes(std::uint64_t n) { m_.bytes += n; }

    /* end_of_data - sender restrictions (stage = eom) and the charge */
    Decision end_of_data(const std::string &queue_id);

    /* log_line - everything the administrator needs to know why */
    std::string log_line() const;
    const std::optional<ChargeResponse> &usage() const { return m_.usage; }
    /* alert - set when this message was the first of its period to hit a
     * limit of the account: the caller sends it (send_alert) */
    std::optional<LimitAlert> alert() const;

private:
    std::optional<Decision> restrictions();
    std::optional<Decision> find_account();
    std::optional<Decision> unauthenticated();
    std::optional<Decision> deny_lists();
    Decision charge();
    Decision finish(Decision d);

    const MilterConfig &c_;
    Backend &b_;
    AccountCache &cache_;
    /* Message - everything about the current message; mail_from starts a
     * fresh one, so nothing of a message leaks into the next on the same
     * connection */
    struct Message {
        std::string login, sender, raw_sender, client, queue_id;
        bool sender_ok = true;
        unsigned recipients = 0;
        std::uint64_t bytes = 0;
        std::optional<Account> account;
        std::optional<ChargeResponse> usage;
        Decision decision;
        bool uncounted = false;
        bool cancel_pending = false;  // its charge's outcome is unknown: cancelled in the background
        bool relay = false;           // an unauthenticated relay host, charged by client address
    };
    Message m_;
};

}  // namespace tally::milter
