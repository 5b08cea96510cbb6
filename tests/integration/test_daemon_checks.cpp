// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// What a new administrator's first mistakes get from tallyd: an empty or
// missing password file fails -n and startup, -n -b says whether the service
// identity can bind, and without a syslog daemon the lines are not lost.
#include "milter_process.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace tally;
using namespace tally::test;

TEST_CASE("daemon: -n fails on an empty or unreadable password file, and so does startup",
          "[integration][daemon][config]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    const std::string password = m.dir() + "/password";
    SECTION("empty") {
        std::ofstream(password, std::ios::trunc) << "\n";
        CHECK(run_command({MilterProcess::binary(), "-n", "-c", m.config_path()}, m.dir() + "/n.out") == 1);
        CHECK_THAT(read_text(m.dir() + "/n.out"), Catch::Contains("password file " + password + " is empty"));
        CHECK_THROWS_WITH(m.start(), Catch::Contains("is empty"));
    }
    SECTION("missing") {
        std::filesystem::remove(password);
        CHECK(run_command({MilterProcess::binary(), "-n", "-c", m.config_path()}, m.dir() + "/n.out") == 1);
        CHECK_THAT(read_text(m.dir() + "/n.out"), Catch::Contains("cannot read password file " + password));
    }
}

TEST_CASE("daemon: -n -b binds as the service identity and says how it went", "[integration][daemon][config]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    const std::string out = m.dir() + "/b.out";
    CHECK(run_command({MilterProcess::binary(), "-n", "-b", "-c", m.config_path()}, out) == 0);
    CHECK_THAT(read_text(out), Catch::Contains(s.uri() + ": bound as \"" + std::string(kServiceDn) + "\"") &&
                                   Catch::Contains("is valid"));
    std::ofstream(m.dir() + "/password", std::ios::trunc) << "wrong\n";
    CHECK(run_command({MilterProcess::binary(), "-n", "-b", "-c", m.config_path()}, out) == 1);
    CHECK_THAT(read_text(out), Catch::Contains(s.uri() + ": service identity refused: bind as") &&
                                   Catch::Contains("Invalid credentials"));
    std::ofstream(m.dir() + "/password", std::ios::trunc) << kPassword << "\n";
    s.stop();
    CHECK(run_command({MilterProcess::binary(), "-n", "-b", "-c", m.config_path()}, out) == 1);
    CHECK_THAT(read_text(out), Catch::Contains(s.uri() + ": unavailable: "));
    // -b alone is a mistake, said as such
    CHECK(run_command({MilterProcess::binary(), "-b", "-c", m.config_path()}, out) == 2);
}

TEST_CASE("daemon: without a syslog daemon the lines go to log_fallback, said at startup",
          "[integration][daemon][log]") {
    Slapd s(milter_test_directory());
    s.start();
    MilterProcess m(s);
    m.set("log_target", "syslog");
    const std::string fallback = m.dir() + "/fallback.log";
    m.set("log_fallback", fallback);
    m.start();
    m.stop();
    struct stat st{};
    if (stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode)) {
        // a syslog daemon listens here: lines go to it, and nothing is said
        CHECK_THAT(m.log(), !Catch::Contains("no syslog daemon"));
    } else {
        CHECK_THAT(m.log(), Catch::Contains("no syslog daemon listens on /dev/log; logging to " + fallback));
        CHECK_THAT(read_text(fallback), Catch::Contains("tallyd listening on") &&
                                            Catch::Contains("tallyd stopped"));
    }
}
