// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* ldap_ops.h - search, modify and add with results that own their memory
 *
 * DESCRIPTION
 *   Every part of Tally that reads or writes entries (the daemon's lookups,
 *   tallyctl, the tests and benchmarks) goes through these, so libldap's
 *   message and value lists are freed in one place and "the server is
 *   gone" is defined once (transport_failure). A search copies what it
 *   returns into plain values: Tally's searches return few, small entries.
 */
#pragma once

#include "ldap_client.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tally::client {

/* Entry - one search result entry; attribute names compare case-insensitively */
struct Entry {
    std::string dn;
    std::vector<std::pair<std::string, std::vector<std::string>>> attributes;
    /* values - the values of attr (none when absent) */
    const std::vector<std::string> &values(const std::string &attr) const;
    /* first - the first value of attr, or "" */
    std::string first(const std::string &attr) const;
};

struct Search {
    std::string base;
    int scope = LDAP_SCOPE_SUBTREE;
    std::string filter = "(objectClass=*)";
    std::vector<std::string> attributes;  // empty: all user attributes; {"1.1"}: none
    int size_limit = 0;                   // 0: the server's
    int timeout_ms = 0;                   // 0: the connection's operation timeout; < 0: none
};

struct SearchResult {
    LdapResult result;           // LDAP_SIZELIMIT_EXCEEDED keeps the entries that came
    std::vector<Entry> entries;
};

SearchResult search(Connection &c, const Search &s);

/* read_values - attr of the entry dn (a base search); empty when it has none
 * or cannot be read */
std::vector<std::string> read_values(Connection &c, const std::string &dn, const std::string &attr);

/* Modification - one change of a modify: op is LDAP_MOD_ADD, _DELETE, _REPLACE or _INCREMENT */
struct Modification {
    int op = LDAP_MOD_REPLACE;
    std::string attribute;
    std::vector<std::string> values;
};

struct WriteOptions {
    bool relax = false;  // the Relax Rules control (RFC 4525 draft): write NO-USER-MODIFICATION attributes
};

LdapResult modify(Connection &c, const std::string &dn, const std::vector<Modification> &mods,
                  const WriteOptions &o = {});
LdapResult add(Connection &c, const std::string &dn,
               const std::vector<std::pair<std::string, std::vector<std::string>>> &attributes);
LdapResult remove(Connection &c, const std::string &dn);

}  // namespace tally::client
