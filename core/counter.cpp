// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* counter.cpp - counter and charge-record text codecs */
#include "counter.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

namespace tally {

namespace {

template <typename T>
bool parse_uint(std::string_view s, T &out) {
    if (s.empty() || s.size() > 20) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

/* parse_field - "key=value" with the expected key */
bool parse_field(std::string_view tok, std::string_view key, std::uint64_t &out) {
    if (tok.size() <= key.size() + 1 || tok.substr(0, key.size()) != key || tok[key.size()] != '=')
        return false;
    return parse_uint(tok.substr(key.size() + 1), out);
}

bool printable_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (c <= ' ' || c >= 0x7f) return false;
    return true;
}

}  // namespace

namespace {
/* FieldWriter - writes into a string sized once for the longest possible
 * value: every charge encodes a few counters, one allocation each */
class FieldWriter {
public:
    explicit FieldWriter(std::size_t capacity) : out_(capacity, '\0'), p_(out_.data()) {}
    void text(std::string_view t) {
        std::memcpy(p_, t.data(), t.size());
        p_ += t.size();
    }
    void field(std::string_view key, std::uint64_t v) {
        *p_++ = ' ';
        text(key);
        *p_++ = '=';
        p_ = std::to_chars(p_, out_.data() + out_.size(), v).ptr;
    }
    std::string take() {
        out_.resize(static_cast<std::size_t>(p_ - out_.data()));
        return std::move(out_);
    }

private:
    std::string out_;
    char *p_;
};

/* the longest fields part: " sid=", " byteRecipients=" x4, the optional
 * " externalRecipients=" and the three optional fields, each with 20
 * digits, is 294 characters */
constexpr std::size_t kMaxFieldsLength = 320;

/* kClassicMetrics are in every value; externalRecipients is written only
 * when not 0, so values without it (written before it existed, or by an
 * account that never wrote outside) stay as they were, and a server that
 * does not know the field still reads them. */
}  // namespace

std::string encode_counter(const CounterValue &c) {
    FieldWriter w(c.window.size() + 1 + c.period.size() + kMaxFieldsLength);
    w.text(c.window);
    w.text(" ");
    w.text(c.period);
    w.field("sid", c.sid);
    for (Metric m : kClassicMetrics) w.field(metric_name(m), c.usage[m]);
    if (c.usage[Metric::externalRecipients] > 0)
        w.field(metric_name(Metric::externalRecipients), c.usage[Metric::externalRecipients]);
    if (c.limit_hit > 0) w.field("limitHit", static_cast<std::uint64_t>(c.limit_hit));
    if (c.warned > 0) w.field("warned", static_cast<std::uint64_t>(c.warned));
    if (c.since > 0) w.field("since", static_cast<std::uint64_t>(c.since));
    if (c.reset > 0) w.field("reset", static_cast<std::uint64_t>(c.reset));
    return w.take();
}

std::optional<CounterValue> decode_counter(std::string_view text) {
    // At most 12 space-separated tokens; a 13th means malformed.
    std::string_view tok[13];
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size() && n < 13;) {
        while (i < text.size() && text[i] == ' ') ++i;
        std::size_t j = i;
        while (j < text.size() && text[j] != ' ') ++j;
        if (j > i) tok[n++] = text.substr(i, j - i);
        i = j;
    }
    if (n < 7 || n > 12) return std::nullopt;
    CounterValue c;
    if (!printable_token(tok[0]) || !printable_token(tok[1])) return std::nullopt;
    c.window = std::string(tok[0]);
    c.period = std::string(tok[1]);
    std::uint64_t sid = 0;
    if (!parse_field(tok[2], "sid", sid) || sid > 4095) return std::nullopt;
    c.sid = static_cast<unsigned>(sid);
    for (Metric m : kClassicMetrics) {
        if (!parse_field(tok[3 + static_cast<int>(m)], metric_name(m), c.usage[m])) return std::nullopt;
    }
    std::size_t next = 7;
    // externalRecipients: optional (absent is 0), right after the four.
    const std::string_view ext = metric_name(Metric::externalRecipients);
    if (next < n && tok[next].size() > ext.size() && tok[next].starts_with(ext) && tok[next][ext.size()] == '=') {
        if (!parse_field(tok[next], ext, c.usage[Metric::externalRecipients])) return std::nullopt;
        ++next;
    }
    // Optional fields, in this order, each at most once, never 0.
    const std::pair<std::string_view, std::int64_t CounterValue::*> optional[] = {
        {"limitHit", &CounterValue::limit_hit},
        {"warned", &CounterValue::warned},
        {"since", &CounterValue::since},
        {"reset", &CounterValue::reset}};
    for (auto [key, field] : optional) {
        std::uint64_t v = 0;
        if (next < n && tok[next].size() > key.size() && tok[next].starts_with(key) && tok[next][key.size()] == '=') {
            if (!parse_field(tok[next], key, v) || v == 0 || v > (1ull << 40)) return std::nullopt;
            c.*field = static_cast<std::int64_t>(v);
            ++next;
        }
    }
    if (next != n) return std::nullopt;
    return c;
}

bool valid_charge_id(std::string_view id) { return id.size() <= 128 && printable_token(id); }

