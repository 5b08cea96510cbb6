// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* fuzz_charge_request - the extended operations' BER decoders on arbitrary bytes
 *
 * DESCRIPTION
 *   Every input goes to decode_charge_request, decode_reset_request and
 *   decode_charge_response (the overlay decodes the requests from anyone
 *   who can bind; the clients decode the response). None may crash, read
 *   out of bounds or leak; a decoder that refuses must say why; whatever a
 *   decoder accepts must survive a round trip through its encoder
 *   unchanged. Seeds: fuzz/corpus/fuzz_charge_request (make_seeds).
 */
#include "exop.h"
#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);

    tally::ChargeRequest q;
    if (auto err = tally::decode_charge_request(in, q)) {
        FUZZ_CHECK(!err->empty());
    } else {
        tally::ChargeRequest again;
        FUZZ_CHECK(!tally::decode_charge_request(tally::encode_charge_request(q), again));
        FUZZ_CHECK(again == q);
    }

    tally::ResetRequest z;
    if (auto err = tally::decode_reset_request(in, z)) {
        FUZZ_CHECK(!err->empty());
    } else {
        tally::ResetRequest again;
        FUZZ_CHECK(!tally::decode_reset_request(tally::encode_reset_request(z), again));
        FUZZ_CHECK(again == z);
    }

    tally::ChargeResponse r;
    if (auto err = tally::decode_charge_response(in, r)) {
        FUZZ_CHECK(!err->empty());
    } else {
        tally::ChargeResponse again;
        FUZZ_CHECK(!tally::decode_charge_response(tally::encode_charge_response(r), again));
        FUZZ_CHECK(again == r);
        if (r.exceeded) (void)tally::describe_exceeded(*r.exceeded);
    }
    return 0;
}
