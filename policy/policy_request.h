// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_request.h - Postfix's policy delegation protocol: one request, read line by line
 *
 * DESCRIPTION
 *   A request is "name=value" lines ended by an empty line
 *   (SMTPD_POLICY_README); the answer is "action=..." and an empty line.
 *   RequestReader takes the lines one at a time, so the listener never
 *   holds more than one bounded line, and refuses what no MTA sends:
 *   a line without '=', control characters (binary data), too many
 *   attributes, an empty request. Such a connection is closed: an answer
 *   to garbage would only teach the peer that garbage works.
 */
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::policy {

inline constexpr std::size_t kMaxLine = 4096;       // Postfix's own attributes are short; certificates fit
inline constexpr std::size_t kMaxAttributes = 128;  // Postfix 3.7 sends about 40

struct PolicyRequest {
    std::map<std::string, std::string, std::less<>> attributes;
    /* get - the attribute's value, nullopt when the request lacks it */
    std::optional<std::string_view> get(std::string_view name) const;
    /* text - the value, or "" when absent */
    std::string text(std::string_view name) const;
};

class RequestReader {
public:
    enum class Status { more, complete, bad };
    /* add_line - one line without its newline; complete: request() holds a
     * whole request (the next add_line starts a fresh one); bad: error()
     * says why, and the connection must be closed */
    Status add_line(std::string_view line);
    /* started - some of a request has arrived (its time limit runs) */
    bool started() const { return !complete_ && !request_.attributes.empty(); }
    const PolicyRequest &request() const { return request_; }
    const std::string &error() const { return error_; }

private:
    using Attributes = decltype(PolicyRequest::attributes);
    Status bad(std::string why);
    PolicyRequest request_;
    /* spare_ - the nodes of the last request, taken out of its map: the next
     * request's attributes go into them, keeping their strings' storage, so
     * that a connection's requests after its first allocate nothing */
    std::vector<Attributes::node_type> spare_;
    bool complete_ = false;
    std::string error_;
};

/* answer_text - the whole answer for an action: "action=ACTION\n\n" */
std::string answer_text(std::string_view action);

}  // namespace tally::policy
