// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* recipients.h - which recipients count, and which count as external
 *
 * DESCRIPTION
 *   A message's recipients are classified at its end, once, by both doors:
 *     exempt    on an exemption list (tallyExemptRecipient values): not
 *               counted at all; a message whose recipients are all exempt
 *               is not charged
 *     external  the domain is not hosted: counted in recipients and in
 *               externalRecipients
 *     internal  counted in recipients only
 *   Exemption values (parse_exemption) take three forms, matched exactly,
 *   ignoring case, never as patterns:
 *     user@domain   that address (a +detail of it too, with detail_delimiter)
 *     domain        every address of that domain (not its subdomains)
 *     local@        that local part at every hosted domain (postmaster@)
 *   Anything else (wildcards, spaces, filter metacharacters, a second @,
 *   an empty label) is refused with the reason; the caller logs and skips it.
 *
 *   Hosted domains come from the directory (HostedDomainsCache below keeps
 *   the last good set for a bounded time when a refresh fails); a domain is
 *   hosted when it is in the set exactly: subdomains are not implied.
 *
 *   When the door does not know every recipient (the policy protocol's
 *   END-OF-MESSAGE gives only recipient_count, and the RCPT requests of the
 *   message were not all seen), classify_message errs on the side of the
 *   brake: no recipient is exempt, and those not seen count as external.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tally::engine {

/* Exemptions - parsed tallyExemptRecipient values, lowercase */
struct Exemptions {
    std::set<std::string> addresses;    // user@domain
    std::set<std::string> domains;      // domain
    std::set<std::string> local_parts;  // local@ (at a hosted domain)
    bool empty() const { return addresses.empty() && domains.empty() && local_parts.empty(); }
};

/* valid_domain - LDH labels separated by dots, 1..253 characters */
bool valid_domain(std::string_view d);

/* parse_exemption - add one value to out; the reason it was refused, or nullopt */
std::optional<std::string> parse_exemption(std::string_view value, Exemptions &out);

using HostedDomains = std::set<std::string>;  // lowercase

enum class RecipientClass { internal, external, exempt };

/* classify_recipient - one recipient address (envelope form, "<a@b>" or
 * "a@b"); *why says which exemption matched */
RecipientClass classify_recipient(std::string_view raw, const HostedDomains &hosted, const Exemptions &ex,
                                  std::string_view detail_delimiter, std::string *why = nullptr);

/* MessageRecipients - what a message's recipients come to */
struct MessageRecipients {
    unsigned counted = 0;   // recipients charged (exempt ones left out)
    unsigned external = 0;  // of counted, outside the hosted domains
    unsigned exempt = 0;    // left out
    std::string exempt_why;  // the first exemption that applied: "postmaster@example.com (address)"
    bool all_known = true;   // false: the door did not see every recipient
};

/* classify_message - total: the MTA's recipient count; seen: the addresses
 * the door saw (may be fewer, or more when the MTA refused some after
 * asking us). classify: false counts every recipient as internal and none
 * exempt (neither hosted domains nor exemptions are configured). */
MessageRecipients classify_message(unsigned total, const std::vector<std::string> &seen, bool classify,
                                   const HostedDomains &hosted, const Exemptions &ex,
                                   std::string_view detail_delimiter);

/* HostedDomainsCache - when the hosted set must be read again, and whether
 * the last good one may still be used. Times are seconds of the caller's
 * clock (steady). Not thread-safe: the caller locks. */
class HostedDomainsCache {
public:
    /* ttl: a set is fresh this long; stale_max: after a failed refresh the
     * last good set is still used until it is this old; retry: a failed
     * refresh is not tried again sooner than this */
    HostedDomainsCache(std::int64_t ttl, std::int64_t stale_max, std::int64_t retry = 10)
        : ttl_(ttl), stale_max_(stale_max), retry_(retry) {}
    /* needs_refresh - the set is missing or older than ttl, and no failure
     * was seen within retry */
    bool needs_refresh(std::int64_t now) const;
    void refreshed(HostedDomains set, std::int64_t now);
    void failed(std::int64_t now) { failed_at_ = now; }
    /* usable - the set to use now: fresh, or stale within stale_max; nullopt
     * when there is none (then the failure policy answers) */
    const HostedDomains *usable(std::int64_t now) const;
    std::int64_t age(std::int64_t now) const { return loaded_ ? now - read_at_ : -1; }

private:
    std::int64_t ttl_, stale_max_, retry_;
    bool loaded_ = false;
    HostedDomains set_;
    std::int64_t read_at_ = 0;
    std::optional<std::int64_t> failed_at_;
};

}  // namespace tally::engine
