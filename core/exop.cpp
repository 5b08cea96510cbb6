// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* exop.cpp - BER codec of the charge and reset extended operations (spec: exop.md) */
#include "exop.h"

#include "counter.h"

#include <lber.h>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>

namespace tally {

namespace {

constexpr ber_tag_t kTagChargeId = 0x80;  // [0] primitive
constexpr ber_tag_t kTagMode = 0x81;      // [1] primitive
constexpr ber_tag_t kTagExternal = 0x82;  // request: [2] primitive
constexpr ber_tag_t kTagExceeded = 0xa0;  // [0] constructed
constexpr ber_tag_t kTagFirstHit = 0x81;  // response: [1] primitive
constexpr ber_tag_t kTagLevel = 0x82;     // response: [2] primitive
constexpr ber_tag_t kTagAggregate = 0xa3; // response: [3] constructed
constexpr ber_tag_t kTagWarning = 0xa4;   // response: [4] constructed
constexpr ber_tag_t kTagWindow = 0x80;    // reset: [0] primitive

struct BerFree {
    void operator()(BerElement *b) const { ber_free(b, 1); }
};
using BerPtr = std::unique_ptr<BerElement, BerFree>;

/* Int64Content - the minimal two's complement octets of v, without allocating */
struct Int64Content {
    unsigned char buf[8];
    int start = 0;
    explicit Int64Content(std::int64_t v) {
        for (int i = 7; i >= 0; --i) {
            buf[i] = static_cast<unsigned char>(v & 0xff);
            v >>= 8;  // arithmetic shift keeps the sign
        }
        while (start < 7 && ((buf[start] == 0x00 && !(buf[start + 1] & 0x80)) ||
                             (buf[start] == 0xff && (buf[start + 1] & 0x80))))
            ++start;
    }
    const char *data() const { return reinterpret_cast<const char *>(buf + start); }
    ber_len_t size() const { return static_cast<ber_len_t>(8 - start); }
};

std::int64_t wire_value(std::uint64_t v) {
    return v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(v);
}

/* BerWriter - liblber with 64-bit integers, which ber_printf's 'i' cannot hold */
class BerWriter {
public:
    BerWriter() : ber_(ber_alloc_t(LBER_USE_DER)) {}
    void begin(ber_tag_t tag = LBER_SEQUENCE) { ber_printf(ber_.get(), "t{", tag); }
    void end() { ber_printf(ber_.get(), "N}"); }
    void integer(std::int64_t v, ber_tag_t tag = LBER_INTEGER) {
        Int64Content c(v);
        ber_printf(ber_.get(), "to", tag, c.data(), c.size());
    }
    void octets(std::string_view s, ber_tag_t tag = LBER_OCTETSTRING) {
        ber_printf(ber_.get(), "to", tag, s.data(), static_cast<ber_len_t>(s.size()));
    }
    /* window - SEQUENCE { name, period, SEQUENCE OF 4 integers, SEQUENCE OF 4
     * integers } in one call: a response holds one per window, and each
     * ber_printf call has a fixed cost */
    void window(std::string_view name, std::string_view period, const std::array<std::int64_t, kMetricCount> &a,
                const std::array<std::int64_t, kMetricCount> &b, bool external) {
        const Int64Content x[10] = {Int64Content(a[0]), Int64Content(a[1]), Int64Content(a[2]), Int64Content(a[3]),
                                    Int64Content(b[0]), Int64Content(b[1]), Int64Content(b[2]), Int64Content(b[3]),
                                    Int64Content(a[4]), Int64Content(b[4])};
        const ber_tag_t i = LBER_INTEGER;
        if (!external) {
            ber_printf(ber_.get(), "{oo{totototoN}{totototoN}N}", name.data(), static_cast<ber_len_t>(name.size()),
                       period.data(), static_cast<ber_len_t>(period.size()), i, x[0].data(), x[0].size(), i,
                       x[1].data(), x[1].size(), i, x[2].data(), x[2].size(), i, x[3].data(), x[3].size(), i,
                       x[4].data(), x[4].size(), i, x[5].data(), x[5].size(), i, x[6].data(), x[6].size(), i,
                       x[7].data(), x[7].size());
            return;
        }
        ber_printf(ber_.get(), "{oo{tototototoN}{tototototoN}N}", name.data(), static_cast<ber_len_t>(name.size()),
                   period.data(), static_cast<ber_len_t>(period.size()), i, x[0].data(), x[0].size(), i, x[1].data(),
                   x[1].size(), i, x[2].data(), x[2].size(), i, x[3].data(), x[3].size(), i, x[8].data(), x[8].size(),
                   i, x[4].data(), x[4].size(), i, x[5].data(), x[5].size(), i, x[6].data(), x[6].size(), i,
                   x[7].data(), x[7].size(), i, x[9].data(), x[9].size());
    }
    /* window_with_warnings - window() with all five metrics and, after the
     * limits, the warning thresholds (rare: only where some are set, so
     * the usual path above stays one ber_printf) */
    void window_with_warnings(std::string_view name, std::string_view period,
                              const std::array<std::int64_t, kMetricCount> &a,
                              const std::array<std::int64_t, kMetricCount> &b,
                              const std::array<std::int64_t, kMetricCount> &warn) {
        begin();
        octets(name);
        octets(period);
        for (const auto *values : {&a, &b, &warn}) {
            begin();
            for (std::int64_t v : *values) integer(v);
            end();
        }
        end();
    }
    std::string take() {
        struct berval *bv = nullptr;
        if (ber_flatten(ber_.get(), &bv) != 0 || !bv) return {};
        std::string out(bv->bv_val, bv->bv_len);
        ber_bvfree(bv);
        return out;
    }

private:
    BerPtr ber_;
};

/* BerReader - strict reading: every element's tag and length is checked and
 * constructed elements must be consumed exactly. Errors are sticky. */
class BerReader {
public:
    explicit BerReader(std::string_view data) {
        struct berval bv;
        bv.bv_val = const_cast<char *>(data.data());
        bv.bv_len = data.size();
        ber_.reset(ber_init(&bv));
    }
    bool ok() const { return error_.empty() && ber_; }
    const std::string &error() const { return error_; }
    void fail(std::string e) {
        if (error_.empty()) error_ = std::move(e);
    }

