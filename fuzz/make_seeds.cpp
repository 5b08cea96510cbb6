// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* make_seeds - writes the codec seeds of fuzz/corpus/fuzz_charge_request
 *
 * SYNOPSIS
 *   make_seeds DIR
 *
 * DESCRIPTION
 *   Valid encodings made with the encoders (so the fuzzer starts from
 *   inputs that get past the outer SEQUENCE): charge requests in every
 *   mode, with and without a charge id, at the limits; reset requests;
 *   responses accepted, refused and over a limit with several windows.
 *   Run once when the wire format changes; the output is committed.
 */
#include "exop.h"

#include <cstdio>
#include <fstream>
#include <string>

namespace {

void put(const std::string &dir, const std::string &name, const std::string &bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    std::string d = argv[1];
    using namespace tally;
    const std::string dn = "uid=alice,ou=people,dc=example,dc=com";

    put(d, "charge-plain", encode_charge_request({dn, 1, 3, 2048, "", Mode::charge}));
    put(d, "charge-id", encode_charge_request({dn, 1, 1, 100, "4XyZ1q2w3e", Mode::charge}));
    put(d, "charge-check", encode_charge_request({dn, 1, 5, 5000, "", Mode::check}));
    put(d, "charge-count", encode_charge_request({dn, 0, 0, 0, "Q1", Mode::count}));
    put(d, "charge-max", encode_charge_request({std::string(kMaxDnLength, 'a'), kMaxRequestCount, kMaxRequestCount,
                                               kMaxRequestBytes, std::string(128, 'x'), Mode::count}));
    ChargeRequest external{dn, 1, 5, 2048, "Q2", Mode::charge};
    external.external_recipients = 3;
    put(d, "charge-external", encode_charge_request(external));
    put(d, "reset-all", encode_reset_request({dn, ""}));
    put(d, "reset-day", encode_reset_request({dn, "day"}));

    ChargeResponse ok;
    ok.windows.push_back({"day", "2024-05-01", Usage{{3, 9, 30000, 90000}}, {500, std::nullopt, 1u << 20, std::nullopt}});
    ok.windows.push_back({"hour", "2024-05-01T13", Usage{{1, 3, 10000, 30000}}, {}});
    put(d, "response-accepted", encode_charge_response(ok));
    ChargeResponse refused = ok;
    refused.verdict = Verdict::refused;
    refused.exceeded = Exceeded{"day", Metric::messages, 500, 500};
    put(d, "response-refused", encode_charge_response(refused));
    ChargeResponse over = ok;
    over.exceeded = Exceeded{"hour", Metric::byteRecipients, 10, 30000};
    over.first_hit = true;
    put(d, "response-over-first-hit", encode_charge_response(over));
    ChargeResponse outside = ok;  // the fifth metric: usage and limit of externalRecipients
    outside.verdict = Verdict::refused;
    outside.windows[0].usage[Metric::externalRecipients] = 200;
    outside.windows[0].limits[static_cast<int>(Metric::externalRecipients)] = 200;
    outside.exceeded = Exceeded{"day", Metric::externalRecipients, 200, 200};
    put(d, "response-external", encode_charge_response(outside));
    ChargeResponse dup;
    dup.verdict = Verdict::duplicate;
    put(d, "response-duplicate", encode_charge_response(dup));
    return 0;
}
