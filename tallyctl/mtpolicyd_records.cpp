// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* mtpolicyd_records.cpp - mtpolicyd accounting rows and limits to Tally */
#include "mtpolicyd_records.h"

#include "limit_rules.h"
#include "overlay_config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

namespace tally::mtpolicyd {

namespace {

constexpr std::size_t kMaxErrors = 20;

/* Record - the fields of one line (or, for quoted CSV, several lines) */
struct Record {
    std::size_t line = 0;
    std::vector<std::optional<std::string>> fields;  // nullopt: SQL NULL (\N)
    std::string error;                               // why the record cannot be read
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string trimmed(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
    return std::string(s.substr(b, e - b));
}

std::string line_prefix(std::size_t line) { return "line " + std::to_string(line) + ": "; }

/* split_csv - RFC 4180 records; errors for an unterminated quote or text after a closing quote */
std::vector<Record> split_csv(std::string_view t, std::vector<std::string> &errors) {
    std::vector<Record> out;
    std::size_t i = 0, line = 1;
    while (i < t.size()) {
        Record rec;
        rec.line = line;
        for (;;) {  // one field per turn
            std::string field;
            if (i < t.size() && t[i] == '"') {
                std::size_t opened = line;
                ++i;
                bool closed = false;
                while (i < t.size()) {
                    if (t[i] == '"') {
                        if (i + 1 < t.size() && t[i + 1] == '"') {
                            field += '"';
                            i += 2;
                            continue;
                        }
                        ++i;
                        closed = true;
                        break;
                    }
                    if (t[i] == '\n') ++line;
                    field += t[i++];
                }
                if (!closed) {
                    errors.push_back(line_prefix(opened) + "a quoted field is never closed");
                    return out;
                }
                if (i < t.size() && t[i] == '\r' && i + 1 < t.size() && t[i + 1] == '\n') ++i;
                if (i < t.size() && t[i] != ',' && t[i] != '\n' && rec.error.empty())
                    rec.error = "text after the closing quote of a field";
                while (i < t.size() && t[i] != ',' && t[i] != '\n') ++i;  // skip the rest after an error
            } else {
                while (i < t.size() && t[i] != ',' && t[i] != '\n') field += t[i++];
                if (!field.empty() && field.back() == '\r' && (i >= t.size() || t[i] == '\n')) field.pop_back();
            }
            rec.fields.emplace_back(std::move(field));
            if (i < t.size() && t[i] == ',') {
                ++i;
                continue;
            }
            if (i < t.size()) {  // the newline
                ++i;
                ++line;
            }
            break;
        }
        bool empty = rec.fields.size() == 1 && rec.fields[0]->empty();
        if (!empty) out.push_back(std::move(rec));
    }
    return out;
}

/* unescape_tsv - mysql's batch escapes: \t \n \r \\ \0 \b \Z; "\N" alone is NULL */
std::optional<std::string> unescape_tsv(std::string_view f) {
    if (f == "\\N") return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] != '\\' || i + 1 == f.size()) {
            out += f[i];
            continue;
        }
        switch (f[++i]) {
        case 't': out += '\t'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'b': out += '\b'; break;
        case 'Z': out += '\x1a'; break;
        default: out += f[i]; break;  // \\ and any other escaped character
        }
    }
    return out;
}

/* split_tsv - one record per line, fields separated by tabs */
std::vector<Record> split_tsv(std::string_view t) {
    std::vector<Record> out;
    std::size_t i = 0, line = 1;
    while (i < t.size()) {
        std::size_t end = t.find('\n', i);
        if (end == std::string_view::npos) end = t.size();
        std::string_view l = t.substr(i, end - i);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (!l.empty()) {
            Record rec;
            rec.line = line;
            std::size_t s = 0;
            for (;;) {
                std::size_t tab = l.find('\t', s);
                rec.fields.push_back(unescape_tsv(l.substr(s, tab == std::string_view::npos ? l.npos : tab - s)));
                if (tab == std::string_view::npos) break;
                s = tab + 1;
            }
            out.push_back(std::move(rec));
        }
        i = end + 1;
        ++line;
    }
    return out;
}

/* whole_number - digits only, within 64 bits */
std::optional<std::uint64_t> whole_number(std::string_view s) {
    std::string t = trimmed(s);
    if (t.empty() || t.size() > 20) return std::nullopt;
    for (char c : t)
        if (c < '0' || c > '9') return std::nullopt;
    errno = 0;
    unsigned long long v = std::strtoull(t.c_str(), nullptr, 10);
    if (errno == ERANGE) return std::nullopt;
    return v;
}

/* column_name - a header cell as a column name: trimmed, unquoted, lower case */
std::string column_name(std::string_view cell) {
    std::string n = trimmed(cell);
    if (n.size() >= 2 && ((n.front() == '`' && n.back() == '`') || (n.front() == '"' && n.back() == '"')))
        n = n.substr(1, n.size() - 2);
    return lower(n);
}

void add_error(std::vector<std::string> &errors, std::string e) {
    if (errors.size() < kMaxErrors) errors.push_back(std::move(e));
    else if (errors.size() == kMaxErrors) errors.push_back("more errors not shown");
}

