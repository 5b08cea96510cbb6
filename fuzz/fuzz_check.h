// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* fuzz_check.h - what every fuzz target shares
 *
 * DESCRIPTION
 *   FUZZ_CHECK(cond) states a property the code under test must keep for
 *   every input (a round trip, an escaping rule). It aborts, also in
 *   release builds where assert() is compiled out, so libFuzzer and the
 *   corpus replay both report the input that broke it.
 */
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)
