// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* runtime.cpp - build a Runtime; the current one */
#include "runtime.h"

#include "alert_sender.h"
#include "message_log.h"

namespace tally::daemon {

namespace {
std::shared_ptr<Runtime> g_runtime;  // read and replaced with std::atomic_load/store
}

Runtime::Runtime(const engine::Config &c, std::shared_ptr<Metrics> m)
    : cfg(c),
      metrics(std::move(m)),
      log(make_logger(cfg)),
      directory(std::make_unique<Directory>(cfg, metrics.get())),
      cancels(std::make_unique<CancelQueue>([d = directory.get()](const ChargeRequest &r) { return d->charge(r); },
                                            std::chrono::seconds(cfg.charge_id_ttl), log, std::chrono::seconds(1),
                                            metrics.get())),
      backend(std::make_unique<DirectoryBackend>(*directory, *cancels)),
      cache(std::make_unique<engine::AccountCache>(static_cast<std::size_t>(cfg.cache_size),
                                                   std::chrono::seconds(cfg.cache_ttl), metrics.get())) {
    directory->set_warn([l = log](const std::string &w) { l->warn("{}", w); });
}

std::shared_ptr<Runtime> current_runtime() { return std::atomic_load(&g_runtime); }

void install_runtime(std::shared_ptr<Runtime> rt) { std::atomic_store(&g_runtime, std::move(rt)); }

void report_message(Runtime &rt, bool accepted, const std::string &line, const std::optional<engine::LimitAlert> &alert) {
    if (accepted) rt.log->info("{}", line);
    else rt.log->warn("{}", line);
    if (alert) send_alert(rt.cfg, rt.log, *alert, rt.metrics);
}

void count_message(Runtime &rt, Door door, const std::optional<engine::Outcome> &o, double end_of_data_seconds) {
    if (!rt.metrics) return;
    if (o) rt.metrics->message(door, *o);
    if (end_of_data_seconds >= 0) rt.metrics->end_of_data(door, end_of_data_seconds);
}

}  // namespace tally::daemon
