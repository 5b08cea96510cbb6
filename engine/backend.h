// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* backend.h - what the decision flow needs from the directory, and what it gets back
 *
 * DESCRIPTION
 *   The flow (message_flow.h) reaches the directory only through Backend,
 *   so it is unit-tested with a fake one; the daemon's Directory (an LDAP
 *   pool, daemon/directory.h) is the real one. The result types say what
 *   kind of failure happened, because each class has its own failure
 *   policy (Config::on_*).
 */
#pragma once

#include "decision.h"
#include "exop.h"
#include "recipients.h"

#include <memory>

#include <optional>
#include <string>

namespace tally::engine {

enum class DirStatus {
    ok,
    not_found,
    unavailable,  // no server answered, or the answer was lost
    refused,      // a server answered but refused the service identity's bind
    error         // any other LDAP error
};

/* failure_class - how a failed status is named in log lines */
inline const char *failure_class(DirStatus s) {
    switch (s) {
    case DirStatus::unavailable: return "directory unavailable";
    case DirStatus::refused: return "service identity refused";
    case DirStatus::error: return "directory error";
    case DirStatus::ok:
    case DirStatus::not_found: break;
    }
    return "";
}

struct LookupResult {
    DirStatus status = DirStatus::error;
    Account account;
    std::string error;
};

struct ChargeResult {
    DirStatus status = DirStatus::error;
    ChargeResponse response;
    std::string error;
    bool outcome_unknown = false;  // sent, but the answer was lost: slapd may have counted it
};

struct DenyListsResult {
    DirStatus status = DirStatus::error;
    DenyLists lists;
    std::string error;
};

/* The hosted domains and the exemptions, shared: a message reads them
 * without copying, a refresh replaces them whole. */
struct HostedDomainsResult {
    DirStatus status = DirStatus::error;
    std::shared_ptr<const HostedDomains> domains;
    std::string error;
    bool stale = false;  // the last good set, kept while the directory fails
};

struct ExemptionsResult {
    DirStatus status = DirStatus::error;
    std::shared_ptr<const Exemptions> exemptions;
    std::string error;
};

class Backend {
public:
    virtual ~Backend() = default;
    /* find_account - the account of a SASL login (search_filter, aliases) */
    virtual LookupResult find_account(const std::string &login) = 0;
    /* find_sender - the account of an envelope sender (sender_search_filter) */
    virtual LookupResult find_sender(const std::string &address) = 0;
    /* find_relay - the relay-host entry of a client address: an exact entry,
     * else the most specific network entry containing it */
    virtual LookupResult find_relay(const std::string &client) = 0;
    virtual ChargeResult charge(const ChargeRequest &req) = 0;
    /* deny_lists - the deny lists (cached by the implementation) */
    virtual DenyListsResult deny_lists() = 0;
    /* hosted_domains - hosted_domain_search_base's set (cached, see
     * HostedDomainsCache); only asked when that is configured */
    virtual HostedDomainsResult hosted_domains() = 0;
    /* exemptions - the tallyExemptRecipient values under exempt_search_base
     * (cached like the deny lists); only asked when that is configured */
    virtual ExemptionsResult exemptions() = 0;
    /* cancel_later - a charge whose outcome is unknown (its answer was lost)
     * for a message that is being refused: make sure it never counts */
    virtual void cancel_later(const ChargeRequest &req) = 0;
};

}  // namespace tally::engine
