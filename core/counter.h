/* counter.h - the text form of the counters kept as operational attributes
 *
 * DESCRIPTION
 *   One attribute value per window, per period and per server, readable
 *   with ldapsearch ... +:
 *
 *     tallyUsage: day 2026-11-22 sid=0 messages=12 recipients=30 bytes=48211 byteRecipients=120933
 *
 *   sid is the serverID of the provider that wrote the value: each provider
 *   writes only its own share and readers sum the shares of the current
 *   period, so replicated providers never overwrite each other's counts.
 *   tallyHistory holds values of the same form for past periods.
 *
 *   tallyRecentCharge remembers accepted charge ids for a bounded time so a
 *   repeated charge is not counted twice:
 *
 *     tallyRecentCharge: 1795000000 4XbT2c1NqVz
 */
#pragma once

#include "metric.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

struct CounterValue {
    std::string window;
    std::string period;
    unsigned sid = 0;
    Usage usage;
    bool operator==(const CounterValue &) const = default;
};

/* encode_counter - the attribute value of a counter */
std::string encode_counter(const CounterValue &c);

/* decode_counter - nullopt for a value not in the form above */
std::optional<CounterValue> decode_counter(std::string_view text);

struct ChargeRecord {
    std::int64_t when = 0;  // seconds since the epoch
    std::string id;
    bool operator==(const ChargeRecord &) const = default;
};

/* valid_charge_id - 1..128 printable ASCII characters, no spaces */
bool valid_charge_id(std::string_view id);

std::string encode_charge_record(const ChargeRecord &r);
std::optional<ChargeRecord> decode_charge_record(std::string_view text);

}  // namespace tally
