// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* fuzz_milter_config - tallyd.conf parsing on arbitrary text
 *
 * DESCRIPTION
 *   parse_config_text must never crash, hang or leak on any file (the
 *   operator's "tallyd -n" and every reload read one); a refused file
 *   names at least one line, and errors name lines that exist.
 *   Seeds: fuzz/corpus/fuzz_milter_config (the example file, single
 *   options, edge values).
 */
#include "fuzz_check.h"
#include "config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string text(reinterpret_cast<const char *>(data), size);
    tally::engine::Config cfg;
    auto errors = tally::engine::parse_config_text(text, cfg);
    // the lines std::getline sees: one per '\n', plus an unterminated last one
    long lines = std::count(text.begin(), text.end(), '\n');
    if (!text.empty() && text.back() != '\n') ++lines;
    for (const auto &e : errors) {
        FUZZ_CHECK(!e.message.empty());
        FUZZ_CHECK(e.line >= 0 && e.line <= lines);
    }
    return 0;
}
