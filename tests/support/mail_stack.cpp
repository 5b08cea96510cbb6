// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* mail_stack.cpp - slapd, tallyd and Postfix brought up together */
#include "mail_stack.h"

namespace tally::test {

namespace {

// Each member is started before the next one is made from it (member initialisers run in order).
Slapd &started(Slapd &s, std::int64_t clock) {
    if (clock) s.set_clock(clock);
    s.start();
    return s;
}

MilterProcess &started(MilterProcess &m, const std::vector<std::pair<std::string, std::string>> &options) {
    for (const auto &[key, value] : options) m.set(key, value);
    m.start();
    return m;
}

PostfixOptions with_milter(PostfixOptions o, const MilterProcess &m, const std::vector<std::string> &logins) {
    o.milter = "inet:127.0.0.1:" + std::to_string(m.port());  // Postfix's spelling, not libmilter's
    for (const auto &login : logins) o.users.emplace_back(login, kPassword);
    return o;
}

}  // namespace

PostfixOptions postfix_for(const MilterProcess &m, const std::vector<std::string> &logins) {
    return with_milter({}, m, logins);
}

MailStack::MailStack(MailStackOptions o)
    : slapd(std::move(o.slapd)),
      milter(started(slapd, o.clock)),
      postfix(with_milter(std::move(o.postfix), started(milter, o.milter), o.logins)) {}

}  // namespace tally::test
