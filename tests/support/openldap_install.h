// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* openldap_install.h - which OpenLDAP the integration and e2e tests run against
 *
 * DESCRIPTION
 *   The same test programs run against every OpenLDAP release the project
 *   supports (ctest registers them once per release, labels
 *   integration-openldap-2.5, e2e-openldap-2.6, ...). The release is named by
 *   the environment variable TALLY_OPENLDAP_PROFILE, the path of a profile
 *   CMake writes (build/tests/openldap-X.Y.profile, "key = value" lines):
 *
 *     version = 2.6.10
 *     sbin = /var/cache/tally-deps/openldap-2.6.10+dfsg-1/prefix/sbin
 *     modules = .../prefix/lib/ldap
 *     schema = .../prefix/etc/ldap/schema
 *     tally_module = .../build/overlay/openldap-2.6/tally.so
 *     wrong_version_module = .../build/overlay/openldap-2.6/tally_wrong_version.so
 *
 *   Without it: Debian's slapd (/usr/sbin, /usr/lib/ldap, /etc/ldap/schema)
 *   and the tally.so of the primary build, so a test program run by hand
 *   behaves as before. TALLY_SLAPD_MODULE still overrides the module (a
 *   plain one under the sanitizer builds).
 */
#pragma once

#include <string>

namespace tally::test {

struct OpenLdapInstall {
    std::string version;       // "2.6.10"; empty when not known (no profile)
    std::string sbin;          // slapd, slapadd, slapcat, slaptest
    std::string modules;       // back_mdb.so, syncprov.so, accesslog.so, back_ldap.so
    std::string schema;        // core.schema, cosine.schema, ...
    std::string tally_module;  // the tally.so built for this slapd
    std::string wrong_version_module;  // one built for "slapd 0.0.0-test" (the version check's test)

    std::string slapd() const { return sbin + "/slapd"; }
    std::string tool(const std::string &name) const { return sbin + "/" + name; }
    std::string schema_file(const std::string &name) const { return schema + "/" + name; }
    /* adapt - a slapd.conf or LDIF written for Debian's paths (the shipped
     * examples), with this installation's schema and module folders */
    std::string adapt(std::string config) const;
    /* series - "2.6" ("" when not known) */
    std::string series() const;
};

/* openldap - the installation of this test run, read once */
const OpenLdapInstall &openldap();

/* load_openldap_profile - the installation a profile file describes (throws
 * with the reason on a missing file or an unknown key); a benchmark that
 * compares releases starts one slapd of each */
OpenLdapInstall load_openldap_profile(const std::string &path);

}  // namespace tally::test
