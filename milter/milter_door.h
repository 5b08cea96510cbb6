// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* milter_door.h - the milter protocol's front door: libmilter callbacks to the decision flow
 *
 * DESCRIPTION
 *   Postfix's smtpd_milters (and Sendmail's) reach the flow here: MAIL FROM
 *   starts a message, RCPT TO and the body count, end of data charges. The
 *   callbacks hold only protocol code; what is decided, and the log line,
 *   come from engine/message_flow.h. libmilter's smfi_main runs on a thread
 *   of the daemon's (daemon/main.cpp).
 */
#pragma once

#include <string>

namespace tally::milter {

/* open - register the callbacks and open socket (before privileges are
 * dropped); false with *error set when it cannot */
bool open(const std::string &socket, std::string *error);

/* run - serve until stop() or a signal libmilter takes; true on a clean stop */
bool run();

/* stop - ask libmilter to stop accepting and return from run() */
void stop();

/* messages_in_flight - messages between MAIL FROM and their end */
int messages_in_flight();

}  // namespace tally::milter
