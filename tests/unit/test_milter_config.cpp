// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// tallyd.conf: the option table, errors naming lines, defaults.
#include "config.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace tally::engine;

namespace {
const std::string kMinimal = "search_base = ou=people,dc=example,dc=com\n";
}

TEST_CASE("a minimal file gives documented defaults", "[milter][config]") {
    Config c;
    REQUIRE(parse_config_text(kMinimal, c).empty());
    CHECK(c.search_base == "ou=people,dc=example,dc=com");
    CHECK(c.stage == Stage::eom);
    CHECK(c.on_directory_unavailable == FailAction::tempfail);
    CHECK(c.on_unknown_account == FailAction::tempfail);
    CHECK(c.on_charge_error == FailAction::tempfail);
    CHECK(c.ldap_timeout_ms < 30000);  // far below Postfix's milter_command_timeout
}

TEST_CASE("every option parses its value", "[milter][config]") {
    Config c;
    std::string text = kMinimal +
                       "# a comment\n"
                       "socket = unix:/run/tally/milter.sock\n"
                       "ldap_uri = ldap://a.example ldap://b.example\n"
                       "ldap_timeout = 750ms\n"
                       "ldap_connect_timeout = 2s\n"
                       "ldap_pool_size = 4\n"
                       "stage = mail\n"
                       "detail_delimiter = -\n"
                       "usage_header = yes\n"
                       "on_unknown_account = reject\n"
                       "on_directory_unavailable = accept\n"
                       "reply_quota = 451 4.7.1 try later: %{adjective} limit\n"
                       "sender_attributes = mail mailAlternateAddress tallySendAs\n"
                       "status_attribute = mailUserStatus\n";
    REQUIRE(parse_config_text(text, c).empty());
    CHECK(c.socket == "unix:/run/tally/milter.sock");
    CHECK(c.ldap_uri == std::vector<std::string>{"ldap://a.example", "ldap://b.example"});
    CHECK(c.ldap_timeout_ms == 750);
    CHECK(c.ldap_connect_timeout_ms == 2000);
    CHECK(c.ldap_pool_size == 4);
    CHECK(c.stage == Stage::mail);
    CHECK(c.detail_delimiter == "-");
    CHECK(c.usage_header);
    CHECK(c.on_unknown_account == FailAction::reject);
    CHECK(c.on_directory_unavailable == FailAction::accept);
    CHECK(c.sender_attributes.size() == 3);
}

TEST_CASE("errors name the line and say what is wrong", "[milter][config]") {
    Config c;
    auto errs = parse_config_text(kMinimal +
                                      "colour = blue\n"           // line 2
                                      "ldap_pool_size = lots\n"   // line 3
                                      "stage = rcpt\n"            // line 4
                                      "no equals sign\n"          // line 5
                                      "reply_blocked = 250 ok\n"  // line 6
                                      "ldap_timeout = 0\n"        // line 7
                                      "stage = eom\n",            // line 8: stage again after a bad one
                                  c);
    REQUIRE(errs.size() == 7);
    CHECK(errs[0].line == 2);
    CHECK_THAT(errs[0].message, Catch::Contains("unknown option \"colour\""));
    CHECK(errs[1].line == 3);
    CHECK_THAT(errs[1].message, Catch::Contains("whole number"));
    CHECK(errs[2].line == 4);
    CHECK(errs[3].line == 5);
    CHECK(errs[4].line == 6);
    CHECK_THAT(errs[4].message, Catch::Contains("4xx or 5xx"));
    CHECK(errs[5].line == 7);
    CHECK(errs[6].line == 8);
    CHECK_THAT(errs[6].message, Catch::Contains("twice"));
}

TEST_CASE("whole-file checks", "[milter][config]") {
    Config c;
    CHECK_THAT(parse_config_text("", c).at(0).message, Catch::Contains("search_base is required"));
    CHECK_FALSE(parse_config_text(kMinimal + "search_filter = (uid=alice)\n", c).empty());
    CHECK_FALSE(parse_config_text(kMinimal + "ldap_bind_dn = cn=x\n", c).empty());
    CHECK_FALSE(parse_config_text(kMinimal + "socket = 8893\n", c).empty());
}

TEST_CASE("load_config prefixes file and line", "[milter][config]") {
    std::vector<std::string> errors;
    CHECK_FALSE(load_config("/nonexistent/tallyd.conf", errors));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::StartsWith("/nonexistent/tallyd.conf: "));
}

TEST_CASE("the option table documents every option with its default", "[milter][config]") {
    auto t = option_table();
    CHECK(t.size() > 30);
    // Every documented default, written out as a configuration, is valid and
    // gives exactly the defaults back: what -h and the man page say is what
    // an option left out means.
    std::string text = "search_base = dc=example,dc=com\n";  // required, no default
    for (const auto &o : t) {
        INFO(o.name);
        CHECK_FALSE(o.help.empty());
        if (!o.default_value.empty()) text += o.name + " = " + o.default_value + "\n";
    }
    Config parsed;
    auto errors = parse_config_text(text, parsed);
    for (const auto &e : errors) FAIL_CHECK("line " << e.line << ": " << e.message);
    REQUIRE(errors.empty());
    auto again = option_table(parsed);
    REQUIRE(again.size() == t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
        INFO(t[i].name);
        if (t[i].name != "search_base") CHECK(again[i].default_value == t[i].default_value);
    }
    auto cache_ttl = std::find_if(t.begin(), t.end(), [](const OptionInfo &o) { return o.name == "cache_ttl"; });
    REQUIRE(cache_ttl != t.end());
    CHECK(cache_ttl->default_value == "60");
}
