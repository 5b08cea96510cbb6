// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* usage_table.h - a charge response as the table tallyctl prints */
#pragma once

#include "exop.h"

#include <string>

namespace tally {

/* format_usage_table - one row per window and metric: used, limit, left */
std::string format_usage_table(const std::string &account, const ChargeResponse &r);

}  // namespace tally
