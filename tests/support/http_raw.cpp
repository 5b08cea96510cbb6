// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* http_raw.cpp - raw HTTP/1.x over loopback */
#include "http_raw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

namespace tally::test {

std::string http_raw(int port, const std::string &raw) {
    for (int attempt = 0; attempt < 250; ++attempt) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
            close(fd);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
        std::string out;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        for (;;) {
            int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
                               .count());
            pollfd p{fd, POLLIN, 0};
            if (left <= 0 || poll(&p, 1, left) <= 0) break;
            char buf[8192];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, size_t(n));
        }
        close(fd);
        return out;
    }
    return "";
}

int http_status(const std::string &answer) {
    std::smatch m;
    if (std::regex_search(answer, m, std::regex("^HTTP/1\\.[01] ([0-9]{3}) "))) return std::stoi(m[1]);
    return 0;
}

std::string http_body(const std::string &answer) {
    auto at = answer.find("\r\n\r\n");
    return at == std::string::npos ? "" : answer.substr(at + 4);
}

}  // namespace tally::test
