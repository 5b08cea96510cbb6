// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* test_web.cpp - the web console's pure logic: escaping, sessions, CSRF, throttle, views, configuration */
#include "login_throttle.h"
#include "pages.h"
#include "session_table.h"
#include "views.h"
#include "web_config.h"

#include "counter.h"

#include <catch2/catch.hpp>

using namespace tally;
using namespace tally::web;

namespace {

ChargeResponse one_window(std::uint64_t used, std::optional<std::uint64_t> limit) {
    ChargeResponse r;
    WindowReport w;
    w.window = "day";
    w.period = "2026-12-05";
    w.usage[Metric::messages] = used;
    w.limits[0] = limit;
    r.windows.push_back(w);
    return r;
}

constexpr const char *kHostile = "<script>alert(\"x\")</script>&'";

bool escaped(const std::string &html) {
    return html.find("<script>") == std::string::npos &&
           html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") != std::string::npos;
}

}  // namespace

TEST_CASE("web: every value a page renders is escaped (a cn holding <script> shows as text)", "[web]") {
    PageContext c;
    c.title = kHostile;
    c.who = kHostile;
    c.csrf = "t";
    c.notice = kHostile;
    c.domains = {{kHostile, "/domain?d=x"}};
    MeView me;
    me.dn = me.name = me.mail = me.blocked_text = kHostile;
    me.blocked = true;
    me.send_as = {kHostile};
    me.usage = usage_rows(one_window(3, 10));
    me.usage[0].window = kHostile;
    me.usage_error = kHostile;
    CHECK(escaped(render_me(c, me)));

    DomainView d;
    d.domain = d.text = d.window = kHostile;
    d.windows = {kHostile};
    DomainLine l;
    l.row.dn = l.row.uid = l.row.name = l.row.mail = l.row.blocked_text = kHostile;
    l.row.blocked = true;
    l.used = l.limit = kHostile;
    d.lines = {l};
    d.top = {l.row};
    std::string domain = render_domain(c, d);
    CHECK(escaped(domain));
    CHECK(domain.find("/account?dn=%3Cscript%3E") != std::string::npos);

    AccountView a;
    a.dn = a.name = a.mail = a.blocked_text = a.policy = kHostile;
    a.can_edit = a.can_reset = true;
    a.limits = {{kHostile, kHostile, kHostile, kHostile, kHostile}};
    a.generic_limits = {kHostile};
    a.windows = {kHostile};
    CHECK(escaped(render_account(c, a)));

    PolicyView p;
    p.dn = p.name = p.description = kHostile;
    p.limits = {{kHostile, kHostile}};
    p.accounts = {kHostile};
    CHECK(escaped(render_policies(c, {p}, kHostile)));

    OperatorView o;
    o.domains = {{kHostile, 3}};
    o.databases = {{kHostile, {{kHostile, kHostile}}}};
    o.monitor_error = kHostile;
    CHECK(escaped(render_operator(c, o)));
    CHECK(escaped(render_message(c, kHostile, kHostile)));
    CHECK(escaped(render_login({kHostile, kHostile, kHostile})));
}

TEST_CASE("web: the SVG chart escapes its texts and draws the limit", "[web]") {
    std::vector<PeriodTotal> periods = {{kHostile, {}, false}, {"2026-12-05", {}, true}};
    periods[0].usage[Metric::messages] = 12;
    periods[1].usage[Metric::messages] = 30;
    std::string svg = bar_chart_svg(kHostile, periods, Metric::messages, 20);
    CHECK(svg.find("<script>") == std::string::npos);
    CHECK(svg.find("&lt;script&gt;") != std::string::npos);
    CHECK(svg.find("class=\"limit\"") != std::string::npos);
    CHECK(svg.find("col current over") != std::string::npos);  // 30 of 20
    CHECK(svg.rfind("<svg", 0) == 0);
    CHECK(svg.ends_with("</svg>"));
}

TEST_CASE("web: usage rows say used, limit and left, and unlimited has no left", "[web]") {
    auto rows = usage_rows(one_window(12, 10));
    REQUIRE(rows.size() == kAllMetrics.size());  // one row per metric, externalRecipients included
    CHECK(rows[0].metric == "messages");
    CHECK(rows[0].used == "12");
    CHECK(rows[0].limit == "10");
    CHECK(rows[0].left == "0");
    CHECK(rows[0].over);
    CHECK(rows[0].percent == 100);
    CHECK(rows[1].limit == "unlimited");
    CHECK(rows[1].left == "-");
    CHECK(format_amount(Metric::bytes, 1500000) == "1.5 MB");
    CHECK(format_amount(Metric::messages, 1500000) == "1500000");
}

