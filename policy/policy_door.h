// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_door.h - a policy request answered by the decision flow, without sockets
 *
 * DESCRIPTION
 *   The protocol's part of Postfix's check_policy_service, and of Exim
 *   asking through ${readsocket}:
 *     RCPT            sender restrictions (deny lists, blocked accounts,
 *                     senders the login does not own, the unauthenticated
 *                     policy); nothing is charged
 *                     and the recipient remembered (SeenRecipients)
 *     END-OF-MESSAGE  restrictions again (cached) and the charge: size x
 *                     recipient_count, the queue id as charge id; the
 *                     remembered recipients say which are external or exempt
 *     anything else   DUNNO
 *   Decisions become actions: accept is DUNNO; a refusal is the reply
 *   itself ("550 5.7.1 daily limit ..."), which Postfix and Exim pass to
 *   the client as it is; a failure policy's tempfail is
 *   "DEFER_IF_PERMIT 4.7.1 ..." (Postfix defers only when the rest of its
 *   restrictions would accept). A request that lacks an attribute its
 *   state needs, or carries a malformed one, is deferred with a log line
 *   naming the attribute: it is the MTA's configuration that is wrong, and
 *   mail waits instead of passing uncounted.
 *
 *   Postfix cannot PREPEND a header at end of data (access(5)), so
 *   usage_header has no effect here; the usage is in the log line.
 */
#pragma once

#include "account_cache.h"
#include "alert.h"
#include "backend.h"
#include "config.h"
#include "policy_request.h"

#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tally::policy {

/* RefusedMessages - messages a restriction refused at RCPT, by Postfix's
 * instance attribute, so that their end of message is refused again and
 * never charged. Bounded: the oldest are forgotten first. */
class RefusedMessages {
public:
    explicit RefusedMessages(std::size_t capacity = 10000) : capacity_(capacity) {}
    /* add - false when the instance was known already (another recipient of
     * the same message was refused) or is empty */
    bool add(const std::string &instance, const std::string &action);
    std::optional<std::string> find(const std::string &instance);

private:
    std::mutex mutex_;
    std::size_t capacity_;
    std::deque<std::string> order_;
    std::map<std::string, std::string> actions_;
};

/* SeenRecipients - the recipients of messages in progress, by Postfix's
 * instance attribute: END-OF-MESSAGE gives only recipient_count, so the
 * addresses come from the message's RCPT requests (each passed our RCPT
 * check). take() hands them over once, at the end of the message. Bounded:
 * at most max_per_message addresses per message and max_total in all, the
 * oldest messages forgotten first; a message whose addresses were
 * forgotten, or never seen (no instance, the RCPT state not asked, a
 * restart in between), has its unseen recipients counted as external and
 * none exempt (recipients.h). */
class SeenRecipients {
public:
    explicit SeenRecipients(std::size_t max_total = 200000, std::size_t max_per_message = 1000)
        : max_total_(max_total), max_per_message_(max_per_message) {}
    void add(const std::string &instance, const std::string &recipient);
    std::vector<std::string> take(const std::string &instance);
    std::size_t total() const { return total_; }

private:
    std::mutex mutex_;
    std::size_t max_total_, max_per_message_, total_ = 0;
    std::deque<std::string> order_;
    std::map<std::string, std::vector<std::string>> by_instance_;
};

/* PolicyMemory - what the policy door remembers across the requests of a message */
struct PolicyMemory {
    RefusedMessages refused;
    SeenRecipients recipients;
};

struct PolicyAnswer {
    std::string action;  // what follows "action="
    enum class Log { none, debug, info, warn } log = Log::none;
    std::string log_line;
    std::optional<engine::LimitAlert> alert;  // the caller sends it
    /* outcome - set when this request settled a message, for the metrics:
     * every END-OF-MESSAGE (but one refused at RCPT already), the first
     * refused RCPT of a message (Postfix asks once per recipient), and a
     * malformed request (deferred, bad_request) */
    std::optional<engine::Outcome> outcome;
    bool end_of_message = false;  // an END-OF-MESSAGE request: its answer time is end-of-data time
};

/* action_of - the policy action for a decision */
std::string action_of(const engine::Decision &d);

/* answer - the answer to one whole request */
PolicyAnswer answer(const engine::Config &c, engine::Backend &b, engine::AccountCache &cache, PolicyMemory &memory,
                    const PolicyRequest &req);

}  // namespace tally::policy
