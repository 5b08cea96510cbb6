// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* fake_backend.h - a Backend that answers what a test sets, and records what it was asked */
#pragma once

#include "account_cache.h"
#include "backend.h"
#include "config.h"

#include <chrono>

#include <string>
#include <vector>

namespace tally::engine {

class FakeBackend : public Backend {
public:
    LookupResult lookup{DirStatus::ok, {}, ""};
    ChargeResult result{DirStatus::ok, {}, ""};
    int lookups = 0;
    std::vector<ChargeRequest> charges;

    LookupResult find_account(const std::string &) override {
        ++lookups;
        return lookup;
    }
    LookupResult sender_lookup{DirStatus::not_found, {}, ""};
    LookupResult relay_lookup{DirStatus::not_found, {}, ""};
    LookupResult find_sender(const std::string &) override { return sender_lookup; }
    LookupResult find_relay(const std::string &) override {
        ++relay_lookups;
        return relay_lookup;
    }
    int relay_lookups = 0;
    std::optional<DenyLists> lists = DenyLists{};  // nullopt: the directory is down
    DenyListsResult deny_lists() override {
        if (!lists) return {DirStatus::unavailable, {}, "Can't contact LDAP server"};
        return {DirStatus::ok, *lists, ""};
    }
    std::optional<HostedDomains> hosted = HostedDomains{};  // nullopt: the directory is down
    int hosted_reads = 0;
    HostedDomainsResult hosted_domains() override {
        ++hosted_reads;
        if (!hosted) return {DirStatus::unavailable, nullptr, "Can't contact LDAP server"};
        return {DirStatus::ok, std::make_shared<const HostedDomains>(*hosted), ""};
    }
    std::optional<Exemptions> exempt = Exemptions{};  // nullopt: the directory is down
    ExemptionsResult exemptions() override {
        if (!exempt) return {DirStatus::unavailable, nullptr, "Can't contact LDAP server"};
        return {DirStatus::ok, std::make_shared<const Exemptions>(*exempt), ""};
    }
    ChargeResult charge(const ChargeRequest &r) override {
        charges.push_back(r);
        return result;
    }
    std::vector<ChargeRequest> cancels;
    void cancel_later(const ChargeRequest &r) override { cancels.push_back(r); }
};


/* FlowFixture - a configuration, the fake directory holding alice
 * (alice@example.com) whose charges report day 3/500 messages, and a cache */
struct FlowFixture {
    Config cfg;
    FakeBackend backend;
    AccountCache cache{100, std::chrono::seconds(60)};
    FlowFixture() {
        cfg.search_base = "dc=x";
        backend.lookup.account.dn = "uid=alice,dc=x";
        backend.lookup.account.addresses = {"alice@example.com"};
        WindowReport w;
        w.window = "day";
        w.period = "2026-11-22";
        w.usage[Metric::messages] = 3;
        w.limits[0] = 500;
        backend.result.response.windows.push_back(w);
    }
};

}  // namespace tally::engine