TEST_CASE("web: history totals sum every server's share per period, oldest first", "[web]") {
    auto v = [](const std::string &period, unsigned sid, std::uint64_t n) {
        CounterValue c;
        c.window = "day";
        c.period = period;
        c.sid = sid;
        c.usage[Metric::messages] = n;
        return encode_counter(c);
    };
    WindowReport now;
    now.window = "day";
    now.period = "2026-12-05";
    now.usage[Metric::messages] = 4;
    auto t = history_totals({v("2026-12-04", 1, 5), v("2026-12-03", 1, 2), v("2026-12-04", 2, 7), "garbage"}, "day",
                            &now);
    REQUIRE(t.size() == 3);
    CHECK(t[0].period == "2026-12-03");
    CHECK(t[1].usage[Metric::messages] == 12);
    CHECK(t[2].current);
    CHECK(t[2].usage[Metric::messages] == 4);
}

TEST_CASE("web: sessions have random ids and end when idle, too old, or logged out", "[web]") {
    SessionTable t({3, 100, 1000});
    auto a = t.create("uid=a", "a", Role::user, {}, nullptr, 0);
    auto b = t.create("uid=b", "b", Role::user, {}, nullptr, 0);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->id.size() == 64);
    CHECK(a->id != b->id);
    CHECK(a->csrf != a->id);
    CHECK(t.find(a->id, 99) == a);    // used at 99: idle restarts
    CHECK(t.find(a->id, 198) == a);
    CHECK(t.find(b->id, 100) == nullptr);  // idle 100 s
    CHECK(t.find(a->id, 298) == nullptr);
    auto c = t.create("uid=c", "c", Role::user, {}, nullptr, 0);
    for (std::int64_t now = 90; now < 1000; now += 90) REQUIRE(t.find(c->id, now) == c);
    CHECK(t.find(c->id, 1000) == nullptr);  // lifetime, however busy
    auto d = t.create("uid=d", "d", Role::user, {}, nullptr, 2000);
    t.end(d->id);
    CHECK(t.find(d->id, 2000) == nullptr);
    CHECK(t.find("", 2000) == nullptr);
    CHECK(t.find("not-a-session", 2000) == nullptr);
}

TEST_CASE("web: the session table is bounded: a login beyond it is refused while others are live", "[web]") {
    SessionTable t({2, 100, 1000});
    auto a = t.create("uid=a", "a", Role::user, {}, nullptr, 0);
    auto b = t.create("uid=b", "b", Role::user, {}, nullptr, 0);
    CHECK(t.create("uid=c", "c", Role::user, {}, nullptr, 50) == nullptr);
    CHECK(t.find(a->id, 50) == a);  // nobody was pushed out
    CHECK(t.find(b->id, 50) == b);
    CHECK(t.create("uid=c", "c", Role::user, {}, nullptr, 200) != nullptr);  // the idle ones went
    CHECK(t.size() == 1);
}

TEST_CASE("web: CSRF tokens compare exactly, and an empty token never matches", "[web]") {
    std::string tok = random_token();
    CHECK(tokens_equal(tok, tok));
    CHECK_FALSE(tokens_equal(tok, tok.substr(1)));
    std::string other = tok;
    other[63] = other[63] == 'a' ? 'b' : 'a';
    CHECK_FALSE(tokens_equal(tok, other));
    CHECK_FALSE(tokens_equal("", ""));
}

TEST_CASE("web: failed logins close a key with a growing wait, and success reopens the login", "[web]") {
    LoginThrottle t({2, 1, 8, 1000});
    CHECK(t.wait_seconds("login:a", 0) == 0);
    t.failed("login:a", 0);
    t.failed("login:a", 0);
    CHECK(t.wait_seconds("login:a", 0) == 0);  // two free
    t.failed("login:a", 0);
    CHECK(t.wait_seconds("login:a", 0) == 1);
    t.failed("login:a", 1);
    CHECK(t.wait_seconds("login:a", 1) == 2);
    for (int i = 0; i < 10; ++i) t.failed("login:a", 3);
    CHECK(t.wait_seconds("login:a", 3) == 8);  // at most max_delay
    CHECK(t.wait_seconds("login:a", 11) == 0);
    CHECK(t.wait_seconds("addr:1.2.3.4", 3) == 0);  // keys are separate
    t.succeeded("login:a");
    CHECK(t.wait_seconds("login:a", 3) == 0);
}

TEST_CASE("web: the throttle table stays bounded", "[web]") {
    LoginThrottle t({0, 1, 60, 10});
    for (int i = 0; i < 100; ++i) t.failed("addr:" + std::to_string(i), i);
    CHECK(t.size() <= 10);
    CHECK(t.wait_seconds("addr:99", 99) > 0);  // the newest is kept
}

