// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_client.cpp - Postfix policy protocol client */
#include "policy_client.h"

#include "process.h"  // connect_loopback

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tally::bench {

PolicyClient::PolicyClient(int port) : port_(port) { connect_now(); }

PolicyClient::~PolicyClient() {
    if (fd_ >= 0) close(fd_);
}

bool PolicyClient::connect_now() {
    fd_ = tally::test::connect_loopback(port_);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buf_.clear();
    return true;
}

std::string PolicyClient::request(const PolicyRequest &r) {
    if (fd_ < 0 && !connect_now()) return "";
    std::string q = "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nprotocol_name=ESMTP\n"
                    "client_address=127.0.0.1\nclient_name=localhost\nreverse_client_name=localhost\n"
                    "client_port=40000\nhelo_name=client.example.net\nsender=" +
                    r.sender + "\nrecipient=\nrecipient_count=" + std::to_string(r.recipient_count) +
                    "\nqueue_id=" + r.queue_id + "\ninstance=" + r.instance +
                    "\nsize=" + std::to_string(r.size) +
                    "\netrn_domain=\nstress=\nsasl_method=PLAIN\nsasl_username=" + r.sasl_username +
                    "\nsasl_sender=\nccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"
                    "encryption_protocol=\nencryption_cipher=\nencryption_keysize=0\nserver_address=127.0.0.1\n"
                    "server_port=25\npolicy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n";
    std::size_t done = 0;
    while (done < q.size()) {
        ssize_t n = ::send(fd_, q.data() + done, q.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd_);
            fd_ = -1;
            return "";
        }
        done += static_cast<std::size_t>(n);
    }
    for (;;) {
        auto end = buf_.find("\n\n");
        if (end != std::string::npos) {
            std::string answer = buf_.substr(0, end);
            buf_.erase(0, end + 2);
            auto at = answer.find("action=");
            if (at == std::string::npos) return "";
            auto nl = answer.find('\n', at);
            return answer.substr(at + 7, nl == std::string::npos ? std::string::npos : nl - at - 7);
        }
        char chunk[4096];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd_);
            fd_ = -1;
            return "";
        }
        buf_.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace tally::bench
