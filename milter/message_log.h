// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* message_log.h - spdlog set-up: syslog (mail facility) or stderr, one line per message */
#pragma once

#include "milter_config.h"

#include <spdlog/spdlog.h>

#include <memory>

namespace tally::milter {

/* make_logger - the logger the configuration asks for */
std::shared_ptr<spdlog::logger> make_logger(const MilterConfig &c);

}  // namespace tally::milter
