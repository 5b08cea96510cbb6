// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* directory.cpp - LDAP pool, account lookup, charge */
#include "directory.h"

#include "ldap_filter.h"
#include "netmatch.h"

#include <cstring>
#include <stdexcept>
#include <strings.h>

namespace tally::milter {

namespace {

bool transport_failure(int rc) {
    return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE ||
           rc == LDAP_BUSY || rc == LDAP_LOCAL_ERROR;
}

std::vector<std::string> values_of(LDAP *ld, LDAPMessage *e, const std::string &attr) {
    std::vector<std::string> out;
    if (attr.empty()) return out;
    struct berval **v = ldap_get_values_len(ld, e, attr.c_str());
    for (int i = 0; v && v[i]; ++i) out.emplace_back(v[i]->bv_val, v[i]->bv_len);
    if (v) ldap_value_free_len(v);
    return out;
}

std::string dn_of(LDAP *ld, LDAPMessage *e) {
    char *dn = ldap_get_dn(ld, e);
    std::string out = dn ? dn : "";
    if (dn) ldap_memfree(dn);
    return out;
}

struct MsgFree {
    void operator()(LDAPMessage *m) const {
        if (m) ldap_msgfree(m);
    }
};
using MsgPtr = std::unique_ptr<LDAPMessage, MsgFree>;

/* search - a subtree search; rc as libldap returns it */
int search(client::Connection &c, const std::string &base, const std::string &filter,
           const std::vector<std::string> &attrs, int sizelimit, int timeout_ms, MsgPtr &res) {
    std::vector<char *> a;
    for (const auto &s : attrs)
        if (!s.empty()) a.push_back(const_cast<char *>(s.c_str()));
    a.push_back(nullptr);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    LDAPMessage *m = nullptr;
    int rc = ldap_search_ext_s(c.handle(), base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), a.data(), 0, nullptr,
                               nullptr, &tv, sizelimit, &m);
    res.reset(m);
    return rc;
}

}  // namespace

Directory::Directory(const MilterConfig &c) : cfg_(c) {
    base_.bind_dn = c.ldap_bind_dn;
    base_.sasl_external = c.ldap_sasl_external;
    base_.start_tls = c.ldap_starttls;
    base_.ca_file = c.ldap_ca_file;
    base_.network_timeout_ms = c.ldap_connect_timeout_ms;
    base_.operation_timeout_ms = c.ldap_timeout_ms;
    if (!c.ldap_password_file.empty()) {
        std::string err;
        auto pw = client::read_password_file(c.ldap_password_file, &err);
        if (!pw) throw std::runtime_error(err);
        base_.password = *pw;
    }
}

Directory::~Directory() = default;

std::unique_ptr<Directory::Pooled> Directory::acquire(std::string *error) {
    {
        std::unique_lock<std::mutex> lock(mutex_);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.ldap_timeout_ms);
        while (idle_.empty() && open_ >= cfg_.ldap_pool_size) {
            if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
                open_ >= cfg_.ldap_pool_size) {
                *error = "all " + std::to_string(cfg_.ldap_pool_size) + " LDAP connections busy";
                return nullptr;
            }
        }
        if (!idle_.empty()) {
            auto p = std::move(idle_.back());
            idle_.pop_back();
            return p;
        }
        ++open_;
    }
    std::string errors;
    for (std::size_t i = 0; i < cfg_.ldap_uri.size(); ++i) {
        client::ConnectOptions o = base_;
        o.uri = cfg_.ldap_uri[i];
        std::string err;
        if (auto conn = client::Connection::open(o, &err)) {
            auto p = std::make_unique<Pooled>();
            p->conn = std::move(conn);
            p->uri_index = i;
            p->opened = std::chrono::steady_clock::now();
            return p;
        }
        errors += (errors.empty() ? "" : "; ") + err;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    --open_;
    freed_.notify_one();
    *error = errors;
    return nullptr;
}

void Directory::release(std::unique_ptr<Pooled> p, bool broken) {
    std::vector<std::unique_ptr<Pooled>> dropped;  // unbound at return, outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    bool retire = p->uri_index > 0 &&
                  std::chrono::steady_clock::now() - p->opened > std::chrono::seconds(cfg_.ldap_failback);
    if (broken) {
        // A transport failure mostly means the server restarted or hangs: the
        // idle connections are as dead, and the retry must not pick one of
        // them (after a quick restart with no mail meanwhile, every pooled
        // connection is dead, and each message would fail twice).
        open_ -= static_cast<int>(idle_.size());
        dropped.swap(idle_);
    }
    if (broken || retire) {
        --open_;
        dropped.push_back(std::move(p));
    } else {
        idle_.push_back(std::move(p));
    }
    freed_.notify_all();
}

