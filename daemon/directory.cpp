// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* directory.cpp - LDAP pool, account lookup, charge */
#include "directory.h"

#include "ldap_filter.h"
#include "ldap_ops.h"
#include "netmatch.h"

#include <cctype>
#include <cstring>
#include <stdexcept>
#include <strings.h>

namespace tally::daemon {

using client::transport_failure;

namespace {

/* connect_options - the service identity's connection, without a URI */
client::ConnectOptions connect_options(const engine::Config &c) {
    client::ConnectOptions o;
    o.bind_dn = c.ldap_bind_dn;
    o.sasl_external = c.ldap_sasl_external;
    o.start_tls = c.ldap_starttls;
    o.ca_file = c.ldap_ca_file;
    o.network_timeout_ms = c.ldap_connect_timeout_ms;
    o.operation_timeout_ms = c.ldap_timeout_ms;
    if (!c.ldap_password_file.empty()) o.password = client::read_password_file(c.ldap_password_file, nullptr).value_or("");
    return o;
}

}  // namespace

Directory::Directory(const engine::Config &c, Metrics *metrics)
    : cfg_(c), metrics_(metrics), hosted_(c.hosted_domain_ttl, c.hosted_domain_stale_max) {
    if (auto error = check_password_file(c)) throw std::runtime_error(*error);
    base_ = connect_options(c);
    // resolved once: counting on the mail path is then an atomic add
    if (metrics_)
        for (const auto &uri : cfg_.ldap_uri) server_metrics_.push_back(&metrics_->ldap_server(uri));
}

client::SearchResult Directory::search(Pooled &p, const std::string &base, const std::string &filter,
                                       std::vector<std::string> attrs, int sizelimit) {
    client::Search s;
    s.base = base;
    s.filter = filter;
    std::erase(attrs, std::string());
    s.attributes = attrs.empty() ? std::vector<std::string>{"1.1"} : std::move(attrs);
    s.size_limit = sizelimit;
    s.timeout_ms = cfg_.ldap_timeout_ms;
    client::SearchResult res = client::search(*p.conn, s);
    if (!server_metrics_.empty()) {
        Metrics::LdapServer *m = server_metrics_[p.uri_index];
        m->search->Increment();
        int rc = res.result.code;
        // no entry and too many entries are answers about the data, not failures of the server
        if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT && rc != LDAP_SIZELIMIT_EXCEEDED) m->search_errors->Increment();
    }
    return res;
}

Directory::~Directory() = default;

std::optional<std::string> check_password_file(const engine::Config &c) {
    if (c.ldap_password_file.empty()) return std::nullopt;
    std::string err;
    auto pw = client::read_password_file(c.ldap_password_file, &err);
    if (!pw) return err + " (ldap_password_file)";
    // An empty password makes a simple bind "unauthenticated" (RFC 4513
    // 5.1.2): slapd refuses it, and every message would wait for nothing.
    if (pw->empty()) return "password file " + c.ldap_password_file + " is empty (ldap_password_file)";
    return std::nullopt;
}

std::vector<std::string> check_binds(const engine::Config &c, bool *any_bound) {
    std::vector<std::string> out;
    *any_bound = false;
    client::ConnectOptions o = connect_options(c);
    const std::string who = c.ldap_sasl_external ? "SASL EXTERNAL"
                            : c.ldap_bind_dn.empty() ? "anonymous"
                                                     : "\"" + c.ldap_bind_dn + "\"";
    for (const auto &uri : c.ldap_uri) {
        o.uri = uri;
        std::string err;
        bool refused = false;
        if (client::Connection::open(o, &err, &refused)) {
            *any_bound = true;
            out.push_back(uri + ": bound as " + who);
        } else {
            out.push_back(uri + ": " + (refused ? "service identity refused: " : "unavailable: ") + err);
        }
    }
    return out;
}

