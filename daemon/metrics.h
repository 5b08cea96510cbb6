// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* metrics.h - the daemon's Prometheus metrics, and the HTTP listener that serves them
 *
 * DESCRIPTION
 *   One Metrics per process, made before the first Runtime and given to
 *   each (daemon/runtime.h): a reload replaces the Runtime, its LDAP pool,
 *   cancel queue and cache, and the counts must go on, so what counts holds
 *   a pointer to this, never its own counters. Every series that can occur
 *   is created at startup, at zero, so that rate() and "> 0" alerts see it
 *   from the first scrape; counting is then an atomic add on a counter
 *   resolved in advance (no map lookup, no lock on the mail path; the
 *   histogram's observe holds its own short lock).
 *
 *   MetricsServer serves them (prometheus-cpp's Exposer: civetweb threads
 *   of its own, never the mail path's) on metrics_listen. Only GET /metrics
 *   answers; other paths get 404, other methods on /metrics 405, and
 *   requests civetweb cannot parse 400.
 */
#pragma once

#include "account_cache.h"
#include "atomic_histogram.h"
#include "decision.h"
#include "listen_address.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prometheus {
class Exposer;
}

namespace tally::daemon {

/* The front door a message came through. */
enum class Door { milter, policy };

/* End-of-data buckets in seconds: fine below the 5 ms budget (the alert
 * rule's histogram_quantile needs a bucket edge at 0.005), coarse above up
 * to ldap_timeout's range. */
inline const std::vector<double> kEndOfDataBuckets = {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                      0.05,    0.1,    0.25,  0.5,   1,     2.5,  5};

class Metrics : public engine::CacheObserver {
public:
    Metrics();

    /* registry, end_of_data_family - what the exposer serves; collect - all of it, for tests */
    const std::shared_ptr<prometheus::Registry> &registry() const { return registry_; }
    const std::shared_ptr<HistogramFamily> &end_of_data_family() const { return end_of_data_family_; }
    std::vector<prometheus::MetricFamily> collect() const;

    /* message - a message settled by a front door */
    void message(Door door, engine::Outcome o);
    /* end_of_data - seconds one message waited at end of data (milter) or
     * for its END-OF-MESSAGE answer (policy) */
    void end_of_data(Door door, double seconds);

    /* LdapServer - one ldap_uri's counters, resolved when a Directory is made */
    struct LdapServer {
        prometheus::Counter *search = nullptr, *charge = nullptr;                          // operations sent
        prometheus::Counter *search_errors = nullptr, *charge_errors = nullptr, *connect_errors = nullptr;
    };
    LdapServer &ldap_server(const std::string &uri);
    /* ldap_failover - a new connection went to a later ldap_uri: the earlier ones failed */
    void ldap_failover() { failovers_->Increment(); }
    /* ldap_unavailable - no connection at all: every server failed, or the pool stayed busy */
    void ldap_unavailable(bool pool_busy) { (pool_busy ? unavailable_busy_ : unavailable_down_)->Increment(); }

    void cache_lookup(bool hit) noexcept override { (hit ? cache_hits_ : cache_misses_)->Increment(); }

    /* alert - a notification ended: mail or command, sent or failed (not started counts as failed) */
    void alert(bool mail, bool sent);

    void cancel_queued() { cancels_queued_->Increment(); }
    void cancel_sent() { cancels_sent_->Increment(); }
    /* cancel_lost - a refused message may stay counted: the queue was full,
     * the cancel expired, the directory refused it, or the daemon stopped */
    enum class CancelLoss { queue_full, expired, failed, stopping };
    void cancel_lost(CancelLoss why);

    /* configuration_loaded - a configuration took effect (startup or reload) */
    void configuration_loaded();
    void reload(bool ok) { (ok ? reloads_ok_ : reloads_refused_)->Increment(); }

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter> *messages_;
    // [door][verdict][reason class]: the possible pairs, resolved at startup
    std::array<std::array<std::array<prometheus::Counter *, std::size(engine::kReasonClasses)>,
                          std::size(engine::kMessageVerdicts)>,
               2>
        message_counters_{};
    std::shared_ptr<HistogramFamily> end_of_data_family_;
    std::array<AtomicHistogram *, 2> end_of_data_{};
    prometheus::Family<prometheus::Counter> *ldap_operations_, *ldap_errors_;
    std::mutex servers_mutex_;  // ldap_server() runs when a Runtime is built, never per message
    std::vector<std::pair<std::string, std::unique_ptr<LdapServer>>> servers_;
    prometheus::Counter *failovers_, *unavailable_down_, *unavailable_busy_;
    prometheus::Counter *cache_hits_, *cache_misses_;
    std::array<std::array<prometheus::Counter *, 2>, 2> alerts_{};  // [mail][sent]
    prometheus::Counter *cancels_queued_, *cancels_sent_;
    std::array<prometheus::Counter *, 4> cancels_lost_{};
    prometheus::Counter *reloads_ok_, *reloads_refused_;
    prometheus::Gauge *loaded_at_;
};

/* can_listen - whether a TCP listener can bind address now (tried and
 * closed again): checked before the fork, where an error still reaches the
 * exit status */
bool can_listen(const engine::ListenAddress &address, std::string *error);

/* MetricsServer - the HTTP listener; binds in start() */
class MetricsServer {
public:
    explicit MetricsServer(std::shared_ptr<Metrics> metrics);
    ~MetricsServer();
    /* start - listen on address and serve from civetweb's own threads,
     * which block every signal (signals are the main thread's business);
     * false with *error when it cannot bind */
    bool start(const engine::ListenAddress &address, std::string *error);

private:
    std::shared_ptr<Metrics> metrics_;
    std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace tally::daemon
