// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* metrics.cpp - the metric families, and GET /metrics through prometheus-cpp's Exposer */
#include "metrics.h"

#include <CivetServer.h>
#include <prometheus/exposer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cstring>

namespace tally::daemon {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

namespace {

const char *door_name(Door d) { return d == Door::milter ? "milter" : "policy"; }

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
    auto &r = *registry_;
    messages_ = &BuildCounter()
                     .Name("tally_messages_total")
                     .Help("Messages settled, by front door (milter, policy), verdict (accepted, refused, deferred, "
                           "uncounted: let through by a failure policy without a charge) and reason class")
                     .Register(r);
    for (Door door : {Door::milter, Door::policy})
        for (std::size_t v = 0; v < std::size(engine::kMessageVerdicts); ++v)
            for (std::size_t c = 0; c < std::size(engine::kReasonClasses); ++c)
                if (engine::possible_outcome(engine::kMessageVerdicts[v], engine::kReasonClasses[c]))
                    message_counters_[static_cast<int>(door)][v][c] =
                        &messages_->Add({{"door", door_name(door)},
                                         {"verdict", std::string(engine::verdict_name(engine::kMessageVerdicts[v]))},
                                         {"reason", std::string(engine::reason_class_name(engine::kReasonClasses[c]))}});

    // Observed for every message by every connection thread: buckets of
    // its own, without prometheus-cpp's lock per observe (atomic_histogram.h).
    end_of_data_family_ = std::make_shared<HistogramFamily>(
        "tally_end_of_data_seconds",
        "Time a message waited for Tally at end of data: the milter's end-of-message callback, "
        "the policy protocol's END-OF-MESSAGE answer");
    for (Door door : {Door::milter, Door::policy})
        end_of_data_[static_cast<int>(door)] = &end_of_data_family_->add({{"door", door_name(door)}}, kEndOfDataBuckets);

    ldap_operations_ = &BuildCounter()
                            .Name("tally_ldap_operations_total")
                            .Help("LDAP operations sent, by server (ldap_uri) and operation (search, charge)")
                            .Register(r);
    ldap_errors_ = &BuildCounter()
                        .Name("tally_ldap_errors_total")
                        .Help("LDAP failures by server and operation: connect (connection or bind failed), search "
                              "and charge (lost connection, timeout, or an error result)")
                        .Register(r);
    failovers_ = &BuildCounter()
                      .Name("tally_ldap_failovers_total")
                      .Help("New LDAP connections that went to a later ldap_uri because the earlier ones failed")
                      .Register(r)
                      .Add({});
    auto &unavailable = BuildCounter()
                            .Name("tally_ldap_unavailable_total")
                            .Help("Directory operations that got no connection: no server answered (no_server) or "
                                  "every pooled connection stayed busy for ldap_timeout (pool_busy)")
                            .Register(r);
    unavailable_down_ = &unavailable.Add({{"cause", "no_server"}});
    unavailable_busy_ = &unavailable.Add({{"cause", "pool_busy"}});

    auto &cache = BuildCounter()
                      .Name("tally_account_cache_lookups_total")
                      .Help("Account and relay-host cache lookups, by result (hit, miss: asked the directory)")
                      .Register(r);
    cache_hits_ = &cache.Add({{"result", "hit"}});
    cache_misses_ = &cache.Add({{"result", "miss"}});

    auto &alerts = BuildCounter()
                       .Name("tally_alerts_total")
                       .Help("Limit alerts by channel (mail, command) and result (sent, failed: exited non-zero, "
                             "killed, or not started)")
                       .Register(r);
    for (int mail = 0; mail < 2; ++mail)
        for (int sent = 0; sent < 2; ++sent)
            alerts_[mail][sent] = &alerts.Add({{"channel", mail ? "mail" : "command"}, {"result", sent ? "sent" : "failed"}});

    cancels_queued_ = &BuildCounter()
                           .Name("tally_cancels_queued_total")
                           .Help("Charges whose answer was lost, queued to be cancelled (their message was refused)")
                           .Register(r)
                           .Add({});
    cancels_sent_ = &BuildCounter()
                         .Name("tally_cancels_sent_total")
                         .Help("Queued cancels the directory took")
                         .Register(r)
                         .Add({});
    auto &lost = BuildCounter()
                     .Name("tally_cancels_lost_total")
                     .Help("Cancels never taken, so a refused message may stay counted: queue_full, expired "
                           "(charge_id_ttl passed), failed (the directory refused it), stopping (the daemon ended)")
                     .Register(r);
    const char *why[] = {"queue_full", "expired", "failed", "stopping"};
    for (int i = 0; i < 4; ++i) cancels_lost_[i] = &lost.Add({{"cause", why[i]}});

