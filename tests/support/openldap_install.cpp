// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* openldap_install.cpp - the OpenLDAP profile of a test run */
#include "openldap_install.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#if !defined(TALLY_MODULE_PATH) || !defined(TALLY_WRONG_MODULE_PATH)
#error "TALLY_MODULE_PATH and TALLY_WRONG_MODULE_PATH must be defined"
#endif

namespace tally::test {

namespace {

std::string trim(const std::string &s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/* replace_paths - every path that starts with from (at the start of a line
 * or after blanks, as in "include /etc/ldap/schema/core.schema" or
 * "olcModulePath: /usr/lib/ldap"), so that a text adapted once is not
 * changed again when the new path contains the old one */
std::string replace_paths(std::string s, const std::string &from, const std::string &to) {
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos;) {
        if (at == 0 || s[at - 1] == ' ' || s[at - 1] == '\t' || s[at - 1] == '\n') {
            s.replace(at, from.size(), to);
            at += to.size();
        } else {
            at += from.size();
        }
    }
    return s;
}

OpenLdapInstall defaults() {
    return {"", "/usr/sbin", "/usr/lib/ldap", "/etc/ldap/schema", TALLY_MODULE_PATH, TALLY_WRONG_MODULE_PATH};
}

/* module_override - TALLY_SLAPD_MODULE: a plain tally.so while the tests are
 * built with the sanitizers (scripts/test-sanitizers) */
OpenLdapInstall module_override(OpenLdapInstall in) {
    if (const char *m = std::getenv("TALLY_SLAPD_MODULE"); m && *m) in.tally_module = m;
    return in;
}

}  // namespace

std::string OpenLdapInstall::adapt(std::string config) const {
    config = replace_paths(std::move(config), "/etc/ldap/schema/", schema + "/");
    return replace_paths(std::move(config), "/usr/lib/ldap", modules);
}

std::string OpenLdapInstall::series() const {
    auto second = version.find('.', version.find('.') + 1);
    return second == std::string::npos ? version : version.substr(0, second);
}

OpenLdapInstall load_openldap_profile(const std::string &path) {
    OpenLdapInstall in = defaults();
    std::ifstream f(path);
    if (!f) throw std::runtime_error("OpenLDAP profile: cannot read " + path);
    for (std::string line; std::getline(f, line);) {
        if (line.empty() || line[0] == '#') continue;
        auto eq = line.find('=');
        if (eq == std::string::npos) throw std::runtime_error(path + ": not key = value: " + line);
        std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (key == "version") in.version = value;
        else if (key == "sbin") in.sbin = value;
        else if (key == "modules") in.modules = value;
        else if (key == "schema") in.schema = value;
        else if (key == "tally_module") in.tally_module = value;
        else if (key == "wrong_version_module") in.wrong_version_module = value;
        else throw std::runtime_error(path + ": unknown key " + key);
    }
    return module_override(std::move(in));
}

const OpenLdapInstall &openldap() {
    static const OpenLdapInstall in = [] {
        const char *path = std::getenv("TALLY_OPENLDAP_PROFILE");
        return path && *path ? load_openldap_profile(path) : module_override(defaults());
    }();
    return in;
}

}  // namespace tally::test