namespace {
/* parse_record - "EPOCH:ID", or "EPOCH~:ID" for a cancelled charge */
bool parse_record(std::string_view tok, std::int64_t &when, std::string_view &id, bool &cancelled) {
    auto colon = tok.find(':');
    if (tok.empty() || colon == std::string_view::npos) return false;
    std::string_view epoch = tok.substr(0, colon);
    cancelled = !epoch.empty() && epoch.back() == '~';
    if (cancelled) epoch.remove_suffix(1);
    id = tok.substr(colon + 1);
    return parse_uint(epoch, when) && valid_charge_id(id);
}

/* for_each_record - calls f(when, id, cancelled) for each well-formed record */
template <typename F>
void for_each_record(std::string_view raw, F f) {
    std::size_t i = 0;
    while (i < raw.size()) {
        while (i < raw.size() && raw[i] == ' ') ++i;
        std::size_t j = raw.find(' ', i);
        if (j == std::string_view::npos) j = raw.size();
        std::int64_t when = 0;
        std::string_view id;
        bool cancelled = false;
        if (parse_record(raw.substr(i, j - i), when, id, cancelled)) f(when, id, cancelled);
        i = j;
    }
}
}  // namespace

std::size_t RecentCharges::size() const {
    std::size_t n = 0;
    for_each_record(raw_, [&](std::int64_t, std::string_view, bool) { ++n; });
    return n;
}

bool RecentCharges::contains(std::string_view id, std::int64_t since) const {
    // Asked on every charge: compare ids first, parse a record only when its id matches.
    std::size_t i = 0;
    while (i < raw_.size()) {
        std::size_t j = raw_.find(' ', i);
        if (j == std::string::npos) j = raw_.size();
        std::string_view tok(raw_.data() + i, j - i);
        if (tok.size() > id.size() && tok.ends_with(id) && tok[tok.size() - id.size() - 1] == ':') {
            std::int64_t when = 0;
            std::string_view rid;
            bool cancelled = false;
            if (parse_record(tok, when, rid, cancelled) && rid == id && when >= since) return true;
        }
        i = j + 1;
    }
    return false;
}

std::optional<std::int64_t> RecentCharges::cancel(std::string_view id, std::int64_t since, std::int64_t now) {
    bool counted = false, tombstone = false;
    std::int64_t counted_at = 0;
    for_each_record(raw_, [&](std::int64_t when, std::string_view rid, bool cancelled) {
        if (rid != id || when < since) return;
        if (cancelled) tombstone = true;
        else {
            counted = true;
            counted_at = when;
        }
    });
    if (counted) {
        // Rewrite every counted record of id as cancelled, in place.
        std::string out;
        for_each_record(raw_, [&](std::int64_t when, std::string_view rid, bool cancelled) {
            if (!out.empty()) out += ' ';
            out += std::to_string(when);
            if (cancelled || (rid == id && when >= since)) out += '~';
            out += ':';
            out += rid;
        });
        raw_ = std::move(out);
    } else if (!tombstone) {
        add(now, id);
        raw_.insert(raw_.size() - id.size() - 1, "~");  // the record just added becomes "EPOCH~:ID"
    }
    if (counted) return counted_at;
    return std::nullopt;
}

bool RecentCharges::prune(std::int64_t since, std::size_t max) {
    // Records are oldest first, so everything to drop is a prefix: walk from
    // the front and stop at the first record that stays (a charge usually
    // drops one record or none; nothing else is parsed).
    std::size_t count = raw_.empty() ? 0 : 1;
    for (char c : raw_) count += c == ' ';
    std::size_t pos = 0;
    while (pos < raw_.size()) {
        std::size_t end = raw_.find(' ', pos);
        if (end == std::string::npos) end = raw_.size();
        std::string_view tok(raw_.data() + pos, end - pos);
        std::int64_t when = 0;
        std::string_view id;
        bool cancelled = false;
        bool well_formed = parse_record(tok, when, id, cancelled);
        if (well_formed && when >= since && count <= max) break;
        --count;
        pos = end < raw_.size() ? end + 1 : end;
    }
    if (pos == 0) return false;
    raw_.erase(0, pos);
    return true;
}

void RecentCharges::add(std::int64_t when, std::string_view id) {
    if (!raw_.empty()) raw_ += ' ';
    raw_ += std::to_string(when);
    raw_ += ':';
    raw_ += id;
}

RecentCharges merge_recent(const RecentCharges &a, const RecentCharges &b) {
    struct Record {
        std::int64_t when;
        std::string token;
    };
    std::vector<Record> all;
    auto collect = [&](const RecentCharges &r) {
        for_each_record(r.raw(), [&](std::int64_t when, std::string_view id, bool cancelled) {
            all.push_back({when, std::to_string(when) + (cancelled ? "~:" : ":") + std::string(id)});
        });
    };
    collect(a);
    collect(b);
    std::stable_sort(all.begin(), all.end(), [](const Record &x, const Record &y) { return x.when < y.when; });
    RecentCharges out;
    std::string raw;
    for (std::size_t i = 0; i < all.size(); ++i) {
        bool seen = false;
        for (std::size_t j = 0; j < i && !seen; ++j) seen = all[j].token == all[i].token;
        if (seen) continue;
        if (!raw.empty()) raw += ' ';
        raw += all[i].token;
    }
    return RecentCharges(std::move(raw));
}

std::string encode_recent(unsigned sid, const RecentCharges &r) {
    return sid == 0 ? r.raw() : "sid=" + std::to_string(sid) + " " + r.raw();
}

std::optional<std::pair<unsigned, RecentCharges>> decode_recent(std::string_view text) {
    unsigned sid = 0;
    if (text.starts_with("sid=")) {
        auto sp = text.find(' ');
        std::uint64_t v = 0;
        if (sp == std::string_view::npos || !parse_field(text.substr(0, sp), "sid", v) || v == 0 || v > 4095)
            return std::nullopt;
        sid = static_cast<unsigned>(v);
        text.remove_prefix(sp + 1);
    }
    return std::make_pair(sid, RecentCharges(std::string(text)));
}

}  // namespace tally
