// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
// Where log lines go: syslog only when a syslog daemon listens, else log_fallback;
// a line to a file or stderr is one write, whole, when it is logged.
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
#include <set>
#include <thread>
#include <vector>

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

TEST_CASE("a file log: every line whole and in the file when log() returns, from many threads at once", "[log]") {
    auto dir = std::filesystem::temp_directory_path() / ("tally-log-lines-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    engine::Config c;
    c.log_target = (dir / "tally.log").string();
    c.log_level = "info";
    std::ofstream(c.log_target) << "a line from before\n";  // appended to, not truncated
    auto read = [&] {
        std::ifstream in(c.log_target);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    };
    auto log = daemon::make_logger(c);
    SECTION("written at once: no flush, no delay") {
        log->info("qid=Q1 verdict=accept");
        CHECK_THAT(read(), Catch::StartsWith("a line from before\n") &&
                               Catch::Contains("tallyd[" + std::to_string(getpid()) + "] info: qid=Q1 verdict=accept\n"));
        log->debug("below the level");
        CHECK_THAT(read(), !Catch::Contains("below the level"));
    }
    SECTION("8 threads, 500 lines each: all of them, none torn") {
        const std::string filler(200, 'x');
        std::vector<std::thread> ts;
        for (int t = 0; t < 8; ++t)
            ts.emplace_back([&, t] {
                for (int i = 0; i < 500; ++i) log->info("qid=T{}N{} {} end", t, i, filler);
            });
        for (auto &t : ts) t.join();
        std::istringstream in(read());
        std::set<std::string> seen;
        int lines = 0;
        for (std::string line; std::getline(in, line); ++lines) {
            if (line == "a line from before") continue;
            auto at = line.find("info: qid=T");
            REQUIRE(at != std::string::npos);
            CHECK_THAT(line, Catch::EndsWith(filler + " end"));
            seen.insert(line.substr(at, line.find(' ', at + 6) - at));
        }
        CHECK(lines == 1 + 8 * 500);
        CHECK(seen.size() == 8u * 500u);
    }
    SECTION("a file that cannot be opened is an error naming it") {
        c.log_target = (dir / "no-such-dir" / "tally.log").string();
        CHECK_THROWS_WITH(daemon::make_logger(c), Catch::Contains(c.log_target));
    }
    log.reset();
    std::filesystem::remove_all(dir);
}
