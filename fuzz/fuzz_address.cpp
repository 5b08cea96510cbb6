// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* fuzz_address - envelope addresses, ownership, filter escaping, networks
 *
 * DESCRIPTION
 *   The input is split at the first two NUL bytes into a sender (as Postfix
 *   hands it over), a SASL login and a client address, all attacker
 *   controlled. Properties:
 *     - parse_envelope_address accepts nothing longer than 320 bytes and
 *       nothing with spaces, control bytes or angle brackets inside;
 *       an accepted address is owned by itself (canonical_address and
 *       owns_address agree), and canonicalizing is idempotent;
 *     - escape_filter_value leaves no '*', '(', ')', '\' or NUL unescaped,
 *       so expand_filter with the login keeps the template's structure;
 *     - prefix_match never crashes on hostile addresses and masks.
 *   Seeds: fuzz/corpus/fuzz_address.
 */
#include "address.h"
#include "fuzz_check.h"
#include "ldap_filter.h"
#include "netmatch.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

/* unescaped_special - whether an escaped filter value still holds a byte
 * RFC 4515 requires escaped ('\' must start a two-hex-digit escape) */
bool unescaped_special(std::string_view s) {
    auto hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '*' || c == '(' || c == ')' || c == '\0') return true;
        if (c == '\\') {
            if (i + 2 >= s.size()) return true;
            if (!hex(s[i + 1]) || !hex(s[i + 2])) return true;
            i += 2;
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace tally::engine;
    using namespace tally::client;
    std::string_view in(reinterpret_cast<const char *>(data), size);
    std::string_view sender = in, login, client;
    if (auto z = in.find('\0'); z != std::string_view::npos) {
        sender = in.substr(0, z);
        login = in.substr(z + 1);
        if (auto z2 = login.find('\0'); z2 != std::string_view::npos) {
            client = login.substr(z2 + 1);
            login = login.substr(0, z2);
        }
    }

    for (std::string_view delim : {std::string_view("+"), std::string_view(""), std::string_view("-+")}) {
        if (auto a = parse_envelope_address(sender)) {
            FUZZ_CHECK(a->size() <= 320);
            for (unsigned char c : *a) FUZZ_CHECK(c > ' ' && c != 0x7f && c != '<' && c != '>');
            std::string canon = canonical_address(*a, delim);
            FUZZ_CHECK(canonical_address(canon, delim) == canon);
            FUZZ_CHECK(owns_address({*a}, *a, delim));
            FUZZ_CHECK(owns_address({canon}, *a, delim));
            (void)domain_of(*a);
        }
        (void)owns_address({std::string(login), std::string(client)}, sender, delim);
    }
    (void)domain_of(sender);

    std::string escaped = escape_filter_value(login);
    FUZZ_CHECK(!unescaped_special(escaped));
    FilterValues v{std::string(login), std::string(sender), std::string(client)};
    constexpr std::string_view tmpl = "(&(objectClass=inetOrgPerson)(|(uid=%u)(mail=%s)(dc=%d)(x=%D)(ip=%c)))";
    auto f = expand_filter(tmpl, v);
    FUZZ_CHECK(f.has_value());
    // the structure of the template survives: values add no parentheses
    auto parens = [](std::string_view s) {
        std::size_t n = 0;
        for (char c : s) n += c == '(' || c == ')';
        return n;
    };
    FUZZ_CHECK(parens(*f) == parens(tmpl));
    (void)expand_filter(sender, v);  // a hostile template: refused or expanded, never a crash

    (void)prefix_match(client, login, sender);
    (void)prefix_match(client, "10.0.0.0/8", "");
    (void)prefix_match(client, "2001:db8::", "32");
    (void)prefix_match("192.0.2.1", client, login);
    return 0;
}
