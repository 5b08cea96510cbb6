// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* ldap_ops.cpp - search, modify and add over libldap, results copied into values */
#include "ldap_ops.h"

#include <memory>
#include <strings.h>

namespace tally::client {

namespace {

struct MessageFree {
    void operator()(LDAPMessage *m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageFree>;

/* outcome - rc with the server's diagnostic message, if any */
LdapResult outcome(Connection &c, int rc) {
    LdapResult r;
    r.code = rc;
    char *msg = nullptr;
    ldap_get_option(c.handle(), LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
    if (msg) {
        r.text = msg;
        ldap_memfree(msg);
    }
    return r;
}

Entry entry_of(LDAP *ld, LDAPMessage *e) {
    Entry out;
    if (char *dn = ldap_get_dn(ld, e)) {
        out.dn = dn;
        ldap_memfree(dn);
    }
    BerElement *ber = nullptr;
    for (char *a = ldap_first_attribute(ld, e, &ber); a; a = ldap_next_attribute(ld, e, ber)) {
        std::vector<std::string> values;
        if (struct berval **v = ldap_get_values_len(ld, e, a)) {
            for (int i = 0; v[i]; ++i) values.emplace_back(v[i]->bv_val, v[i]->bv_len);
            ldap_value_free_len(v);
        }
        out.attributes.emplace_back(a, std::move(values));
        ldap_memfree(a);
    }
    if (ber) ber_free(ber, 0);
    return out;
}

/* ModList - the NULL-terminated LDAPMod array libldap wants, pointing into
 * mods (which must outlive it); values as bervals, so binary values pass */
class ModList {
public:
    explicit ModList(const std::vector<Modification> &mods) : values_(mods.size()), mods_(mods.size()) {
        for (std::size_t i = 0; i < mods.size(); ++i) {
            for (const auto &v : mods[i].values) bervals_.push_back({v.size(), const_cast<char *>(v.data())});
        }
        std::size_t next = 0;  // bervals_ no longer grows: pointers into it stay valid
        for (std::size_t i = 0; i < mods.size(); ++i) {
            for (std::size_t k = 0; k < mods[i].values.size(); ++k) values_[i].push_back(&bervals_[next++]);
            values_[i].push_back(nullptr);
            mods_[i].mod_op = mods[i].op | LDAP_MOD_BVALUES;
            mods_[i].mod_type = const_cast<char *>(mods[i].attribute.c_str());
            // a delete or replace without values means "all values"
            mods_[i].mod_bvalues = mods[i].values.empty() ? nullptr : values_[i].data();
            ptrs_.push_back(&mods_[i]);
        }
        ptrs_.push_back(nullptr);
    }
    LDAPMod **get() { return ptrs_.data(); }

private:
    std::vector<berval> bervals_;
    std::vector<std::vector<berval *>> values_;
    std::vector<LDAPMod> mods_;
    std::vector<LDAPMod *> ptrs_;
};

timeval timeout_of(int ms) { return {ms / 1000, (ms % 1000) * 1000}; }

}  // namespace

const std::vector<std::string> &Entry::values(const std::string &attr) const {
    static const std::vector<std::string> none;
    for (const auto &[name, v] : attributes)
        if (strcasecmp(name.c_str(), attr.c_str()) == 0) return v;
    return none;
}

std::string Entry::first(const std::string &attr) const {
    const auto &v = values(attr);
    return v.empty() ? std::string() : v.front();
}

SearchResult search(Connection &c, const Search &s) {
    SearchResult out;
    std::vector<char *> attrs;
    for (const auto &a : s.attributes)
        if (!a.empty()) attrs.push_back(const_cast<char *>(a.c_str()));
    attrs.push_back(nullptr);
    timeval tv = timeout_of(s.timeout_ms > 0 ? s.timeout_ms : c.operation_timeout_ms());
    LDAPMessage *raw = nullptr;
    int rc = ldap_search_ext_s(c.handle(), s.base.c_str(), s.scope, s.filter.c_str(),
                               s.attributes.empty() ? nullptr : attrs.data(), 0, nullptr, nullptr,
                               s.timeout_ms < 0 ? nullptr : &tv, s.size_limit, &raw);
    MessagePtr res(raw);
    out.result = outcome(c, rc);
    if (res)
        for (LDAPMessage *e = ldap_first_entry(c.handle(), res.get()); e; e = ldap_next_entry(c.handle(), e))
            out.entries.push_back(entry_of(c.handle(), e));
    return out;
}

std::vector<std::string> read_values(Connection &c, const std::string &dn, const std::string &attr) {
    Search s;
    s.base = dn;
    s.scope = LDAP_SCOPE_BASE;
    s.attributes = {attr};
    SearchResult r = search(c, s);
    if (!r.result.ok() || r.entries.empty()) return {};
    return r.entries.front().values(attr);
}

LdapResult modify(Connection &c, const std::string &dn, const std::vector<Modification> &mods,
                  const WriteOptions &o) {
    ModList list(mods);
    LDAPControl relax{};
    relax.ldctl_oid = const_cast<char *>(LDAP_CONTROL_RELAX);
    relax.ldctl_iscritical = 1;
    LDAPControl *controls[] = {&relax, nullptr};
    return outcome(c, ldap_modify_ext_s(c.handle(), dn.c_str(), list.get(), o.relax ? controls : nullptr, nullptr));
}

LdapResult add(Connection &c, const std::string &dn,
               const std::vector<std::pair<std::string, std::vector<std::string>>> &attributes) {
    std::vector<Modification> mods;
    for (const auto &[name, v] : attributes) mods.push_back({LDAP_MOD_ADD, name, v});
    ModList list(mods);
    return outcome(c, ldap_add_ext_s(c.handle(), dn.c_str(), list.get(), nullptr, nullptr));
}

LdapResult remove(Connection &c, const std::string &dn) {
    return outcome(c, ldap_delete_ext_s(c.handle(), dn.c_str(), nullptr, nullptr));
}

}  // namespace tally::client
