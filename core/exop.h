// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* exop.h - the charge and reset extended operations: types and BER codec
 *
 * DESCRIPTION
 *   The wire format is specified in exop.md beside this file. Encoding and
 *   decoding use liblber; every decoder checks lengths and ranges and
 *   returns a text saying what was wrong, for protocolError replies.
 */
#pragma once

#include "metric.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

/* Tally's OID arc (UUID-based, ITU-T X.667); a macro too, so that the
 * overlay's schema and config definitions are spliced from literals */
#define TALLY_OID_ARC "2.25.89308699356728966023253925045140918448"
inline constexpr const char *kOidArc = TALLY_OID_ARC;
inline constexpr const char *kChargeOid = TALLY_OID_ARC ".3.1";
inline constexpr const char *kResetOid = TALLY_OID_ARC ".3.2";

/* cancel: the charge with this id must not count (its answer was lost and
 * the message refused): taken back if it was counted here, else remembered
 * so that it counts nothing should it still arrive */
enum class Mode : int { charge = 0, check = 1, count = 2, cancel = 3 };
enum class Verdict : int { accepted = 0, refused = 1, duplicate = 2 };

std::string_view mode_name(Mode m);
std::string_view verdict_name(Verdict v);

/* Requests carry at most this much: keeps a hostile request from making
 * the server allocate or count absurd amounts. */
inline constexpr std::uint64_t kMaxRequestCount = 1'000'000;          // messages, recipients
inline constexpr std::uint64_t kMaxRequestBytes = 1ull << 40;          // 1 TiB
inline constexpr std::size_t kMaxDnLength = 8192;

struct ChargeRequest {
    std::string account;  // DN
    std::uint64_t messages = 1;
    std::uint64_t recipients = 0;
    std::uint64_t bytes = 0;
    std::string charge_id;  // empty: none
    Mode mode = Mode::charge;
    /* of recipients, those whose domain is not hosted (at most recipients) */
    std::uint64_t external_recipients = 0;
    bool operator==(const ChargeRequest &) const = default;
};

struct WindowReport {
    std::string window;
    std::string period;
    Usage usage;  // after the charge when accepted, current otherwise
    std::array<std::optional<std::uint64_t>, kMetricCount> limits{};  // nullopt: unlimited
    std::array<std::optional<std::uint64_t>, kMetricCount> warnings{};  // thresholds; nullopt: none
    bool operator==(const WindowReport &) const = default;
};

/* Level - which entry a limit belongs to: the account charged, or the
 * aggregate (domain) whose accounts share it */
enum class Level : int { account = 0, aggregate = 1 };
std::string_view level_name(Level l);

struct Exceeded {
    std::string window;
    Metric metric = Metric::messages;
    std::uint64_t limit = 0;
    std::uint64_t usage = 0;  // current usage, before this message
    Level level = Level::account;
    bool operator==(const Exceeded &) const = default;
};

/* Warning - a warning threshold (soft limit, warning_rules.h) this
 * accepted message reached first in the window's period */
struct Warning {
    std::string window;
    Metric metric = Metric::messages;
    std::uint64_t threshold = 0;
    std::uint64_t usage = 0;  // after this message
    std::optional<std::uint64_t> limit;  // the hard limit beside it (nullopt: unlimited)
    bool operator==(const Warning &) const = default;
};

struct ChargeResponse {
    Verdict verdict = Verdict::accepted;
    std::optional<Exceeded> exceeded;  // refused, or accepted over a limit when not enforcing
    std::vector<WindowReport> windows;
    /* the first time this period that exceeded's window was passed for this
     * account: the caller alerts (once per account per window) */
    bool first_hit = false;
    /* the aggregate the account counts in (empty: none), and its windows
     * as windows reports the account's */
    std::string aggregate_dn;
    std::vector<WindowReport> aggregate_windows;
    /* the one reply of a period that first reached a warning threshold of
     * the account: the caller alerts (once per account, window, period) */
    std::optional<Warning> warning;
    bool operator==(const ChargeResponse &) const = default;
};

struct ResetRequest {
    std::string account;
    std::string window;  // empty: every window
    bool operator==(const ResetRequest &) const = default;
};

/* Encoders return the BER bytes; decoders fill out and return nullopt on
 * success, or the reason the input was refused. */
std::string encode_charge_request(const ChargeRequest &r);
std::optional<std::string> decode_charge_request(std::string_view ber, ChargeRequest &out);
std::string encode_charge_response(const ChargeResponse &r);
std::optional<std::string> decode_charge_response(std::string_view ber, ChargeResponse &out);
std::string encode_reset_request(const ResetRequest &r);
std::optional<std::string> decode_reset_request(std::string_view ber, ResetRequest &out);

/* describe_exceeded - "day limit of 500 messages reached (usage 500)"; of
 * an aggregate: "aggregate day limit of 500 messages reached (usage 500)" */
std::string describe_exceeded(const Exceeded &e);

/* describe_refusal - describe_exceeded, naming the aggregate's DN when the
 * aggregate's limit is the one passed: what logs and replies say */
std::string describe_refusal(const ChargeResponse &r);

/* describe_warning - "day warning at 400 messages reached (usage 401 of 500)" */
std::string describe_warning(const Warning &w);

}  // namespace tally
