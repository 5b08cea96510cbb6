// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* fake_backend.h - a Backend that answers what a test sets, and records what it was asked */
#pragma once

#include "backend.h"

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
    ChargeResult charge(const ChargeRequest &r) override {
        charges.push_back(r);
        return result;
    }
    std::vector<ChargeRequest> cancels;
    void cancel_later(const ChargeRequest &r) override { cancels.push_back(r); }
};


}  // namespace tally::engine
