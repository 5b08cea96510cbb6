// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* ldap_filter.cpp - filter template expansion */
#include "ldap_filter.h"

#include <ldap.h>

namespace tally::client {

std::string escape_filter_value(std::string_view value) {
    struct berval in = {value.size(), const_cast<char *>(value.data())};
    struct berval out = {0, nullptr};
    if (ldap_bv2escaped_filter_value(&in, &out) != 0 || !out.bv_val) return {};
    std::string s(out.bv_val, out.bv_len);
    ber_memfree(out.bv_val);
    return s;
}

std::optional<std::string> expand_filter(std::string_view tmpl, const FilterValues &v) {
    auto at = v.login.find('@');
    std::string user = at == std::string::npos ? v.login : v.login.substr(0, at);
    std::string realm = at == std::string::npos ? std::string() : v.login.substr(at + 1);
    std::string out;
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] != '%') {
            out += tmpl[i];
            continue;
        }
        if (++i >= tmpl.size()) return std::nullopt;
        switch (tmpl[i]) {
        case 's': out += escape_filter_value(v.login); break;
        case 'u': out += escape_filter_value(user); break;
        case 'd': out += escape_filter_value(realm); break;
        case 'D': out += escape_filter_value(v.dn); break;
        case 'c': out += escape_filter_value(v.client); break;
        case '%': out += '%'; break;
        default: return std::nullopt;
        }
    }
    return out;
}

}  // namespace tally::client