TEST_CASE("web: the domain page filters, sorts and cuts pages, and lists the top senders", "[web]") {
    std::vector<DomainRow> rows;
    for (int i = 0; i < 25; ++i) {
        DomainRow r;
        r.dn = "uid=u" + std::to_string(i) + ",ou=d";
        r.uid = "u" + std::to_string(i);
        r.used = static_cast<std::uint64_t>(i);
        r.blocked = i % 5 == 0;
        rows.push_back(r);
    }
    DomainQuery q;
    q.page_size = 10;
    auto p = domain_page(rows, q);
    CHECK(p.total == 25);
    CHECK(p.pages == 3);
    CHECK(p.rows.front().uid == "u24");
    CHECK(p.top.size() == 10);
    CHECK(p.blocked == 5);
    q.page = 2;
    CHECK(domain_page(rows, q).rows.size() == 5);
    q = {};
    q.text = "U1";
    q.sort = DomainSort::name;
    p = domain_page(rows, q);
    CHECK(p.total == 11);  // u1, u10..u19
    CHECK(p.rows.front().uid == "u1");
    q = {};
    q.only_blocked = true;
    CHECK(domain_page(rows, q).total == 5);
}

TEST_CASE("web: domain rows read usage of the current period only", "[web]") {
    auto val = [](const std::string &period, std::uint64_t n, std::int64_t hit) {
        CounterValue c;
        c.window = "day";
        c.period = period;
        c.usage[Metric::messages] = n;
        c.limit_hit = hit;
        return encode_counter(c);
    };
    client::Entry e;
    e.dn = "uid=a,ou=d";
    e.attributes = {{"uid", {"a"}}, {"tallyBlocked", {"TRUE"}},
                    {"tallyUsage", {val("2026-12-04", 50, 1), val("2026-12-05", 7, 0)}}};
    WindowReport w;
    w.window = "day";
    w.period = "2026-12-05";
    auto rows = domain_rows({e}, "day", Metric::messages, {w});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].used == 7);
    CHECK(rows[0].blocked);
    CHECK_FALSE(rows[0].limit_hit);  // yesterday's mark does not count
    CHECK_FALSE(rows[0].warned);
}

TEST_CASE("web: the domain page counts and filters who reached a warning threshold", "[web][warning]") {
    auto entry = [](const std::string &uid, std::int64_t hit, std::int64_t warned) {
        CounterValue c;
        c.window = "day";
        c.period = "2026-12-05";
        c.usage[Metric::messages] = 3;
        c.limit_hit = hit;
        c.warned = warned;
        client::Entry e;
        e.dn = "uid=" + uid + ",ou=d";
        e.attributes = {{"uid", {uid}}, {"tallyUsage", {encode_counter(c)}}};
        return e;
    };
    WindowReport w;
    w.window = "day";
    w.period = "2026-12-05";
    auto rows = domain_rows({entry("quiet", 0, 0), entry("warned", 0, 5), entry("hit", 9, 5)}, "day", Metric::messages,
                            {w});
    REQUIRE(rows.size() == 3);
    CHECK(rows[1].warned);
    CHECK_FALSE(rows[1].limit_hit);
    DomainQuery q;
    auto all = domain_page(rows, q);
    CHECK(all.warned == 2);
    CHECK(all.limit_hit == 1);
    q.only_limit_hit = true;  // "reached a limit or warning"
    CHECK(domain_page(rows, q).total == 2);
}

TEST_CASE("web: DN helpers", "[web]") {
    CHECK(parent_dn("uid=a,ou=x,dc=e") == "ou=x,dc=e");
    CHECK(parent_dn("cn=a\\,b,ou=x") == "ou=x");
    CHECK(dn_within("uid=a,ou=x,dc=e", "ou=x,dc=e"));
    CHECK(dn_within("uid=a,OU=X,dc=e", "ou=x,dc=e"));
    CHECK_FALSE(dn_within("uid=a,ou=xx,dc=e", "ou=x,dc=e"));
    CHECK_FALSE(dn_within("uid=a\\,ou=x,dc=e", "ou=x,dc=e"));
    CHECK(url_encode("a b&c=d") == "a%20b%26c%3Dd");
}

TEST_CASE("web: configuration: defaults, errors with lines, unknown keys", "[web]") {
    WebConfig c;
    CHECK(parse_web_config("login_base = ou=people,dc=example,dc=com\n", c).empty());
    CHECK(c.listen == "127.0.0.1:8480");
    auto errs = parse_web_config("login_base = x\nbogus = 1\nsession_idle = -3\nlogin_filter = (uid=%q)\n", c);
    REQUIRE(errs.size() == 3);
    CHECK(errs[0].rfind("2: unknown option bogus", 0) == 0);
    CHECK(errs[1].rfind("3: session_idle", 0) == 0);
    CHECK(errs[2].rfind("4: login_filter", 0) == 0);
    CHECK_FALSE(parse_web_config("listen = 127.0.0.1:1\n", c).empty());  // login_base is required
    CHECK(web_option_table().size() > 20);
}
