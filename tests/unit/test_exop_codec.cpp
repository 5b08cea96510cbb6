// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// BER codec of the extended operations: round trips, and malformed input
// refused with a reason (never a crash, never a partial request).
#include "exop.h"

#include <catch2/catch.hpp>

using namespace tally;

namespace {
std::string hex(const std::string &s) {
    static const char *d = "0123456789abcdef";
    std::string o;
    for (unsigned char c : s) {
        o += d[c >> 4];
        o += d[c & 15];
    }
    return o;
}
std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int x : b) s += static_cast<char>(x);
    return s;
}
}  // namespace

TEST_CASE("charge request round-trips", "[codec]") {
    ChargeRequest r;
    r.account = "uid=alice,ou=people,dc=example,dc=com";
    r.messages = 1;
    r.recipients = 3;
    r.bytes = 5'000'000'000ull;  // beyond 32 bits
    r.charge_id = "4XbT2c1NqVz";
    r.mode = Mode::count;
    ChargeRequest back;
    REQUIRE_FALSE(decode_charge_request(encode_charge_request(r), back));
    CHECK(back == r);

    ChargeRequest plain;
    plain.account = "uid=b";
    REQUIRE_FALSE(decode_charge_request(encode_charge_request(plain), back));
    CHECK(back == plain);
}

TEST_CASE("the request encoding is the documented DER", "[codec]") {
    ChargeRequest r;
    r.account = "uid=a";
    r.messages = 1;
    r.recipients = 2;
    r.bytes = 300;
    // SEQUENCE { OCTET STRING "uid=a", INTEGER 1, INTEGER 2, INTEGER 300 }
    CHECK(hex(encode_charge_request(r)) == "301104057569643d610201010201020202012c");
}

TEST_CASE("charge response round-trips with unlimited limits and 64-bit usage", "[codec]") {
    ChargeResponse r;
    r.verdict = Verdict::refused;
    r.exceeded = Exceeded{"day", Metric::recipients, 500, 499};
    WindowReport w;
    w.window = "day";
    w.period = "2026-11-22";
    w.usage[Metric::messages] = 10;
    w.usage[Metric::byteRecipients] = 9'000'000'000'000ull;
    w.limits = {500, std::nullopt, 0, std::nullopt};
    r.windows.push_back(w);
    w.window = "hour";
    r.windows.push_back(w);
    ChargeResponse back;
    REQUIRE_FALSE(decode_charge_response(encode_charge_response(r), back));
    CHECK(back == r);
}

TEST_CASE("firstHit is sent only when true and round-trips", "[codec][alert]") {
    ChargeResponse r;
    r.verdict = Verdict::refused;
    r.exceeded = Exceeded{"day", Metric::messages, 2, 2};
    std::string without = encode_charge_response(r);
    r.first_hit = true;
    std::string with = encode_charge_response(r);
    CHECK(with.size() == without.size() + 3);  // [1] BOOLEAN TRUE: 81 01 ff
    CHECK(with.substr(with.size() - 3) == std::string("\x81\x01\xff", 3));
    ChargeResponse back;
    REQUIRE_FALSE(decode_charge_response(with, back));
    CHECK(back == r);
    REQUIRE_FALSE(decode_charge_response(without, back));
    CHECK_FALSE(back.first_hit);
}

TEST_CASE("mode cancel round-trips and needs a charge id", "[codec][cancel]") {
    ChargeRequest q;
    q.account = "uid=a,dc=x";
    q.charge_id = "Q1";
    q.mode = Mode::cancel;
    ChargeRequest back;
    REQUIRE_FALSE(decode_charge_request(encode_charge_request(q), back));
    CHECK(back == q);
    q.charge_id.clear();
    auto err = decode_charge_request(encode_charge_request(q), back);
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("cancel needs a charge id"));
}

TEST_CASE("reset request round-trips", "[codec]") {
    ResetRequest r{"uid=a,dc=x", "day"};
    ResetRequest back;
    REQUIRE_FALSE(decode_reset_request(encode_reset_request(r), back));
    CHECK(back == r);
    ResetRequest all{"uid=a,dc=x", ""};
    REQUIRE_FALSE(decode_reset_request(encode_reset_request(all), back));
    CHECK(back == all);
}