LookupResult Directory::account_once(Pooled &p, const std::string &filter_tmpl, const std::string &login,
                                     bool aliases, bool &transport_failed) {
    LookupResult r;
    transport_failed = false;
    auto filter = expand_filter(filter_tmpl, {login, "", ""});
    if (!filter) {
        r.error = "search filter \"" + filter_tmpl + "\" has an unknown %-sequence";
        return r;
    }
    std::vector<std::string> attrs = cfg_.sender_attributes;
    attrs.push_back(cfg_.blocked_attribute);
    attrs.push_back(cfg_.blocked_text_attribute);
    attrs.push_back(cfg_.status_attribute);
    MsgPtr res;
    int rc = search(*p.conn, cfg_.search_base, *filter, attrs, 2, cfg_.ldap_timeout_ms, res);
    LDAP *ld = p.conn->handle();
    if (transport_failure(rc)) {
        transport_failed = true;
        r.status = DirStatus::unavailable;
        r.error = std::string("account search: ") + ldap_err2string(rc);
        return r;
    }
    int count = res ? ldap_count_entries(ld, res.get()) : 0;
    if (rc == LDAP_SIZELIMIT_EXCEEDED || count > 1) {
        r.error = "login matches more than one entry with " + *filter;
        return r;
    }
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
        r.error = std::string("account search: ") + ldap_err2string(rc);
        return r;
    }
    LDAPMessage *e = count == 1 ? ldap_first_entry(ld, res.get()) : nullptr;
    if (!e) {
        r.status = DirStatus::not_found;
        return r;
    }
    r.account.dn = dn_of(ld, e);
    for (const auto &a : cfg_.sender_attributes)
        for (auto &v : values_of(ld, e, a)) r.account.addresses.push_back(std::move(v));
    auto blocked = values_of(ld, e, cfg_.blocked_attribute);
    r.account.blocked = !blocked.empty() && strcasecmp(blocked[0].c_str(), "TRUE") == 0;
    auto text = values_of(ld, e, cfg_.blocked_text_attribute);
    if (!text.empty()) r.account.blocked_text = text[0];
    if (!cfg_.status_attribute.empty()) {
        auto status = values_of(ld, e, cfg_.status_attribute);
        r.account.inactive = status.empty() || strcasecmp(status[0].c_str(), cfg_.status_active_value.c_str()) != 0;
    }
    if (aliases && !cfg_.alias_search_base.empty()) {
        auto afilter = expand_filter(cfg_.alias_search_filter, {login, r.account.dn, ""});
        if (!afilter) {
            r.error = "alias_search_filter has an unknown %-sequence";
            return r;
        }
        MsgPtr ares;
        rc = search(*p.conn, cfg_.alias_search_base, *afilter, {cfg_.alias_attribute}, 1000, cfg_.ldap_timeout_ms,
                    ares);
        if (transport_failure(rc)) {
            transport_failed = true;
            r.status = DirStatus::unavailable;
            r.error = std::string("alias search: ") + ldap_err2string(rc);
            return r;
        }
        for (LDAPMessage *a = ares ? ldap_first_entry(ld, ares.get()) : nullptr; a; a = ldap_next_entry(ld, a))
            for (auto &v : values_of(ld, a, cfg_.alias_attribute)) r.account.addresses.push_back(std::move(v));
    }
    r.status = DirStatus::ok;
    return r;
}

template <typename Result, typename Op>
Result Directory::with_connection(Op op) {
    Result r;
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::string err;
        auto p = acquire(&err);
        if (!p) {
            r.status = DirStatus::unavailable;
            r.error = err;
            return r;
        }
        bool transport_failed = false;
        r = op(*p, transport_failed);
        release(std::move(p), transport_failed);
        if (!transport_failed) return r;
        // A connection that broke at once (slapd restarted) is worth one more
        // try on a fresh one; a hung server already used the time budget, and
        // the message must be answered within ldap_timeout.
        if (std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(cfg_.ldap_timeout_ms / 2)) return r;
    }
    return r;
}

LookupResult Directory::find_account(const std::string &login) {
    return with_connection<LookupResult>([&](Pooled &p, bool &failed) {
        return account_once(p, cfg_.search_filter, login, true, failed);
    });
}

LookupResult Directory::find_sender(const std::string &address) {
    return with_connection<LookupResult>([&](Pooled &p, bool &failed) {
        return account_once(p, cfg_.sender_search_filter, address, false, failed);
    });
}

LookupResult Directory::find_relay(const std::string &client) {
    return with_connection<LookupResult>([&](Pooled &p, bool &failed) { return relay_once(p, client, failed); });
}

