// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* runtime.h - one configuration and what is built from it, shared by both front doors
 *
 * DESCRIPTION
 *   A Runtime holds the logger, the LDAP pool, the cancel queue and the
 *   account cache of one configuration. Each milter connection and each
 *   policy request takes the current Runtime when it starts and keeps it,
 *   so a reload (SIGUSR1) never changes a message in flight.
 */
#pragma once

#include "account_cache.h"
#include "alert.h"
#include "backend.h"
#include "cancel_queue.h"
#include "config.h"
#include "directory.h"
#include "metrics.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>

namespace tally::daemon {

/* DirectoryBackend - the flow's Backend: the LDAP pool, and lost charges
 * cancelled through the cancel queue */
class DirectoryBackend : public engine::Backend {
public:
    DirectoryBackend(Directory &d, CancelQueue &cancels) : d_(d), cancels_(cancels) {}
    engine::LookupResult find_account(const std::string &login) override { return d_.find_account(login); }
    engine::LookupResult find_sender(const std::string &address) override { return d_.find_sender(address); }
    engine::LookupResult find_relay(const std::string &client) override { return d_.find_relay(client); }
    engine::ChargeResult charge(const ChargeRequest &req) override { return d_.charge(req); }
    engine::DenyListsResult deny_lists() override { return d_.deny_lists(); }
    engine::HostedDomainsResult hosted_domains() override { return d_.hosted_domains(); }
    engine::ExemptionsResult exemptions() override { return d_.exemptions(); }
    void cancel_later(const ChargeRequest &req) override { cancels_.add(req); }

private:
    Directory &d_;
    CancelQueue &cancels_;
};

struct Runtime {
    engine::Config cfg;
    std::shared_ptr<Metrics> metrics;  // the process's, shared by every Runtime: counts outlive a reload
    std::shared_ptr<spdlog::logger> log;
    std::unique_ptr<Directory> directory;
    std::unique_ptr<CancelQueue> cancels;  // destroyed before the directory it uses
    std::unique_ptr<DirectoryBackend> backend;
    std::unique_ptr<engine::AccountCache> cache;

    /* Runtime - throws std::runtime_error when the configuration cannot work
     * (an unreadable or empty password file) */
    Runtime(const engine::Config &c, std::shared_ptr<Metrics> metrics);
};

/* current_runtime, install_runtime - the Runtime that new connections take */
std::shared_ptr<Runtime> current_runtime();
void install_runtime(std::shared_ptr<Runtime> rt);

/* report_message - a decided message's log line (info when accepted, warning
 * when refused) and, when it first hit a limit, its alert */
void report_message(Runtime &rt, bool accepted, const std::string &line, const std::optional<engine::LimitAlert> &alert);

/* count_message - for the metrics: a message a door settled (nullopt: none
 * was), and the seconds an end of data waited for the answer (negative: the
 * request was not an end of data, e.g. MAIL FROM or RCPT) */
void count_message(Runtime &rt, Door door, const std::optional<engine::Outcome> &o, double end_of_data_seconds = -1);

}  // namespace tally::daemon