TEST_CASE("malformed charge requests are refused with a reason", "[codec]") {
    ChargeRequest out;
    auto refused = [&](const std::string &ber, const char *why) {
        auto err = decode_charge_request(ber, out);
        INFO("input " << hex(ber));
        REQUIRE(err);
        CHECK_THAT(*err, Catch::Contains(why));
    };
    refused("", "empty");
    refused(bytes({0x04, 0x01, 'a'}), "constructed");                 // not a SEQUENCE
    refused(bytes({0x30, 0x10, 0x04, 0x01, 'a'}), "length");           // length beyond data
    refused(bytes({0x30, 0x03, 0x04, 0x01, 'a'}), "messages");         // fields missing
    refused(bytes({0x30, 0x02, 0x04, 0x00}), "empty");                 // empty DN
    refused(bytes({0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 'a'}), "account DN");  // wrong order
    // negative message count
    refused(bytes({0x30, 0x0c, 0x04, 0x01, 'a', 0x02, 0x01, 0xff, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}), "out of range");
    // 9-byte integer
    refused(bytes({0x30, 0x14, 0x04, 0x01, 'a', 0x02, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0x01, 0x00, 0x02, 0x01,
                   0x00}),
            "too long");
    // trailing garbage inside and after the sequence
    std::string good = encode_charge_request(ChargeRequest{"a", 1, 1, 1, "", Mode::charge});
    refused(good + "x", "trailing");
    std::string inner = good;
    inner[1] = static_cast<char>(inner[1] + 3);
    inner += bytes({0x04, 0x01, 'z'});
    refused(inner, "unexpected");
    // bad mode and bad charge id
    refused(encode_charge_request(ChargeRequest{"a", 1, 1, 1, "", Mode::charge}).substr(0, 0) +
                bytes({0x30, 0x0f, 0x04, 0x01, 'a', 0x02, 0x01, 1, 0x02, 0x01, 1, 0x02, 0x01, 1, 0x81, 0x01, 7}),
            "mode");
    refused(bytes({0x30, 0x0e, 0x04, 0x01, 'a', 0x02, 0x01, 1, 0x02, 0x01, 1, 0x02, 0x01, 1, 0x80, 0x00}), "charge id");
    refused(bytes({0x30, 0x04, 0x04, 0x02, 'a', 0x00}), "NUL");
    // counts beyond the request bounds
    refused(encode_charge_request(ChargeRequest{"a", 2'000'000, 1, 1, "", Mode::charge}), "messages out of range");
}

TEST_CASE("every truncation of a valid request is refused", "[codec]") {
    std::string good = encode_charge_request(ChargeRequest{"uid=a,dc=x", 1, 3, 4000, "ID1", Mode::check});
    ChargeRequest out;
    for (std::size_t n = 0; n < good.size(); ++n) {
        INFO("length " << n);
        CHECK(decode_charge_request(good.substr(0, n), out));
    }
}

TEST_CASE("malformed reset requests are refused", "[codec]") {
    ResetRequest out;
    CHECK(decode_reset_request("", out));
    CHECK(decode_reset_request(bytes({0x30, 0x00}), out));
    CHECK(decode_reset_request(bytes({0x30, 0x05, 0x04, 0x01, 'a', 0x80, 0x00}), out));
}

TEST_CASE("issue 19: the aggregate and the level round-trip, absent without an aggregate", "[codec][aggregate]") {
    ChargeResponse r;
    r.verdict = Verdict::refused;
    r.exceeded = Exceeded{"day", Metric::messages, 500, 500};
    WindowReport w;
    w.window = "day";
    w.period = "2026-11-22";
    w.usage[Metric::messages] = 7;
    w.limits = {100, std::nullopt, std::nullopt, std::nullopt};
    r.windows.push_back(w);
    const std::string plain = encode_charge_response(r);
    r.exceeded->level = Level::aggregate;
    r.first_hit = true;
    r.aggregate_dn = "dc=example,dc=com";
    w.usage[Metric::messages] = 500;
    w.limits = {500, std::nullopt, std::nullopt, std::nullopt};
    r.aggregate_windows.push_back(w);
    const std::string with = encode_charge_response(r);
    ChargeResponse back;
    REQUIRE_FALSE(decode_charge_response(with, back));
    CHECK(back == r);
    CHECK(describe_refusal(back) == "aggregate \"dc=example,dc=com\" day limit of 500 messages reached (usage 500)");
    // Without an aggregate nothing new is sent: what older clients decode.
    ChargeResponse old;
    REQUIRE_FALSE(decode_charge_response(plain, old));
    CHECK(old.aggregate_dn.empty());
    CHECK(old.exceeded->level == Level::account);
    CHECK(describe_refusal(old) == "day limit of 500 messages reached (usage 500)");
    // Every truncation of the extended response is refused, never half read.
    for (std::size_t n = 1; n < with.size(); ++n) {
        ChargeResponse cut;
        CHECK(decode_charge_response(with.substr(0, n), cut));
    }
}