bool same_text(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

const std::vector<std::string> *values_of(const Entry &e, const std::string &attr) {
    auto it = e.find(lower(attr));
    return it == e.end() ? nullptr : &it->second;
}

}  // namespace

ParseResult parse_acct_table(std::string_view text, Format format, const std::vector<std::string> &columns) {
    ParseResult r;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a byte order mark from spreadsheets
    if (format == Format::automatic) {
        std::string_view first = text.substr(0, text.find('\n'));
        format = first.find('\t') != std::string_view::npos ? Format::tsv : Format::csv;
    }
    std::vector<Record> records = format == Format::csv ? split_csv(text, r.errors) : split_tsv(text);
    if (!r.errors.empty()) return r;

    // Which field holds which needed column.
    std::vector<std::string> names;
    std::size_t first_row = 0;
    if (columns.empty()) {
        if (records.empty()) {
            r.errors.push_back("no header line (it names the columns: key, time, count, count_rcpt, size, size_rcpt)");
            return r;
        }
        if (!records[0].error.empty()) {
            r.errors.push_back(line_prefix(records[0].line) + records[0].error);
            return r;
        }
        for (const auto &f : records[0].fields) names.push_back(f ? column_name(*f) : std::string());
        first_row = 1;
    } else {
        for (const auto &c : columns) names.push_back(column_name(c));
    }
    const std::size_t header_line = columns.empty() ? records[0].line : 0;
    std::array<std::size_t, kColumns.size()> index{};
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
        auto hits = std::count(names.begin(), names.end(), kColumns[c]);
        if (hits == 0)
            r.errors.push_back(std::string(header_line ? line_prefix(header_line) + "the header" : "--columns") +
                               " has no column \"" + kColumns[c] +
                               "\" (needed: key, time, count, count_rcpt, size, size_rcpt)");
        else if (hits > 1)
            r.errors.push_back(std::string(header_line ? line_prefix(header_line) + "the header" : "--columns") +
                               " names column \"" + kColumns[c] + "\" twice");
        else
            index[c] = static_cast<std::size_t>(std::find(names.begin(), names.end(), kColumns[c]) - names.begin());
    }
    if (!r.errors.empty()) return r;

    std::map<std::pair<std::string, std::string>, std::size_t> seen;  // (key, time) -> line
    for (std::size_t k = first_row; k < records.size(); ++k) {
        const Record &rec = records[k];
        const std::string at = line_prefix(rec.line);
        if (!rec.error.empty()) {
            add_error(r.errors, at + rec.error);
            continue;
        }
        if (rec.fields.size() != names.size()) {
            add_error(r.errors, at + std::to_string(rec.fields.size()) + " fields where " +
                                    std::to_string(names.size()) + " columns are named");
            continue;
        }
        AcctRow row;
        row.line = rec.line;
        bool ok = true;
        for (std::size_t c = 0; c < kColumns.size(); ++c) {
            const auto &f = rec.fields[index[c]];
            if (!f) {
                add_error(r.errors, at + kColumns[c] + " is NULL");
                ok = false;
                continue;
            }
            if (c == 0) row.key = *f;
            else if (c == 1) row.time = *f;
            else if (auto n = whole_number(*f)) row.usage.v[c - 2] = *n;
            else {
                add_error(r.errors, at + kColumns[c] + " \"" + *f + "\" is not a whole number");
                ok = false;
            }
        }
        if (ok && (trimmed(row.key).empty() || trimmed(row.time).empty())) {
            add_error(r.errors, at + (trimmed(row.key).empty() ? "key" : "time") + " is empty");
            ok = false;
        }
        if (!ok) continue;
        auto [it, fresh] = seen.emplace(std::make_pair(row.key, row.time), rec.line);
        if (!fresh) {
            add_error(r.errors, at + "key \"" + row.key + "\" and time \"" + row.time + "\" already on line " +
                                    std::to_string(it->second));
            continue;
        }
        r.rows.push_back(std::move(row));
    }
    if (!r.errors.empty()) r.rows.clear();
    return r;
}

std::optional<std::string> time_key(const std::string &pattern, const TimeZone &tz, std::int64_t now,
                                    std::string *error) {
    WindowDef w;
    if (auto e = parse_window("mtpolicyd", pattern, w)) {
        if (error) *error = "time pattern \"" + pattern + "\": " + *e;
        return std::nullopt;
    }
    return tz.period_of(w, now);
}

Selection select_period(const std::vector<AcctRow> &rows, const std::string &key) {
    Selection s;
    for (const AcctRow &r : rows) {
        if (r.time == key) {
            s.current.push_back(r);
        } else {
            ++s.other_rows;
            ++s.other_periods[r.time];
        }
    }
    return s;
}

std::optional<std::string> mysql_query(const std::string &table, const std::string &key) {
    if (table.empty() || table.size() > 64) return std::nullopt;
    for (char c : table)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
    std::string quoted;
    for (char c : key) {
        if (c == '\'' || c == '\\') quoted += '\\';
        if (c == '\0') {
            quoted += "\\0";
            continue;
        }
        quoted += c;
    }
    return "SELECT `key`, `time`, `count`, `count_rcpt`, `size`, `size_rcpt` FROM `" + table +
           "` WHERE `time` = '" + quoted + "'";
}

