// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* replication_fixture.h - slapd-conf/multi-provider/ run on loopback: two providers, a consumer, a delayed link
 *
 * DESCRIPTION
 *   multi_provider_example() takes a file of slapd-conf/multi-provider/ as
 *   shipped and points it at loopback ports and the fixture's temp dirs.
 *   Cluster starts two providers and (optionally) the consumer from those
 *   files and adds the sample directory through the first provider with
 *   ldapadd, as README.md "Several providers" says to. DelayProxy is a
 *   loopback TCP forwarder that holds every byte for a settable number of
 *   milliseconds: with ClusterOptions::proxied each provider's syncrepl
 *   reaches the other provider through one, so replication lags by that
 *   delay (the serverID URLs still name the real listeners).
 *   Used by tests/integration/test_replication.cpp and bench/replication.
 *
 * DIAGNOSTICS
 *   Failures to start throw std::runtime_error with the log of what failed.
 */
#pragma once

#include "slapd_fixture.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tally::test {

/* replace_all - every occurrence of from in s replaced by to */
std::string replace_all(std::string s, const std::string &from, const std::string &to);

struct ExampleOptions {
    int sync_port1 = 0;  // where syncrepl stanzas reach provider 1 (0: its listener, port1)
    int sync_port2 = 0;  // and provider 2
    bool nosync = true;  // add dbnosync to the databases (tests need no fsync)
    /* tally_below_accesslog: the overlay configured before accesslog, so
     * that it runs below it and its response comes between the database
     * commit and the accesslog write (the crash test's pause: TALLY_TEST_PAUSE_DIR) */
    bool tally_below_accesslog = false;
    std::string extra_tally_config;  // more tally-* lines for the overlay
    /* counters_in_account: without the examples' tally-counter-database
     * line, so both providers write the account entry itself */
    bool counters_in_account = false;
};

/* multi_provider_example - a file of slapd-conf/multi-provider/ pointed at
 * loopback (providers listening on port1, port2) and "@DIR@" temp dirs */
std::string multi_provider_example(const std::string &file, int port1, int port2, const ExampleOptions &o = {});

/* wait_until - poll ok() (exceptions count as "not yet") every 50 ms; false on timeout */
bool wait_until(const std::function<bool()> &ok, int timeout_ms = 20000);

/* usage_on - messages of the day window as that server decides on them (check mode reads only) */
std::uint64_t usage_on(const Slapd &s, const std::string &dn);

/* DelayProxy - forwards TCP connections from a loopback port to target_port,
 * delivering every byte delay milliseconds after it arrived, in order, in
 * both directions; set_delay applies to bytes arriving from then on */
class DelayProxy {
public:
    explicit DelayProxy(int target_port, int delay_ms = 0);
    ~DelayProxy();
    DelayProxy(const DelayProxy &) = delete;
    DelayProxy &operator=(const DelayProxy &) = delete;

    int port() const;
    void set_delay(int ms);
    int delay() const;
    std::uint64_t connections() const;  // accepted so far

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct ClusterOptions {
    bool consumer = true;            // start the read-only consumer of consumer.conf
    bool second_provider = true;     // false: provider 1 alone (its syncrepl to the absent peer retries)
    bool proxied = false;            // syncrepl between the providers through DelayProxy (see set_delay)
    int delay_ms = 0;                // the proxies' initial delay
    bool nosync = true;              // dbnosync
    bool controllable_clock = true;  // TALLY_CLOCK_FILE (benchmarks turn it off)
    bool tally_below_accesslog = false;  // see ExampleOptions
    std::string extra_tally_config;      // see ExampleOptions; for the providers and the consumer
    bool counters_in_account = false;    // see ExampleOptions
};

/* Cluster - two providers and a consumer built from the examples */
struct Cluster {
    ClusterOptions opt;
    int port1 = free_loopback_port(), port2 = free_loopback_port(), port3 = free_loopback_port();
    // Before the servers: the providers' configurations name the proxies' ports.
    std::unique_ptr<DelayProxy> to_p1, to_p2;  // with opt.proxied: what p2's and p1's syncrepl reach
    Slapd p1, p2, consumer;

    explicit Cluster(ClusterOptions o = {});
    Cluster(const Cluster &) = delete;
    Cluster &operator=(const Cluster &) = delete;

    /* start - start the servers with their clock at clock (0: now) and add
     * the sample directory through p1, waiting until the others have it */
    void start(std::int64_t clock = 0);
    void set_clock(std::int64_t t);
    /* set_delay - the replication delay between the providers (opt.proxied only) */
    void set_delay(int ms);
    /* settled - every running server decides on the same total for dn */
    bool settled(const std::string &dn, std::uint64_t want, int timeout_ms = 20000);
};

}  // namespace tally::test
