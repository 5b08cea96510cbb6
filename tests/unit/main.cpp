// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
