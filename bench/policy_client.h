// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_client.h - a Postfix policy delegation protocol client over one persistent connection
 *
 * DESCRIPTION
 *   Speaks the protocol of SMTPD_POLICY_README as Postfix's smtpd does:
 *   "name=value" lines ending in an empty line, one answer "action=..."
 *   plus an empty line, many requests over one connection. request() sends
 *   the attributes Postfix 3.7 sends at END-OF-MESSAGE.
 */
#pragma once

#include <string>

namespace tally::bench {

struct PolicyRequest {
    std::string sasl_username;
    std::string sender;
    int recipient_count = 1;
    long size = 0;
    std::string instance;  // unique per message, as Postfix's
    std::string queue_id;
};

class PolicyClient {
public:
    explicit PolicyClient(int port);
    ~PolicyClient();
    PolicyClient(const PolicyClient &) = delete;
    PolicyClient &operator=(const PolicyClient &) = delete;

    bool connected() const { return fd_ >= 0; }
    /* request - one END-OF-MESSAGE request; the action ("dunno", "reject ...") or "" on an I/O error
     * (the connection is closed then; the next request reconnects) */
    std::string request(const PolicyRequest &r);

private:
    bool connect_now();
    int port_;
    int fd_ = -1;
    std::string buf_;
};

}  // namespace tally::bench
