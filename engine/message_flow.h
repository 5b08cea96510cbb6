// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_flow.h - one message from MAIL FROM to end of data, whatever the MTA's protocol
 *
 * DESCRIPTION
 *   Every front door feeds a MessageFlow the facts the MTA gives it
 *   (login, sender, client, recipients, bytes, queue id) and answers what
 *   it decides: the milter step by step (mail_from, add_recipient,
 *   add_bytes, end_of_data), the policy protocol in two requests
 *   (sender_check at RCPT, whole_message at end of message). Lookups,
 *   sender restrictions, deny lists, relay hosts, the charge with its
 *   failure policy, alerts and the log line live here once. The directory
 *   is reached through Backend, so all of it is unit-tested with a fake one.
 */
#pragma once

#include "account_cache.h"
#include "alert.h"
#include "backend.h"
#include "decision.h"
#include "recipients.h"

#include <optional>
#include <string>
#include <vector>

namespace tally::engine {

/* Logins longer than this match no account: no directory has them, and
 * they would only make hostile searches expensive. */
inline constexpr std::size_t kMaxLogin = 256;
/* Recipient addresses kept per message; beyond, recipients count but are
 * not classified (classify_message: as external, none exempt). Postfix's
 * smtpd_recipient_limit is 1000 by default. */
inline constexpr std::size_t kMaxSeenRecipients = 10000;

class MessageFlow {
public:
    MessageFlow(const Config &c, Backend &b, AccountCache &cache) : c_(c), b_(b), cache_(cache) {}

    /* mail_from - a new message; returns a decision when it is already
     * settled at MAIL FROM: unauthenticated mail that is not from a relay
     * host (the unauthenticated policy), and with stage = mail the sender
     * restrictions */
    std::optional<Decision> mail_from(const std::string &login, const std::string &raw_sender,
                                      const std::string &client);
    /* add_recipient - one accepted recipient (its address, for the hosted
     * and exemption checks; kept up to kMaxSeenRecipients) */
    void add_recipient(const std::string &address = {}) {
        ++m_.recipients;
        if (m_.seen.size() < kMaxSeenRecipients) m_.seen.push_back(address);
    }
    void add_bytes(std::uint64_t n) { m_.bytes += n; }

    /* end_of_data - sender restrictions (stage = eom) and the charge */
    Decision end_of_data(const std::string &queue_id);

    /* sender_check - the sender restrictions of a new message, and nothing
     * charged (the policy protocol's RCPT state): deny lists, the account,
     * ownership of the sender; for unauthenticated mail the unauthenticated
     * policy. Accept when they pass. */
    Decision sender_check(const std::string &login, const std::string &raw_sender, const std::string &client);

    /* whole_message - a message whose facts come at once (the policy
     * protocol's END-OF-MESSAGE state): restrictions, then the charge */
    struct Facts {
        std::string login, raw_sender, client, queue_id;
        unsigned recipients = 0;
        std::uint64_t bytes = 0;
        /* the recipient addresses seen at RCPT (may be fewer than
         * recipients when the door did not see them all) */
        std::vector<std::string> recipient_addresses;
    };
    Decision whole_message(const Facts &f);

    /* log_line - everything the administrator needs to know why */
    std::string log_line() const;
    const std::optional<ChargeResponse> &usage() const { return m_.usage; }
    /* outcome - what became of the message the last decision settled
     * (accepted, refused, deferred or uncounted, and the reason class), for
     * the daemon's metrics */
    Outcome outcome() const;
    /* alert - set when this message was the first of its period to hit a
     * limit of the account: the caller sends it (send_alert) */
    std::optional<LimitAlert> alert() const;

private:
    /* mail_from_facts - a fresh Message with the MAIL FROM facts */
    void mail_from_facts(const std::string &login, const std::string &raw_sender, const std::string &client);
    std::optional<Decision> restrictions();
    std::optional<Decision> find_account();
    std::optional<Decision> unauthenticated();
    std::optional<Decision> deny_lists();
    Decision charge();
    /* exemptions_and_recipients - a decision when the message is not
     * charged (exempt, or the hosted set is unavailable), else fills req's
     * recipients and external recipients */
    std::optional<Decision> classify(ChargeRequest &req);
    Decision finish(Decision d);
    /* directory_failure - the failure policy's answer to a failed lookup or charge */
    Decision directory_failure(DirStatus status, const std::string &error, FailAction other);

    const Config &c_;
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
        std::vector<std::string> seen;  // recipient addresses (add_recipient, Facts)
        std::optional<MessageRecipients> classified;
        std::string exemption;  // which exemption applied, for the log line
    };
    Message m_;
};

}  // namespace tally::engine
