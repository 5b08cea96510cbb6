/* counter.cpp - counter and charge-record text codecs */
#include "counter.h"

#include <charconv>
#include <vector>

namespace tally {

namespace {

std::vector<std::string_view> split_spaces(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        std::size_t j = i;
        while (j < s.size() && s[j] != ' ') ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

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

std::string encode_counter(const CounterValue &c) {
    std::string s = c.window + " " + c.period + " sid=" + std::to_string(c.sid);
    for (Metric m : kAllMetrics) {
        s += ' ';
        s += metric_name(m);
        s += '=';
        s += std::to_string(c.usage[m]);
    }
    return s;
}

std::optional<CounterValue> decode_counter(std::string_view text) {
    auto tok = split_spaces(text);
    if (tok.size() != 7) return std::nullopt;
    CounterValue c;
    if (!printable_token(tok[0]) || !printable_token(tok[1])) return std::nullopt;
    c.window = std::string(tok[0]);
    c.period = std::string(tok[1]);
    std::uint64_t sid = 0;
    if (!parse_field(tok[2], "sid", sid) || sid > 4095) return std::nullopt;
    c.sid = static_cast<unsigned>(sid);
    for (Metric m : kAllMetrics) {
        if (!parse_field(tok[3 + static_cast<int>(m)], metric_name(m), c.usage[m])) return std::nullopt;
    }
    return c;
}

bool valid_charge_id(std::string_view id) { return id.size() <= 128 && printable_token(id); }

std::string encode_charge_record(const ChargeRecord &r) {
    return std::to_string(r.when) + " " + r.id;
}

std::optional<ChargeRecord> decode_charge_record(std::string_view text) {
    auto tok = split_spaces(text);
    if (tok.size() != 2 || !valid_charge_id(tok[1])) return std::nullopt;
    ChargeRecord r;
    if (!parse_uint(tok[0], r.when)) return std::nullopt;
    r.id = std::string(tok[1]);
    return r;
}

}  // namespace tally