std::unique_ptr<Directory::Pooled> Directory::acquire(std::string *error, DirStatus *failure) {
    *failure = DirStatus::unavailable;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.ldap_timeout_ms);
        while (idle_.empty() && open_ >= cfg_.ldap_pool_size) {
            if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
                open_ >= cfg_.ldap_pool_size) {
                *error = "all " + std::to_string(cfg_.ldap_pool_size) + " LDAP connections busy";
                if (metrics_) metrics_->ldap_unavailable(true);
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
        bool refused = false;
        auto conn = client::Connection::open(o, &err, &refused);
        // A server that answered but refused our identity is a configuration
        // error (password, bind DN, ACL), not an outage: said as such, unless
        // another server still serves.
        if (refused) *failure = DirStatus::refused;
        if (!conn && !server_metrics_.empty()) server_metrics_[i]->connect_errors->Increment();
        if (conn && i > 0 && metrics_) metrics_->ldap_failover();
        if (conn) {
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
    if (metrics_) metrics_->ldap_unavailable(false);
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
    auto filter = client::expand_filter(filter_tmpl, {login, "", ""});
    if (!filter) {
        r.error = "search filter \"" + filter_tmpl + "\" has an unknown %-sequence";
        return r;
    }
    std::vector<std::string> attrs = cfg_.sender_attributes;
    attrs.push_back(cfg_.blocked_attribute);
    attrs.push_back(cfg_.blocked_text_attribute);
    attrs.push_back(cfg_.status_attribute);
    client::SearchResult res = search(p, cfg_.search_base, *filter, attrs, 2);
    int rc = res.result.code;
    if (transport_failure(rc)) {
        transport_failed = true;
        r.status = DirStatus::unavailable;
        r.error = "account search: " + res.result.describe();
        return r;
    }
    if (rc == LDAP_SIZELIMIT_EXCEEDED || res.entries.size() > 1) {
        r.error = "login matches more than one entry with " + *filter;
        return r;
    }
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
        r.error = "account search: " + res.result.describe();
        return r;
    }
    if (res.entries.empty()) {
        r.status = DirStatus::not_found;
        return r;
    }
    const client::Entry &e = res.entries.front();
    r.account.dn = e.dn;
    for (const auto &a : cfg_.sender_attributes)
        for (const auto &v : e.values(a)) r.account.addresses.push_back(v);
    r.account.blocked = strcasecmp(e.first(cfg_.blocked_attribute).c_str(), "TRUE") == 0;
    r.account.blocked_text = e.first(cfg_.blocked_text_attribute);
    if (!cfg_.status_attribute.empty()) {
        const auto &status = e.values(cfg_.status_attribute);
        r.account.inactive = status.empty() || strcasecmp(status[0].c_str(), cfg_.status_active_value.c_str()) != 0;
    }
    if (aliases && !cfg_.alias_search_base.empty()) {
        auto afilter = client::expand_filter(cfg_.alias_search_filter, {login, r.account.dn, ""});
        if (!afilter) {
            r.error = "alias_search_filter has an unknown %-sequence";
            return r;
        }
        client::SearchResult ares = search(p, cfg_.alias_search_base, *afilter, {cfg_.alias_attribute}, 1000);
        if (transport_failure(ares.result.code)) {
            transport_failed = true;
            r.status = DirStatus::unavailable;
            r.error = "alias search: " + ares.result.describe();
            return r;
        }
        for (const auto &a : ares.entries)
            for (const auto &v : a.values(cfg_.alias_attribute)) r.account.addresses.push_back(v);
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
        DirStatus failure = DirStatus::unavailable;
        auto p = acquire(&err, &failure);
        if (!p) {
            r.status = failure;
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

engine::DenyListsResult Directory::deny_lists() {
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard<std::mutex> lock(deny_mutex_);
        if (deny_ && now - deny_read_ < std::chrono::seconds(cfg_.cache_ttl)) return {DirStatus::ok, *deny_, ""};
    }
    engine::DenyLists lists;
    LookupResult r = with_connection<LookupResult>([&](Pooled &p, bool &failed) {
        LookupResult out;
        client::SearchResult res =
            search(p, cfg_.deny_search_base, cfg_.deny_filter, {"tallyDenySenderDomain", "tallyDenyNetwork"}, 10000);
        int rc = res.result.code;
        failed = transport_failure(rc);
        if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
            out.status = failed ? DirStatus::unavailable : DirStatus::error;
            out.error = "deny list search: " + res.result.describe();
            return out;
        }
        for (const auto &e : res.entries) {
            for (const auto &v : e.values("tallyDenySenderDomain")) lists.sender_domains.push_back(v);
            for (const auto &v : e.values("tallyDenyNetwork")) lists.networks.push_back(v);
        }
        out.status = DirStatus::ok;
        return out;
    });
    if (r.status != DirStatus::ok) return {r.status, {}, r.error};
    std::lock_guard<std::mutex> lock(deny_mutex_);
    deny_ = lists;
    deny_read_ = now;
    return {DirStatus::ok, std::move(lists), ""};
}

namespace {
std::int64_t steady_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

engine::HostedDomainsResult Directory::hosted_domains() {
    const std::int64_t now = steady_seconds();
    {
        std::lock_guard<std::mutex> lock(hosted_mutex_);
        const bool refresh = hosted_.needs_refresh(now) && !hosted_refreshing_;
        if (!refresh) {
            if (hosted_.usable(now)) return {DirStatus::ok, hosted_set_, "", hosted_.age(now) >= cfg_.hosted_domain_ttl};
            if (!hosted_refreshing_)
                return {DirStatus::unavailable, nullptr,
                        "hosted domains could not be read and no earlier read is recent enough "
                        "(hosted_domain_stale_max)"};
            // another thread is reading the first set: read as well
        }
        hosted_refreshing_ = true;
    }
    auto set = std::make_shared<engine::HostedDomains>();
    std::vector<std::string> ignored;
    LookupResult r = with_connection<LookupResult>([&](Pooled &p, bool &failed) {
        LookupResult out;
        set->clear();
        ignored.clear();
        client::SearchResult res = search(p, cfg_.hosted_domain_search_base, cfg_.hosted_domain_filter,
                                          {cfg_.hosted_domain_attribute}, 100000);
        int rc = res.result.code;
        failed = transport_failure(rc);
        if (rc != LDAP_SUCCESS) {
            // noSuchObject too: a base that does not exist is a configuration
            // error, and an empty set would count every recipient as external.
            out.status = failed ? DirStatus::unavailable : DirStatus::error;
            out.error = "hosted domain search: " + res.result.describe();
            return out;
        }
        for (const auto &e : res.entries)
            for (std::string v : e.values(cfg_.hosted_domain_attribute)) {
                for (auto &ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                if (engine::valid_domain(v)) set->insert(v);
                else ignored.push_back(e.dn + ": " + v);
            }
        out.status = DirStatus::ok;
        return out;
    });
    std::lock_guard<std::mutex> lock(hosted_mutex_);
    hosted_refreshing_ = false;
    const std::int64_t done = steady_seconds();
    if (r.status != DirStatus::ok) {
        hosted_.failed(done);
        if (warn_) warn_("hosted domains not read (" + r.error + "); " +
                         (hosted_.usable(done) ? "the last set read " + std::to_string(hosted_.age(done)) +
                                                     " s ago stays in use"
                                               : std::string("no usable set: the failure policy answers")));
        if (hosted_.usable(done)) return {DirStatus::ok, hosted_set_, "", true};
        return {r.status, nullptr, r.error};
    }
    if (warn_)
        for (const auto &i : ignored) warn_("hosted domain value ignored, not a domain name: " + i);
    if (set->empty() && warn_)
        warn_("hosted domain search under \"" + cfg_.hosted_domain_search_base + "\" found no " +
              cfg_.hosted_domain_attribute + " values: every recipient counts as external");
    hosted_set_ = set;
    hosted_.refreshed(*set, done);
    return {DirStatus::ok, hosted_set_, ""};
}

engine::ExemptionsResult Directory::exemptions() {
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard<std::mutex> lock(exempt_mutex_);
        if (exempt_ && now - exempt_read_ < std::chrono::seconds(cfg_.cache_ttl)) return {DirStatus::ok, exempt_, ""};
    }
    auto ex = std::make_shared<engine::Exemptions>();
    std::vector<std::string> ignored;
    LookupResult r = with_connection<LookupResult>([&](Pooled &p, bool &failed) {
        LookupResult out;
        *ex = engine::Exemptions{};
        ignored.clear();
        client::SearchResult res =
            search(p, cfg_.exempt_search_base, cfg_.exempt_filter, {"tallyExemptRecipient"}, 10000);
        int rc = res.result.code;
        failed = transport_failure(rc);
        if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
            out.status = failed ? DirStatus::unavailable : DirStatus::error;
            out.error = "exemption list search: " + res.result.describe();
            return out;
        }
        for (const auto &e : res.entries)
            for (const auto &v : e.values("tallyExemptRecipient"))
                if (auto why = engine::parse_exemption(v, *ex)) ignored.push_back(e.dn + ": \"" + v + "\": " + *why);
        out.status = DirStatus::ok;
        return out;
    });
    if (r.status != DirStatus::ok) return {r.status, nullptr, r.error};
    // Named at every read (once per cache_ttl) until someone fixes the entry.
    if (warn_)
        for (const auto &i : ignored) warn_("exemption ignored, not an address, a domain or local@: " + i);
    std::lock_guard<std::mutex> lock(exempt_mutex_);
    exempt_ = ex;
    exempt_read_ = now;
    return {DirStatus::ok, exempt_, ""};
}

LookupResult Directory::relay_once(Pooled &p, const std::string &client, bool &transport_failed) {
    LookupResult r;
    transport_failed = false;
    auto filter = client::expand_filter(cfg_.relay_search_filter, {"", "", client});
    if (!filter) {
        r.error = "relay_search_filter has an unknown %-sequence";
        return r;
    }
    client::SearchResult res = search(p, cfg_.relay_search_base, *filter, {"1.1"}, 2);
    if (transport_failure(res.result.code)) {
        transport_failed = true;
        r.status = DirStatus::unavailable;
        r.error = "relay search: " + res.result.describe();
        return r;
    }
    if (res.result.ok() && !res.entries.empty()) {
        r.account.dn = res.entries.front().dn;
        r.status = DirStatus::ok;
        return r;
    }
    if (!cfg_.relay_network_filter.empty()) {
        // The most specific network holding the address.
        client::SearchResult nets = search(p, cfg_.relay_search_base, cfg_.relay_network_filter,
                                           {"ipNetworkNumber", "ipNetmaskNumber"}, 10000);
        if (transport_failure(nets.result.code)) {
            transport_failed = true;
            r.status = DirStatus::unavailable;
            r.error = "relay network search: " + nets.result.describe();
            return r;
        }
        int best = -1;
        for (const auto &n : nets.entries) {
            std::string number = n.first("ipNetworkNumber");
            if (number.empty()) continue;
            auto prefix = engine::prefix_match(client, number, n.first("ipNetmaskNumber"));
            if (prefix && *prefix > best) {
                best = *prefix;
                r.account.dn = n.dn;
            }
        }
    }
    r.status = r.account.dn.empty() ? DirStatus::not_found : DirStatus::ok;
    return r;
}

ChargeResult Directory::charge(const ChargeRequest &req) {
    bool sent_and_lost = false;
    ChargeResult result = with_connection<ChargeResult>([&](Pooled &p, bool &failed) {
        ChargeResult r;
        client::ChargeOutcome out = client::charge(*p.conn, req);
        failed = out.ldap.transport_error();
        if (!server_metrics_.empty()) {
            server_metrics_[p.uri_index]->charge->Increment();
            if (out.ldap.code != LDAP_SUCCESS) server_metrics_[p.uri_index]->charge_errors->Increment();
        }
        if (failed && out.ldap.code != LDAP_BUSY) sent_and_lost = true;
        if (out.ldap.code == LDAP_SUCCESS) {
            r.status = DirStatus::ok;
            r.response = std::move(out.response);
            return r;
        }
        r.status = failed ? DirStatus::unavailable : DirStatus::error;
        r.error = "charge: " + out.ldap.describe();
        return r;
    });
    // A pool that was busy or a server that could not be reached never got it.
    result.outcome_unknown = result.status != DirStatus::ok && sent_and_lost;
    return result;
}

}  // namespace tally::daemon
