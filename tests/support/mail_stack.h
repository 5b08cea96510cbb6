// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* mail_stack.h - slapd, tallyd and Postfix brought up together
 *
 * DESCRIPTION
 *   The end-to-end tests start the same stack again and again: a Slapd with
 *   the milter's test directory, a MilterProcess against it, a Postfix whose
 *   smtpd passes mail through that milter, with SASL users for the sample
 *   accounts. MailStack does it in that order (each started before the next
 *   is made) and, being three members, ends them in the reverse order by
 *   their PIDs, also when a test fails or a later start throws.
 */
#pragma once

#include "milter_process.h"
#include "postfix_fixture.h"
#include "slapd_fixture.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tally::test {

/* postfix_for - options of a Postfix that passes mail through m, with these
 * SASL logins (password kPassword) */
PostfixOptions postfix_for(const MilterProcess &m, const std::vector<std::string> &logins);

struct MailStackOptions {
    SlapdOptions slapd = milter_test_directory();
    std::int64_t clock = 0;  // slapd's clock at start (0: now)
    /* milter - tallyd.conf options given before it starts (MilterProcess::set) */
    std::vector<std::pair<std::string, std::string>> milter;
    std::vector<std::string> logins = {"alice", "bob", "dora"};  // SASL users (password kPassword)
    PostfixOptions postfix;  // milter and users are filled in
};

struct MailStack {
    explicit MailStack(MailStackOptions o = {});

    Slapd slapd;
    MilterProcess milter;
    Postfix postfix;
};

}  // namespace tally::test