std::optional<DenyLists> Directory::deny_lists(std::string *error) {
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard<std::mutex> lock(deny_mutex_);
        if (deny_ && now - deny_read_ < std::chrono::seconds(cfg_.cache_ttl)) return deny_;
    }
    DenyLists lists;
    LookupResult r = with_connection<LookupResult>([&](Pooled &p, bool &failed) {
        LookupResult out;
        MsgPtr res;
        int rc = search(*p.conn, cfg_.deny_search_base, cfg_.deny_filter, {"tallyDenySenderDomain", "tallyDenyNetwork"},
                        10000, cfg_.ldap_timeout_ms, res);
        failed = transport_failure(rc);
        if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
            out.status = failed ? DirStatus::unavailable : DirStatus::error;
            out.error = std::string("deny list search: ") + ldap_err2string(rc);
            return out;
        }
        LDAP *ld = p.conn->handle();
        for (LDAPMessage *e = res ? ldap_first_entry(ld, res.get()) : nullptr; e; e = ldap_next_entry(ld, e)) {
            for (auto &v : values_of(ld, e, "tallyDenySenderDomain")) lists.sender_domains.push_back(std::move(v));
            for (auto &v : values_of(ld, e, "tallyDenyNetwork")) lists.networks.push_back(std::move(v));
        }
        out.status = DirStatus::ok;
        return out;
    });
    if (r.status != DirStatus::ok) {
        *error = r.error;
        return std::nullopt;
    }
    std::lock_guard<std::mutex> lock(deny_mutex_);
    deny_ = lists;
    deny_read_ = now;
    return deny_;
}

LookupResult Directory::relay_once(Pooled &p, const std::string &client, bool &transport_failed) {
    LookupResult r;
    transport_failed = false;
    LDAP *ld = p.conn->handle();
    auto filter = expand_filter(cfg_.relay_search_filter, {"", "", client});
    if (!filter) {
        r.error = "relay_search_filter has an unknown %-sequence";
        return r;
    }
    MsgPtr res;
    int rc = search(*p.conn, cfg_.relay_search_base, *filter, {"1.1"}, 2, cfg_.ldap_timeout_ms, res);
    if (transport_failure(rc)) {
        transport_failed = true;
        r.status = DirStatus::unavailable;
        r.error = std::string("relay search: ") + ldap_err2string(rc);
        return r;
    }
    LDAPMessage *e = res && rc == LDAP_SUCCESS ? ldap_first_entry(ld, res.get()) : nullptr;
    if (!e && !cfg_.relay_network_filter.empty()) {
        // The most specific network holding the address.
        MsgPtr nets;
        rc = search(*p.conn, cfg_.relay_search_base, cfg_.relay_network_filter, {"ipNetworkNumber", "ipNetmaskNumber"},
                    10000, cfg_.ldap_timeout_ms, nets);
        if (transport_failure(rc)) {
            transport_failed = true;
            r.status = DirStatus::unavailable;
            r.error = std::string("relay network search: ") + ldap_err2string(rc);
            return r;
        }
        int best = -1;
        for (LDAPMessage *n = nets ? ldap_first_entry(ld, nets.get()) : nullptr; n; n = ldap_next_entry(ld, n)) {
            auto number = values_of(ld, n, "ipNetworkNumber");
            auto mask = values_of(ld, n, "ipNetmaskNumber");
            if (number.empty()) continue;
            auto prefix = prefix_match(client, number[0], mask.empty() ? "" : mask[0]);
            if (prefix && *prefix > best) {
                best = *prefix;
                e = n;
            }
        }
        if (e) res = std::move(nets);
    }
    if (!e) {
        r.status = DirStatus::not_found;
        return r;
    }
    r.account.dn = dn_of(ld, e);
    r.status = DirStatus::ok;
    return r;
}

ChargeResult Directory::charge(const ChargeRequest &req) {
    bool sent_and_lost = false;
    ChargeResult result = with_connection<ChargeResult>([&](Pooled &p, bool &failed) {
        ChargeResult r;
        client::ChargeOutcome out = client::charge(*p.conn, req);
        failed = out.ldap.transport_error() || transport_failure(out.ldap.code);
        if (failed && out.ldap.code != LDAP_BUSY) sent_and_lost = true;
        if (out.ldap.code == LDAP_SUCCESS) {
            r.status = DirStatus::ok;
            r.response = std::move(out.response);
            return r;
        }
        r.status = failed ? DirStatus::unavailable : DirStatus::error;
        r.error = std::string("charge: ") + ldap_err2string(out.ldap.code) + (out.ldap.text.empty() ? "" : ": ") +
                  out.ldap.text;
        return r;
    });
    // A pool that was busy or a server that could not be reached never got it.
    result.outcome_unknown = result.status != DirStatus::ok && sent_and_lost;
    return result;
}

}  // namespace tally::milter