TEST_CASE("issue 19: a level without exceeded, or out of range, is refused", "[codec][aggregate]") {
    ChargeResponse r;
    std::string ok = encode_charge_response(r);  // 30 len 0a 01 00 30 00
    REQUIRE(hex(ok) == "30050a01003000");
    ChargeResponse back;
    auto err = decode_charge_response(bytes({0x30, 0x08, 0x0a, 0x01, 0x00, 0x30, 0x00, 0x82, 0x01, 0x01}), back);
    REQUIRE(err);
    CHECK(err->find("level") != std::string::npos);
    err = decode_charge_response(bytes({0x30, 0x08, 0x0a, 0x01, 0x01, 0x30, 0x00, 0x82, 0x01, 0x05}), back);
    REQUIRE(err);
}

TEST_CASE("externalRecipients: [2] in the request only when not 0, never above recipients", "[codec][external]") {
    ChargeRequest r;
    r.account = "uid=a";
    r.messages = 1;
    r.recipients = 2;
    r.bytes = 300;
    const std::string plain = encode_charge_request(r);
    r.external_recipients = 0;
    CHECK(encode_charge_request(r) == plain);  // an overlay from before still reads it
    r.external_recipients = 2;
    std::string with = encode_charge_request(r);
    CHECK(hex(with) == "301404057569643d610201010201020202012c820102");
    ChargeRequest back;
    REQUIRE_FALSE(decode_charge_request(with, back));
    CHECK(back == r);

    r.external_recipients = 3;  // more external recipients than recipients
    auto err = decode_charge_request(encode_charge_request(r), back);
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("externalRecipients exceeds recipients"));
    r.recipients = 2'000'000;
    r.external_recipients = 2'000'000;
    err = decode_charge_request(encode_charge_request(r), back);
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("out of range"));
}

TEST_CASE("externalRecipients: a window carries the fifth metric only when it says something", "[codec][external]") {
    ChargeResponse r;
    WindowReport w;
    w.window = "day";
    w.period = "2026-11-22";
    w.usage[Metric::messages] = 10;
    w.limits = {500, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
    r.windows.push_back(w);
    const std::string four = encode_charge_response(r);
    ChargeResponse back;
    REQUIRE_FALSE(decode_charge_response(four, back));
    CHECK(back == r);

    // usage 3 outside, limit 200: five integers each, and the refusal names the metric
    r.windows[0].usage[Metric::externalRecipients] = 3;
    r.windows[0].limits[static_cast<int>(Metric::externalRecipients)] = 200;
    r.verdict = Verdict::refused;
    r.exceeded = Exceeded{"day", Metric::externalRecipients, 200, 199};
    const std::string five = encode_charge_response(r);
    CHECK(five.size() > four.size() + 6);
    REQUIRE_FALSE(decode_charge_response(five, back));
    CHECK(back == r);
    CHECK(describe_exceeded(*back.exceeded) == "day limit of 200 externalRecipients reached (usage 199)");

    // a limit alone is enough to send it; usage alone too
    r.windows[0].usage[Metric::externalRecipients] = 0;
    REQUIRE_FALSE(decode_charge_response(encode_charge_response(r), back));
    CHECK(back == r);
}

TEST_CASE("externalRecipients: a sixth metric or an unknown exceeded metric is refused", "[codec][external]") {
    // SEQUENCE { verdict 0, [0] { "day", ENUM 5, 1, 1 }, SEQUENCE {} }
    std::string bad = bytes({0x30, 0x13, 0x0a, 0x01, 0x00, 0xa0, 0x0e, 0x04, 0x03, 'd', 'a', 'y', 0x0a, 0x01, 0x05,
                             0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x30, 0x00});
    ChargeResponse back;
    auto err = decode_charge_response(bad, back);
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("exceeded metric"));
}
