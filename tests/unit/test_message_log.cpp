// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Where log lines go: syslog only when a syslog daemon listens, else log_fallback.
#include "message_log.h"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace tally;

TEST_CASE("without a syslog socket, lines go to log_fallback", "[log]") {
    auto dir = std::filesystem::temp_directory_path() / ("tally-log-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    engine::Config c;
    SECTION("no socket: the fallback") {
        CHECK(daemon::effective_log_target(c, (dir / "no-such-log").string()) == "stderr");
        c.log_fallback = (dir / "tally.log").string();
        CHECK(daemon::effective_log_target(c, (dir / "no-such-log").string()) == c.log_fallback);
    }
    SECTION("a listening socket: syslog") {
        std::string path = (dir / "log").string();
        int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&sun), sizeof sun) == 0);
        CHECK(daemon::effective_log_target(c, path) == "syslog");
        close(fd);
    }
    SECTION("a regular file is not a syslog socket") {
        std::ofstream(dir / "plain") << "x";
        CHECK(daemon::effective_log_target(c, (dir / "plain").string()) == "stderr");
    }
    SECTION("log_target names where lines go whatever /dev/log is") {
        c.log_target = "stderr";
        CHECK(daemon::effective_log_target(c, (dir / "no-such-log").string()) == "stderr");
        c.log_target = (dir / "file.log").string();
        CHECK(daemon::effective_log_target(c, (dir / "no-such-log").string()) == c.log_target);
        auto log = daemon::make_logger(c);
        log->info("qid=Q1 verdict=accept");
        log->flush();
        std::ifstream in(c.log_target);
        std::stringstream text;
        text << in.rdbuf();
        CHECK_THAT(text.str(), Catch::Contains("tallyd[") && Catch::Contains("info: qid=Q1 verdict=accept"));
    }
    std::filesystem::remove_all(dir);
}