    ber_len_t remaining() {
        ber_len_t r = 0;
        if (ber_) ber_get_option(ber_.get(), LBER_OPT_REMAINING_BYTES, &r);
        return r;
    }
    ber_tag_t peek() {
        if (!ok()) return LBER_DEFAULT;
        ber_len_t len;
        return ber_peek_tag(ber_.get(), &len);
    }
    /* enter - step into a constructed element; returns the remaining byte
     * count at which it ends */
    ber_len_t enter(ber_tag_t tag, const char *what) {
        if (!ok()) return 0;
        ber_len_t len = 0;
        ber_tag_t t = ber_skip_tag(ber_.get(), &len);
        if (t == LBER_DEFAULT) {
            fail(std::string(what) + ": truncated, or a length beyond the end of the data");
            return 0;
        }
        if (t != tag) {
            fail(std::string(what) + ": expected a constructed element");
            return 0;
        }
        ber_len_t rem = remaining();
        if (len > rem) {
            fail(std::string(what) + ": length beyond end of data");
            return 0;
        }
        return rem - len;
    }
    bool at_end(ber_len_t end) { return !ok() || remaining() <= end; }
    void leave(ber_len_t end, const char *what) {
        if (ok() && remaining() != end) fail(std::string(what) + ": unexpected extra element");
    }
    std::string_view octets(ber_tag_t tag, const char *what, std::size_t max_len) {
        struct berval bv = {0, nullptr};
        if (!ok()) return {};
        if (peek() != tag) {
            fail(std::string(what) + " missing or of the wrong type");
            return {};
        }
        // ber_get_stringbv is what ber_scanf's "m" does, without parsing a format per element
        if (ber_get_stringbv(ber_.get(), &bv, LBER_BV_NOTERM) == LBER_DEFAULT) {
            fail(std::string(what) + ": bad length");
            return {};
        }
        if (bv.bv_len > max_len) {
            fail(std::string(what) + " too long");
            return {};
        }
        return {bv.bv_val, bv.bv_len};
    }
    std::int64_t integer(ber_tag_t tag, const char *what) {
        std::string_view c = octets(tag, what, 8);
        if (!ok()) return 0;
        if (c.empty()) {
            fail(std::string(what) + ": empty integer");
            return 0;
        }
        std::int64_t v = (static_cast<unsigned char>(c[0]) & 0x80) ? -1 : 0;
        for (unsigned char b : c) v = static_cast<std::int64_t>((static_cast<std::uint64_t>(v) << 8) | b);
        return v;
    }
    std::uint64_t count(ber_tag_t tag, const char *what, std::uint64_t max) {
        std::int64_t v = integer(tag, what);
        if (ok() && (v < 0 || static_cast<std::uint64_t>(v) > max))
            fail(std::string(what) + " out of range (0.." + std::to_string(max) + ")");
        return ok() ? static_cast<std::uint64_t>(v) : 0;
    }
    /* limit - an INTEGER that is a limit: -1 for unlimited, else 0.. */
    std::optional<std::uint64_t> limit(const char *what) {
        std::int64_t v = integer(LBER_INTEGER, what);
        if (ok() && v < -1) fail(std::string(what) + " out of range");
        if (!ok() || v < 0) return std::nullopt;
        return static_cast<std::uint64_t>(v);
    }
    void finish() {
        if (ok() && remaining() != 0) fail("trailing data after the request");
    }

private:
    BerPtr ber_;
    std::string error_;
};

void check_printable(BerReader &r, std::string_view s, const char *what) {
    for (unsigned char c : s)
        if (c == 0) {
            r.fail(std::string(what) + " contains a NUL byte");
            return;
        }
}

}  // namespace

std::string_view mode_name(Mode m) {
    switch (m) {
    case Mode::charge: return "charge";
    case Mode::check: return "check";
    case Mode::count: return "count";
    case Mode::cancel: return "cancel";
    }
    return "?";
}

std::string_view verdict_name(Verdict v) {
    switch (v) {
    case Verdict::accepted: return "accepted";
    case Verdict::refused: return "refused";
    case Verdict::duplicate: return "duplicate";
    }
    return "?";
}

std::string encode_charge_request(const ChargeRequest &r) {
    BerWriter w;
    w.begin();
    w.octets(r.account);
    w.integer(wire_value(r.messages));
    w.integer(wire_value(r.recipients));
    w.integer(wire_value(r.bytes));
    if (!r.charge_id.empty()) w.octets(r.charge_id, kTagChargeId);
    if (r.mode != Mode::charge) w.integer(static_cast<int>(r.mode), kTagMode);
    // Only when there are any: an overlay from before the metric refuses the field.
    if (r.external_recipients > 0) w.integer(wire_value(r.external_recipients), kTagExternal);
    w.end();
    return w.take();
}

std::optional<std::string> decode_charge_request(std::string_view ber, ChargeRequest &out) {
    if (ber.empty()) return "empty request value";
    BerReader r(ber);
    ChargeRequest q;
    ber_len_t end = r.enter(LBER_SEQUENCE, "charge request");
    q.account = std::string(r.octets(LBER_OCTETSTRING, "account DN", kMaxDnLength));
    check_printable(r, q.account, "account DN");
    if (r.ok() && q.account.empty()) r.fail("account DN is empty");
    q.messages = r.count(LBER_INTEGER, "messages", kMaxRequestCount);
    q.recipients = r.count(LBER_INTEGER, "recipients", kMaxRequestCount);
    q.bytes = r.count(LBER_INTEGER, "bytes", kMaxRequestBytes);
    if (!r.at_end(end) && r.peek() == kTagChargeId) {
        q.charge_id = std::string(r.octets(kTagChargeId, "charge id", 128));
        if (r.ok() && !valid_charge_id(q.charge_id))
            r.fail("charge id must be 1-128 printable ASCII characters without spaces");
    }
    if (!r.at_end(end) && r.peek() == kTagMode) {
        std::uint64_t m = r.count(kTagMode, "mode", 3);
        q.mode = static_cast<Mode>(m);
        if (r.ok() && q.mode == Mode::cancel && q.charge_id.empty()) r.fail("mode cancel needs a charge id");
    }
    if (!r.at_end(end) && r.peek() == kTagExternal) {
        q.external_recipients = r.count(kTagExternal, "externalRecipients", kMaxRequestCount);
        if (r.ok() && q.external_recipients > q.recipients) r.fail("externalRecipients exceeds recipients");
    }
    r.leave(end, "charge request");
    r.finish();
    if (!r.ok()) return r.error();
    out = std::move(q);
    return std::nullopt;
}

namespace {

/* write_windows - SEQUENCE OF window reports */
void write_windows(BerWriter &w, const std::vector<WindowReport> &windows) {
    w.begin();
    for (const WindowReport &wr : windows) {
        std::array<std::int64_t, kMetricCount> usage{}, limits{};
        for (Metric m : kAllMetrics) usage[static_cast<std::size_t>(m)] = wire_value(wr.usage[m]);
        for (std::size_t k = 0; k < limits.size(); ++k) limits[k] = wr.limits[k] ? wire_value(*wr.limits[k]) : -1;
        // The fifth metric only when it says something: a client from
        // before it reads every other response unchanged.
        const std::size_t ext = static_cast<std::size_t>(Metric::externalRecipients);
        // Warning thresholds only where some are set (exop.md).
        if (std::any_of(wr.warnings.begin(), wr.warnings.end(), [](const auto &t) { return t.has_value(); })) {
            std::array<std::int64_t, kMetricCount> warn{};
            for (std::size_t k = 0; k < warn.size(); ++k) warn[k] = wr.warnings[k] ? wire_value(*wr.warnings[k]) : -1;
            w.window_with_warnings(wr.window, wr.period, usage, limits, warn);
            continue;
        }
        w.window(wr.window, wr.period, usage, limits, usage[ext] != 0 || limits[ext] != -1);
    }
    w.end();
}

/* read_windows - the inverse of write_windows */
void read_windows(BerReader &r, std::vector<WindowReport> &out) {
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    ber_len_t wend = r.enter(LBER_SEQUENCE, "windows");
    while (r.ok() && !r.at_end(wend)) {
        if (out.size() >= 64) {
            r.fail("more than 64 windows");
            break;
        }
        WindowReport wr;
        ber_len_t one = r.enter(LBER_SEQUENCE, "window");
        wr.window = std::string(r.octets(LBER_OCTETSTRING, "window name", 64));
        wr.period = std::string(r.octets(LBER_OCTETSTRING, "window period", 256));
        ber_len_t uend = r.enter(LBER_SEQUENCE, "usage");
        // Four metrics, or five with externalRecipients (exop.md).
        for (Metric m : kAllMetrics) {
            if (m == Metric::externalRecipients && r.at_end(uend)) break;
            wr.usage[m] = r.count(LBER_INTEGER, "usage", kMax);
        }
        r.leave(uend, "usage");
        ber_len_t lend = r.enter(LBER_SEQUENCE, "limits");
        for (auto &l : wr.limits) {
            if (&l == &wr.limits.back() && r.at_end(lend)) break;
            l = r.limit("limit");
        }
        r.leave(lend, "limits");
        if (!r.at_end(one)) {
            ber_len_t tend = r.enter(LBER_SEQUENCE, "warnings");
            for (auto &t : wr.warnings) t = r.limit("warning threshold");
            r.leave(tend, "warnings");
        }
        r.leave(one, "window");
        out.push_back(std::move(wr));
    }
    r.leave(wend, "windows");
}

}  // namespace

std::string encode_charge_response(const ChargeResponse &r) {
    BerWriter w;
    w.begin();
    w.integer(static_cast<int>(r.verdict), LBER_ENUMERATED);
    if (r.exceeded) {
        w.begin(kTagExceeded);
        w.octets(r.exceeded->window);
        w.integer(static_cast<int>(r.exceeded->metric), LBER_ENUMERATED);
        w.integer(wire_value(r.exceeded->limit));
        w.integer(wire_value(r.exceeded->usage));
        w.end();
    }
    write_windows(w, r.windows);
    if (r.first_hit) w.integer(-1, kTagFirstHit);  // DER TRUE is 0xff; FALSE is the default, not sent
    // Both absent without an aggregate: such a response is what older clients decode.
    if (r.exceeded && r.exceeded->level != Level::account)
        w.integer(static_cast<int>(r.exceeded->level), kTagLevel);
    if (!r.aggregate_dn.empty()) {
        w.begin(kTagAggregate);
        w.octets(r.aggregate_dn);
        write_windows(w, r.aggregate_windows);
        w.end();
    }
    // Absent but on the one reply that first reaches a warning threshold.
    if (r.warning) {
        w.begin(kTagWarning);
        w.octets(r.warning->window);
        w.integer(static_cast<int>(r.warning->metric), LBER_ENUMERATED);
        w.integer(wire_value(r.warning->threshold));
        w.integer(wire_value(r.warning->usage));
        w.integer(r.warning->limit ? wire_value(*r.warning->limit) : -1);
        w.end();
    }
    w.end();
    return w.take();
}

std::optional<std::string> decode_charge_response(std::string_view ber, ChargeResponse &out) {
    if (ber.empty()) return "empty response value";
    BerReader r(ber);
    ChargeResponse s;
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    ber_len_t end = r.enter(LBER_SEQUENCE, "charge response");
    s.verdict = static_cast<Verdict>(r.count(LBER_ENUMERATED, "verdict", 2));
    if (!r.at_end(end) && r.peek() == kTagExceeded) {
        ber_len_t xend = r.enter(kTagExceeded, "exceeded");
        Exceeded x;
        x.window = std::string(r.octets(LBER_OCTETSTRING, "exceeded window", 64));
        x.metric = static_cast<Metric>(r.count(LBER_ENUMERATED, "exceeded metric", kMetricCount - 1));
        x.limit = r.count(LBER_INTEGER, "exceeded limit", kMax);
        x.usage = r.count(LBER_INTEGER, "exceeded usage", kMax);
        r.leave(xend, "exceeded");
        s.exceeded = x;
    }
    read_windows(r, s.windows);
    if (!r.at_end(end) && r.peek() == kTagFirstHit) s.first_hit = r.integer(kTagFirstHit, "firstHit") != 0;
    if (!r.at_end(end) && r.peek() == kTagLevel) {
        auto level = static_cast<Level>(r.count(kTagLevel, "level", 1));
        if (r.ok() && !s.exceeded) r.fail("level without exceeded");
        if (r.ok()) s.exceeded->level = level;
    }
    if (!r.at_end(end) && r.peek() == kTagAggregate) {
        ber_len_t aend = r.enter(kTagAggregate, "aggregate");
        s.aggregate_dn = std::string(r.octets(LBER_OCTETSTRING, "aggregate DN", kMaxDnLength));
        check_printable(r, s.aggregate_dn, "aggregate DN");
        if (r.ok() && s.aggregate_dn.empty()) r.fail("aggregate DN is empty");
        read_windows(r, s.aggregate_windows);
        r.leave(aend, "aggregate");
    }
    if (!r.at_end(end) && r.peek() == kTagWarning) {
        ber_len_t wend = r.enter(kTagWarning, "warning");
        Warning x;
        x.window = std::string(r.octets(LBER_OCTETSTRING, "warning window", 64));
        x.metric = static_cast<Metric>(r.count(LBER_ENUMERATED, "warning metric", kMetricCount - 1));
        x.threshold = r.count(LBER_INTEGER, "warning threshold", kMax);
        x.usage = r.count(LBER_INTEGER, "warning usage", kMax);
        x.limit = r.limit("warning limit");
        r.leave(wend, "warning");
        s.warning = x;
    }
    r.leave(end, "charge response");
    r.finish();
    if (!r.ok()) return r.error();
    out = std::move(s);
    return std::nullopt;
}


std::string encode_reset_request(const ResetRequest &r) {
    BerWriter w;
    w.begin();
    w.octets(r.account);
    if (!r.window.empty()) w.octets(r.window, kTagWindow);
    w.end();
    return w.take();
}

std::optional<std::string> decode_reset_request(std::string_view ber, ResetRequest &out) {
    if (ber.empty()) return "empty request value";
    BerReader r(ber);
    ResetRequest q;
    ber_len_t end = r.enter(LBER_SEQUENCE, "reset request");
    q.account = std::string(r.octets(LBER_OCTETSTRING, "account DN", kMaxDnLength));
    check_printable(r, q.account, "account DN");
    if (r.ok() && q.account.empty()) r.fail("account DN is empty");
    if (!r.at_end(end) && r.peek() == kTagWindow) {
        q.window = std::string(r.octets(kTagWindow, "window", 32));
        if (r.ok() && q.window.empty()) r.fail("window name is empty");
    }
    r.leave(end, "reset request");
    r.finish();
    if (!r.ok()) return r.error();
    out = std::move(q);
    return std::nullopt;
}

std::string_view level_name(Level l) { return l == Level::aggregate ? "aggregate" : "account"; }

namespace {

std::string limit_text(const Exceeded &e) {
    return e.window + " limit of " + std::to_string(e.limit) + " " + std::string(metric_name(e.metric)) +
           " reached (usage " + std::to_string(e.usage) + ")";
}

}  // namespace

std::string describe_exceeded(const Exceeded &e) {
    return (e.level == Level::aggregate ? "aggregate " : "") + limit_text(e);
}

std::string describe_warning(const Warning &w) {
    return w.window + " warning at " + std::to_string(w.threshold) + " " + std::string(metric_name(w.metric)) +
           " reached (usage " + std::to_string(w.usage) +
           (w.limit ? " of " + std::to_string(*w.limit) : std::string(", no limit")) + ")";
}

std::string describe_refusal(const ChargeResponse &r) {
    if (!r.exceeded) return "";
    if (r.exceeded->level != Level::aggregate || r.aggregate_dn.empty()) return describe_exceeded(*r.exceeded);
    return "aggregate \"" + r.aggregate_dn + "\" " + limit_text(*r.exceeded);
}

}  // namespace tally
