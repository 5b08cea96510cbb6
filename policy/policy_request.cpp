// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* policy_request.cpp - parse policy requests line by line */
#include "policy_request.h"

namespace tally::policy {

std::optional<std::string_view> PolicyRequest::get(std::string_view name) const {
    auto it = attributes.find(name);
    if (it == attributes.end()) return std::nullopt;
    return std::string_view(it->second);
}

std::string PolicyRequest::text(std::string_view name) const { return std::string(get(name).value_or("")); }

RequestReader::Status RequestReader::bad(std::string why) {
    error_ = std::move(why);
    return Status::bad;
}

RequestReader::Status RequestReader::add_line(std::string_view line) {
    if (complete_) {
        request_ = PolicyRequest{};
        complete_ = false;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // hand-typed or Windows tools
    if (line.empty()) {
        if (request_.attributes.empty()) return bad("empty request (an empty line before any name=value)");
        complete_ = true;
        return Status::complete;
    }
    if (line.size() > kMaxLine) return bad("line longer than " + std::to_string(kMaxLine) + " bytes");
    for (unsigned char ch : line)
        if ((ch < ' ' && ch != '\t') || ch == 0x7f) return bad("control character in a line (binary data?)");
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return bad("line without name=value");
    if (request_.attributes.size() >= kMaxAttributes)
        return bad("more than " + std::to_string(kMaxAttributes) + " attributes in one request");
    request_.attributes.insert_or_assign(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    return Status::more;
}

std::string answer_text(std::string_view action) { return "action=" + std::string(action) + "\n\n"; }

}  // namespace tally::policy
