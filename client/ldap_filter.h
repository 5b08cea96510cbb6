// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* ldap_filter.h - search filters built from templates, every value escaped
 *
 * DESCRIPTION
 *   A template such as "(&(objectClass=inetOrgPerson)(uid=%u))" gets the
 *   SASL login's parts, escaped per RFC 4515 by libldap
 *   (ldap_bv2escaped_filter_value), so "*", "(", ")", "\" and NUL in a
 *   hostile login can never widen a search:
 *     %s  the whole login     %u  the part before '@' (all of it without '@')
 *     %d  the part after '@'  %D  a DN (for alias searches)
 *     %c  the client address                                 %%  a '%'
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tally::client {

struct FilterValues {
    std::string login;
    std::string dn;
    std::string client;
};

/* escape_filter_value - RFC 4515 escaping through libldap */
std::string escape_filter_value(std::string_view value);

/* expand_filter - the template with values substituted; nullopt for an
 * unknown %-sequence (the configuration check refuses those) */
std::optional<std::string> expand_filter(std::string_view tmpl, const FilterValues &v);

}  // namespace tally::client
