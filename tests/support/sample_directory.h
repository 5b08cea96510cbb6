// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* sample_directory.h - the names in the sample directory every fixture starts with
 *
 * DESCRIPTION
 *   sample_ldif() (slapd_fixture.h) writes a directory under kSuffix: the
 *   administrator kRootDn, the milter's service identity kServiceDn, the
 *   operator kAdminDn (a member of cn=tally-admins), and the accounts alice,
 *   bob and carol under kPeople; milter_test_directory() (milter_process.h)
 *   adds dora. Tests, benchmarks and the sandbox name them from here, so a
 *   change to the sample directory is made once. Every identity's password
 *   is kPassword; SASL logins in Postfix are the uids (kSaslRealm).
 */
#pragma once

#include <string>

namespace tally::test {

inline constexpr const char *kSuffix = "dc=example,dc=com";
inline constexpr const char *kRootDn = "cn=admin,dc=example,dc=com";
inline constexpr const char *kRootPw = "secret";
inline constexpr const char *kConfigDn = "cn=admin,cn=config";
inline constexpr const char *kServiceDn = "cn=tally-milter,ou=services,dc=example,dc=com";
inline constexpr const char *kAdminDn = "uid=operator,ou=people,dc=example,dc=com";
inline constexpr const char *kPassword = "secret";  // every sample identity's password
inline constexpr const char *kPeople = "ou=people,dc=example,dc=com";

/* person_dn - the DN of an account under kPeople */
inline std::string person_dn(const std::string &uid) { return "uid=" + uid + "," + kPeople; }

/* mail_of - the sample address of an account: uid@example.com */
inline std::string mail_of(const std::string &uid) { return uid + "@example.com"; }

// The sample accounts (sample_ldif(); dora: milter_test_directory()).
inline const std::string kAlice = person_dn("alice");
inline const std::string kBob = person_dn("bob");
inline const std::string kCarol = person_dn("carol");
inline const std::string kDora = person_dn("dora");

}  // namespace tally::test