    auto &reloads = BuildCounter()
                        .Name("tally_reloads_total")
                        .Help("Configuration reloads (SIGUSR1) by result: ok, refused (errors; the old one keeps running)")
                        .Register(r);
    reloads_ok_ = &reloads.Add({{"result", "ok"}});
    reloads_refused_ = &reloads.Add({{"result", "refused"}});
    loaded_at_ = &BuildGauge()
                      .Name("tally_configuration_loaded_timestamp_seconds")
                      .Help("When the configuration in use was loaded (Unix time): at startup or the last successful "
                            "reload")
                      .Register(r)
                      .Add({});
}

void Metrics::message(Door door, engine::Outcome o) {
    std::size_t v = 0, c = 0;
    while (v < std::size(engine::kMessageVerdicts) && engine::kMessageVerdicts[v] != o.verdict) ++v;
    while (c < std::size(engine::kReasonClasses) && engine::kReasonClasses[c] != o.reason) ++c;
    if (v == std::size(engine::kMessageVerdicts) || c == std::size(engine::kReasonClasses)) return;
    prometheus::Counter *counter = message_counters_[static_cast<int>(door)][v][c];
    if (!counter)  // a pair possible_outcome() did not foresee: counted all the same (Family::Add locks)
        counter = &messages_->Add({{"door", door_name(door)},
                                   {"verdict", std::string(engine::verdict_name(o.verdict))},
                                   {"reason", std::string(engine::reason_class_name(o.reason))}});
    counter->Increment();
}

void Metrics::end_of_data(Door door, double seconds) { end_of_data_[static_cast<int>(door)]->observe(seconds); }

std::vector<prometheus::MetricFamily> Metrics::collect() const {
    std::vector<prometheus::MetricFamily> all = registry_->Collect();
    for (auto &f : end_of_data_family_->Collect()) all.push_back(std::move(f));
    return all;
}

Metrics::LdapServer &Metrics::ldap_server(const std::string &uri) {
    std::lock_guard<std::mutex> lock(servers_mutex_);
    for (auto &[name, s] : servers_)
        if (name == uri) return *s;
    auto s = std::make_unique<LdapServer>();
    s->search = &ldap_operations_->Add({{"server", uri}, {"operation", "search"}});
    s->charge = &ldap_operations_->Add({{"server", uri}, {"operation", "charge"}});
    s->search_errors = &ldap_errors_->Add({{"server", uri}, {"operation", "search"}});
    s->charge_errors = &ldap_errors_->Add({{"server", uri}, {"operation", "charge"}});
    s->connect_errors = &ldap_errors_->Add({{"server", uri}, {"operation", "connect"}});
    servers_.emplace_back(uri, std::move(s));
    return *servers_.back().second;
}

void Metrics::alert(bool mail, bool sent) { alerts_[mail ? 1 : 0][sent ? 1 : 0]->Increment(); }

void Metrics::cancel_lost(CancelLoss why) { cancels_lost_[static_cast<int>(why)]->Increment(); }

void Metrics::configuration_loaded() {
    loaded_at_->Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {

/* only_get_metrics - civetweb's begin_request: answers everything but GET
 * /metrics itself (prometheus-cpp would answer POST, and /metrics/anything,
 * as a scrape) */
int only_get_metrics(mg_connection *conn) {
    const mg_request_info *ri = mg_get_request_info(conn);
    const bool metrics = ri && ri->local_uri && std::strcmp(ri->local_uri, "/metrics") == 0;
    if (metrics && ri->request_method && std::strcmp(ri->request_method, "GET") == 0) return 0;
    const char *status = metrics ? "405 Method Not Allowed" : "404 Not Found";
    const char *body = metrics ? "only GET /metrics\n" : "not found: Tally serves GET /metrics only\n";
    mg_printf(conn,
              "HTTP/1.1 %s\r\n%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n%s",
              status, metrics ? "Allow: GET\r\n" : "", std::strlen(body), body);
    return metrics ? 405 : 404;
}

}  // namespace

bool can_listen(const engine::ListenAddress &address, std::string *error) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (address.host.find(':') != std::string::npos) {
        auto *a6 = reinterpret_cast<sockaddr_in6 *>(&ss);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(static_cast<std::uint16_t>(address.port));
        inet_pton(AF_INET6, address.host.c_str(), &a6->sin6_addr);
        len = sizeof *a6;
    } else {
        auto *a4 = reinterpret_cast<sockaddr_in *>(&ss);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<std::uint16_t>(address.port));
        inet_pton(AF_INET, address.host.c_str(), &a4->sin_addr);
        len = sizeof *a4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as civetweb does
    bool ok = bind(fd, reinterpret_cast<sockaddr *>(&ss), len) == 0 && listen(fd, 1) == 0;
    if (!ok) *error = "cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " + std::strerror(errno);
    close(fd);
    return ok;
}

MetricsServer::MetricsServer(std::shared_ptr<Metrics> metrics) : metrics_(std::move(metrics)) {}

MetricsServer::~MetricsServer() = default;

bool MetricsServer::start(const engine::ListenAddress &address, std::string *error) {
    const std::string port =
        (address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host) + ":" +
        std::to_string(address.port);
    // Two threads: scrapes are rare and short. A client that sends slowly
    // holds one for at most request_timeout_ms; the mail path never waits
    // for them (counting only touches atomics).
    std::vector<std::string> options = {"listening_ports", port,  "num_threads",        "2",
                                        "request_timeout_ms", "5000", "enable_keep_alive", "no"};
    static CivetCallbacks callbacks;  // civetweb keeps the pointer
    callbacks.begin_request = only_get_metrics;
    // Threads inherit the signal mask: civetweb's must never take SIGUSR1
    // (its default action ends the process) nor SIGTERM.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        exposer_ = std::make_unique<prometheus::Exposer>(options, &callbacks);
    } catch (const std::exception &e) {
        *error = "metrics_listen " + port + ": " + e.what();
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (!exposer_) return false;
    exposer_->RegisterCollectable(metrics_->registry(), "/metrics");
    exposer_->RegisterCollectable(metrics_->end_of_data_family(), "/metrics");
    return true;
}

}  // namespace tally::daemon
