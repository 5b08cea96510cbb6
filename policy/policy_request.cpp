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
        auto &attrs = request_.attributes;
        while (!attrs.empty()) spare_.push_back(attrs.extract(attrs.begin()));
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
    const std::string_view name = line.substr(0, eq), value = line.substr(eq + 1);
    auto &attrs = request_.attributes;
    if (spare_.empty()) spare_.push_back(Attributes{{std::string(), std::string()}}.extract(std::string()));
    Attributes::node_type node = std::move(spare_.back());
    spare_.pop_back();
    node.key().assign(name);
    node.mapped().assign(value);
    auto placed = attrs.insert(std::move(node));
    if (!placed.inserted) {  // the same name again: the last value counts
        placed.position->second.swap(placed.node.mapped());
        spare_.push_back(std::move(placed.node));
    }
    return Status::more;
}

std::string answer_text(std::string_view action) { return "action=" + std::string(action) + "\n\n"; }

}  // namespace tally::policy
