// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* recipients.cpp - recipient classification, exemption values, the hosted-domain cache */
#include "recipients.h"

#include "address.h"

#include <algorithm>
#include <cctype>

namespace tally::engine {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

/* valid_local_part - printable ASCII without space, '@', quotes, or any
 * character that could read as a pattern or filter (* ? ( ) \ , ; < > [ ]) */
bool valid_local_part(std::string_view l) {
    if (l.empty() || l.size() > 64) return false;
    for (unsigned char c : l) {
        if (c <= ' ' || c >= 0x7f) return false;
        if (std::string_view("@\"*?()\\,;<>[]").find(static_cast<char>(c)) != std::string_view::npos) return false;
    }
    return true;
}

}  // namespace

bool valid_domain(std::string_view d) {
    if (d.empty() || d.size() > 253) return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i <= d.size(); ++i) {
        if (i == d.size() || d[i] == '.') {
            if (label == 0 || label > 63) return false;
            if (d[i - 1] == '-' || d[i - label] == '-') return false;
            label = 0;
            continue;
        }
        unsigned char c = static_cast<unsigned char>(d[i]);
        if (!std::isalnum(c) && c != '-') return false;
        ++label;
    }
    return true;
}

std::optional<std::string> parse_exemption(std::string_view value, Exemptions &out) {
    std::string_view v = value;
    if (v.empty()) return "empty value";
    if (v.size() > 320) return "longer than 320 characters";
    auto at = v.find('@');
    if (at == std::string_view::npos) {
        if (!valid_domain(v)) return "not an address (user@domain), a domain or local@";
        out.domains.insert(lower(v));
        return std::nullopt;
    }
    if (v.find('@', at + 1) != std::string_view::npos) return "more than one @";
    std::string_view local = v.substr(0, at), domain = v.substr(at + 1);
    if (!valid_local_part(local)) return "malformed local part";
    if (domain.empty()) {
        out.local_parts.insert(lower(local));
        return std::nullopt;
    }
    if (!valid_domain(domain)) return "malformed domain";
    out.addresses.insert(lower(v));
    return std::nullopt;
}

RecipientClass classify_recipient(std::string_view raw, const HostedDomains &hosted, const Exemptions &ex,
                                  std::string_view detail_delimiter, std::string *why) {
    auto parsed = parse_envelope_address(raw);
    // Not an address the MTA would deliver (or "<>"): counted, and as external,
    // since nothing shows it stays inside.
    if (!parsed || parsed->empty() || parsed->find('@') == std::string::npos) return RecipientClass::external;
    const std::string address = canonical_address(*parsed, detail_delimiter);
    const std::string domain = domain_of(address);
    const bool is_hosted = hosted.count(domain) > 0;
    if (!ex.empty()) {
        const std::string local = address.substr(0, address.rfind('@'));
        if (ex.addresses.count(address)) {
            if (why) *why = address + " (address)";
            return RecipientClass::exempt;
        }
        if (ex.domains.count(domain)) {
            if (why) *why = domain + " (domain)";
            return RecipientClass::exempt;
        }
        if (is_hosted && ex.local_parts.count(local)) {
            if (why) *why = local + "@ (at a hosted domain)";
            return RecipientClass::exempt;
        }
    }
    return is_hosted ? RecipientClass::internal : RecipientClass::external;
}

MessageRecipients classify_message(unsigned total, const std::vector<std::string> &seen, bool classify,
                                   const HostedDomains &hosted, const Exemptions &ex,
                                   std::string_view detail_delimiter) {
    MessageRecipients r;
    r.counted = total;
    if (!classify) return r;
    r.all_known = seen.size() == total;
    unsigned external = 0, exempt = 0;
    std::string first_why;
    for (const std::string &a : seen) {
        std::string why;
        switch (classify_recipient(a, hosted, ex, detail_delimiter, &why)) {
        case RecipientClass::external: ++external; break;
        case RecipientClass::exempt:
            ++exempt;
            if (first_why.empty()) first_why = why;
            break;
        case RecipientClass::internal: break;
        }
    }
    if (r.all_known) {
        r.exempt = exempt;
        r.exempt_why = first_why;
        r.counted = total - exempt;
        r.external = external;
        return r;
    }
    // Not every recipient is known: which of the seen ones the MTA kept is
    // unknown, so none is exempt, and any not seen counts as external.
    unsigned unseen = total > seen.size() ? total - static_cast<unsigned>(seen.size()) : 0;
    r.external = std::min(total, external + unseen);
    return r;
}

bool HostedDomainsCache::needs_refresh(std::int64_t now) const {
    if (failed_at_ && now - *failed_at_ < retry_) return false;
    return !loaded_ || now - read_at_ >= ttl_;
}

void HostedDomainsCache::refreshed(HostedDomains set, std::int64_t now) {
    set_ = std::move(set);
    read_at_ = now;
    loaded_ = true;
    failed_at_.reset();
}

const HostedDomains *HostedDomainsCache::usable(std::int64_t now) const {
    if (!loaded_) return nullptr;
    if (now - read_at_ < ttl_ || now - read_at_ < stale_max_) return &set_;
    return nullptr;
}

}  // namespace tally::engine