SourceAttributes default_source_attributes() {
    return {"mtpolicydMailMessageLimit", "mtpolicydMailRecipientLimit", "mtpolicydMailSizeLimit",
            "mtpolicydMailSizeRecipientLimit"};
}

LimitPlan plan_limits(const Entry &entry, const std::string &window, const SourceAttributes &source,
                      bool overwrite) {
    LimitPlan p;
    OverlayConfig defaults;
    for (Metric m : kClassicMetrics) {  // mtpolicyd has these four
        const std::string &src = source[static_cast<int>(m)];
        const auto *vals = values_of(entry, src);
        if (!vals || vals->empty()) continue;
        std::string text = trimmed(vals->front());
        auto lv = parse_limit_value(text);
        if (!lv || lv->kind != LimitValue::Kind::value) {
            p.errors.push_back(src + " \"" + vals->front() + "\" is not a whole number; not copied");
            continue;
        }
        const std::string value = std::to_string(lv->n);
        LimitChange ch;
        ch.metric = m;
        ch.source_attribute = src;
        std::string attr = limit_attribute_name(defaults, window, m);
        std::optional<std::string> current;  // the Tally value there now
        if (!attr.empty()) {
            ch.attribute = attr;
            ch.value = value;
            if (const auto *have = values_of(entry, attr); have && !have->empty()) {
                current = have->front();
                ch.old_values = *have;
            }
        } else {
            ch.attribute = "tallyLimit";
            ch.value = window + " " + std::string(metric_name(m)) + " " + value;
            if (const auto *have = values_of(entry, "tallyLimit")) {
                for (const auto &v : *have) {
                    std::string w;
                    Metric vm;
                    LimitValue lim;
                    if (parse_generic_limit(v, w, vm, lim) == std::nullopt && w == window && vm == m) {
                        ch.old_values.push_back(v);
                        current = format_limit_value(lim);
                    }
                }
            }
        }
        const std::string shown = ch.attribute + (attr.empty() ? ": " : " ") + ch.value;
        auto cur = current ? parse_limit_value(*current) : std::nullopt;
        if (cur && *cur == *lv && ch.old_values.size() == 1) {
            p.unchanged.push_back(shown);
        } else if (current && !overwrite) {
            p.kept.push_back(ch.attribute + (attr.empty() ? ": " + ch.old_values.front() : " " + *current) +
                             " (mtpolicyd says " + value + ")");
        } else {
            p.changes.push_back(std::move(ch));
        }
    }
    if (!p.changes.empty()) {
        const auto *oc = values_of(entry, "objectClass");
        bool has = oc && std::any_of(oc->begin(), oc->end(), [](const std::string &v) {
                       return same_text(v, "tallyAccount");
                   });
        p.add_object_class = !has;
    }
    return p;
}

std::string charge_id(const std::string &period, int part) {
    std::string p;
    for (char c : period) {
        bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':';
        p += plain ? c : '_';
    }
    if (p.size() > 100) p.resize(100);
    return "mtpolicyd:" + p + ":" + std::to_string(part);
}

Usage sum_usage(const std::vector<AcctRow> &rows) {
    Usage u;
    for (const auto &r : rows) u.add(r.usage);
    return u;
}

bool has_usage(const Usage &u) {
    return std::any_of(u.v.begin(), u.v.end(), [](std::uint64_t x) { return x != 0; });
}

ImportCharges charges_for(const std::string &dn, const Usage &usage, const std::string &period) {
    ImportCharges out;
    const std::uint64_t msgs = usage[Metric::messages], rcpts = usage[Metric::recipients];
    const std::uint64_t bytes = usage[Metric::bytes], br = usage[Metric::byteRecipients];
    if (msgs > kMaxRequestCount || rcpts > kMaxRequestCount || bytes > kMaxRequestBytes) {
        out.error = "usage too large for the charge operation (at most " + std::to_string(kMaxRequestCount) +
                    " messages and recipients, " + std::to_string(kMaxRequestBytes) + " bytes)";
        return out;
    }
    // The recipients travel with b bytes, b * rcpts as near size_rcpt as an
    // integer b allows without passing it; the messages with the rest.
    std::uint64_t b = rcpts ? std::min(br / rcpts, bytes) : 0;
    ChargeRequest a;
    a.account = dn;
    a.messages = msgs;
    a.recipients = 0;
    a.bytes = bytes - b;
    a.mode = Mode::count;
    a.charge_id = charge_id(period, 1);
    ChargeRequest r = a;
    r.messages = 0;
    r.recipients = rcpts;
    r.bytes = b;
    r.charge_id = charge_id(period, 2);
    if (a.messages || a.bytes) out.charges.push_back(a);
    if (r.recipients) out.charges.push_back(r);
    for (const auto &c : out.charges) out.imported.add(usage_of_message(c.messages, c.recipients, c.bytes));
    return out;
}

}  // namespace tally::mtpolicyd
