// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* pages.cpp - the templates and the data they are rendered with
 *
 * DESCRIPTION
 *   Templates are kept here as text so the binary is self-contained (no
 *   template folder to install or to lose). {{x}} escapes; {{{x}}} appears
 *   only for the body inside the layout and for SVG made by views.cpp.
 */
#include "pages.h"

#include <kainjow/mustache.hpp>

namespace tally::web {

namespace {

using kainjow::mustache::data;
using kainjow::mustache::mustache;

const char *kLayout = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}} - Tally</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#243447;color:#fff;padding:.6em 1em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#dfe9f5;text-decoration:none}header .who{margin-left:auto;font-size:.85em;opacity:.85}
header form{display:inline;margin:0}header button{font-size:.85em}
main{padding:1em 1.5em;max-width:1100px}
table{border-collapse:collapse;background:#fff;margin:.5em 0 1em}th,td{border:1px solid #d5d9de;padding:.25em .6em;text-align:left;font-size:.92em}
th{background:#eef1f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meter{display:inline-block;width:120px;height:.8em;background:#e3e7eb;vertical-align:middle}
.meter span{display:block;height:100%;background:#3b7dd8}.meter span.over{background:#c83737}
.notice{background:#e5f5e5;border:1px solid #8c8;padding:.5em}.error{background:#fbe9e9;border:1px solid #d88;padding:.5em}
.blocked{color:#b00;font-weight:bold}
.warned{color:#a60}
svg.chart{background:#fff;border:1px solid #d5d9de;margin:.3em .6em .6em 0}
svg .col{fill:#3b7dd8}svg .col.current{fill:#8fb5ea}svg .col.over{fill:#c83737}
svg .axis{stroke:#888}svg .limit{stroke:#c83737;stroke-dasharray:4 3}svg .tick{font-size:10px;fill:#555}svg .title{font-size:12px;font-weight:bold}
fieldset{background:#fff;border:1px solid #d5d9de;margin:.5em 0 1em}label{margin-right:.6em}
</style></head><body>
<header><strong>Tally</strong>
{{#who}}<a href="/me">My usage</a>
{{#domains}}<a href="{{link}}">Domain {{dn}}</a>{{/domains}}
{{#policies}}<a href="/policies">Policies</a>{{/policies}}
{{#operator}}<a href="/operator">Operator</a>{{/operator}}
<span class="who">{{who}}</span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>Log out</button></form>{{/who}}
</header>
<main>
{{#notice}}<p class="notice">{{notice}}</p>{{/notice}}
{{#error}}<p class="error">{{error}}</p>{{/error}}
{{{body}}}
</main></body></html>
)";

const char *kLogin = R"(<h1>Log in</h1>
<form method="post" action="/login">
<input type="hidden" name="token" value="{{token}}">
<p><label>Login (uid or mail) <input name="login" value="{{login}}" autofocus autocomplete="username"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
<p><button type="submit">Log in</button></p>
</form>)";

const char *kUsageTable = R"(<table class="usage"><tr><th>Window</th><th>Period</th><th>Metric</th><th>Used</th><th>Limit</th><th>Left</th><th></th></tr>
{{#usage}}<tr><td>{{window}}</td><td>{{period}}</td><td>{{metric}}</td><td class="num">{{used}}</td><td class="num">{{limit}}</td><td class="num">{{left}}</td>
<td><span class="meter"><span{{#over}} class="over"{{/over}} style="width:{{percent}}%"></span></span></td></tr>{{/usage}}
</table>
{{#usage_error}}<p class="error">{{usage_error}}</p>{{/usage_error}}
<div class="charts">{{#charts}}{{{svg}}}{{/charts}}</div>)";

const char *kMe = R"(<h1>My usage</h1>
<p><strong>{{name}}</strong> &lt;{{mail}}&gt; <small>{{dn}}</small></p>
{{#blocked}}<p class="blocked">Blocked: {{blocked_text}}</p>{{/blocked}}
{{^blocked}}<p>Not blocked.</p>{{/blocked}}
{{> usage}}
<h2>Addresses I may send as</h2>
<ul>{{#mail}}<li>{{mail}}</li>{{/mail}}{{#send_as}}<li>{{.}}</li>{{/send_as}}</ul>)";

const char *kDomain = R"(<h1>Domain {{domain}}</h1>
<p>{{accounts}} accounts; {{blocked}} blocked; {{limit_hit}} reached a limit, {{warned}} a warning threshold this period.
<a href="/domain.csv?d={{domain_q}}">CSV export</a></p>
{{#usage_error}}<p class="error">{{usage_error}}</p>{{/usage_error}}
<form method="get" action="/domain"><input type="hidden" name="d" value="{{domain}}">
<label>Find <input name="q" value="{{text}}"></label>
<label>Window <select name="w">{{#windows}}<option{{#selected}} selected{{/selected}}>{{name}}</option>{{/windows}}</select></label>
<label>Sort <select name="sort"><option value="usage"{{#sort_usage}} selected{{/sort_usage}}>usage</option><option value="name"{{#sort_name}} selected{{/sort_name}}>name</option><option value="blocked"{{#sort_blocked}} selected{{/sort_blocked}}>blocked first</option></select></label>
<label><input type="checkbox" name="blocked" value="1"{{#only_blocked}} checked{{/only_blocked}}> blocked only</label>
<label><input type="checkbox" name="hit" value="1"{{#only_limit_hit}} checked{{/only_limit_hit}}> reached a limit or warning</label>
<button>Show</button></form>
<table class="accounts"><tr><th>Account</th><th>Name</th><th>Mail</th><th>Messages ({{window}})</th><th>Limit</th><th></th><th>State</th></tr>
{{#lines}}<tr><td><a href="/account?dn={{dn_q}}">{{uid}}</a></td><td>{{name}}</td><td>{{mail}}</td><td class="num">{{used}}</td><td class="num">{{limit}}</td>
<td><span class="meter"><span{{#over}} class="over"{{/over}} style="width:{{percent}}%"></span></span></td>
<td>{{#blocked}}<span class="blocked">blocked</span> {{blocked_text}}{{/blocked}}{{#limit_hit}} limit reached{{/limit_hit}}{{#warned}} <span class="warned">warning reached</span>{{/warned}}</td></tr>{{/lines}}
</table>
<p>{{total}} shown of {{accounts}}; page {{page_no}} of {{pages}}
{{#prev}}<a href="{{prev}}">previous</a>{{/prev}} {{#next}}<a href="{{next}}">next</a>{{/next}}</p>
<h2>Top senders ({{window}})</h2>
<ol>{{#top}}<li><a href="/account?dn={{dn_q}}">{{uid}}</a>: {{used}}</li>{{/top}}</ol>{{^top}}<p>Nobody sent mail in this period yet.</p>{{/top}})";

const char *kAccount = R"(<h1>Account {{name}}</h1>
<p>&lt;{{mail}}&gt; <small>{{dn}}</small>{{#policy}}; policy {{policy}}{{/policy}}</p>
{{#blocked}}<p class="blocked">Blocked: {{blocked_text}}</p>{{/blocked}}
{{> usage}}
{{#can_edit}}
<form method="post" action="/account/limits"><fieldset><legend>Limits (a number, unlimited, or empty to inherit)</legend>
<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="dn" value="{{dn}}">
<table><tr><th>Window</th><th>Metric</th><th>Attribute</th><th>Set here</th><th>In force</th></tr>
{{#limits}}<tr><td>{{window}}</td><td>{{metric}}</td><td>{{attribute}}</td><td><input name="limit.{{attribute}}" value="{{value}}" size="12"></td><td class="num">{{effective}}</td></tr>{{/limits}}
</table>
{{#generic}}<p>tallyLimit: {{.}}</p>{{/generic}}
<button name="save">Save limits</button></fieldset></form>
<form method="post" action="/account/block"><fieldset><legend>Block</legend>
<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="dn" value="{{dn}}">
{{#blocked}}<button name="action" value="unblock">Unblock</button>{{/blocked}}
{{^blocked}}<label>Text <input name="text" size="50" value="{{blocked_text}}"></label><button name="action" value="block">Block</button>{{/blocked}}
</fieldset></form>
{{/can_edit}}
{{#can_reset}}
<form method="post" action="/account/reset"><fieldset><legend>Reset counters</legend>
<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="dn" value="{{dn}}">
<select name="window"><option value="">every window</option>{{#windows}}<option>{{.}}</option>{{/windows}}</select>
<button>Reset</button></fieldset></form>
{{/can_reset}})";

const char *kPolicies = R"(<h1>Policies</h1>
{{#policies}}<h2>{{name}}</h2><p>{{description}} <small>{{dn}}</small></p>
<table><tr><th>Limit</th><th>Value</th></tr>{{#limits}}<tr><td>{{attribute}}</td><td class="num">{{value}}</td></tr>{{/limits}}</table>
<p>Accounts using it:{{#accounts}} <a href="/account?dn={{dn_q}}">{{dn}}</a>{{/accounts}}{{^accounts}} none you may see{{/accounts}}{{#more}} and {{more}} more{{/more}}</p>
{{/policies}}{{^policies}}<p>No policies you may read.</p>{{/policies}})";

const char *kOperator = R"(<h1>Operator</h1>
<h2>Domains</h2>
<table><tr><th>Domain</th><th>Accounts</th></tr>
{{#domains}}<tr><td><a href="/domain?d={{dn_q}}">{{dn}}</a></td><td class="num">{{accounts}}</td></tr>{{/domains}}</table>
<h2>Overlay (cn=Monitor)</h2>
{{#monitor_error}}<p class="error">{{monitor_error}}</p>{{/monitor_error}}
{{#databases}}<h3>{{suffix}}</h3><table>{{#counters}}<tr><td>{{label}}</td><td class="num">{{value}}</td></tr>{{/counters}}</table>{{/databases}})";

const char *kMessage = R"(<h1>{{heading}}</h1><p>{{text}}</p><p><a href="/">Back</a></p>)";

data list_of(const std::vector<std::string> &v) {
    data l{data::type::list};
    for (const auto &s : v) l.push_back(data{s});
    return l;
}

data usage_data(const std::vector<UsageRow> &rows) {
    data l{data::type::list};
    for (const auto &r : rows) {
        data d;
        d.set("window", r.window);
        d.set("period", r.period);
        d.set("metric", r.metric);
        d.set("used", r.used);
        d.set("limit", r.limit);
        d.set("left", r.left);
        d.set("percent", std::to_string(r.percent));
        d.set("over", r.over);
        l.push_back(d);
    }
    return l;
}

data charts_data(const std::vector<ChartView> &charts) {
    data l{data::type::list};
    for (const auto &c : charts) {
        data d;
        d.set("svg", c.svg);
        l.push_back(d);
    }
    return l;
}

std::string render_text(const char *tmpl, const data &d) {
    mustache m{std::string(tmpl)};
    if (!m.is_valid()) return "template error: " + m.error_message();
    return m.render(d);
}

std::string in_layout(const PageContext &c, const std::string &body) {
    data d;
    d.set("title", c.title);
    d.set("body", body);
    if (!c.who.empty()) d.set("who", c.who);
    d.set("csrf", c.csrf);
    d.set("policies", c.policies);
    d.set("operator", c.operator_);
    data doms{data::type::list};
    for (const auto &[dn, link] : c.domains) {
        data x;
        x.set("dn", dn);
        x.set("link", link);
        doms.push_back(x);
    }
    d.set("domains", doms);
    if (!c.notice.empty()) d.set("notice", c.notice);
    if (!c.error.empty()) d.set("error", c.error);
    return render_text(kLayout, d);
}

/* with_usage - the usage table as the partial {{> usage}} */
std::string render_with_usage(const char *tmpl, data d) {
    d.set("usage_partial", std::string());
    std::string t(tmpl);
    auto at = t.find("{{> usage}}");
    if (at != std::string::npos) t.replace(at, 11, kUsageTable);
    mustache m{t};
    if (!m.is_valid()) return "template error: " + m.error_message();
    return m.render(d);
}

}  // namespace

std::string url_encode(const std::string &s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') out += static_cast<char>(ch);
        else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

std::string render_login(const LoginView &v) {
    data d;
    d.set("token", v.token);
    d.set("login", v.login);
    PageContext c;
    c.title = "Log in";
    c.error = v.error;
    return in_layout(c, render_text(kLogin, d));
}

std::string render_me(const PageContext &c, const MeView &v) {
    data d;
    d.set("dn", v.dn);
    d.set("name", v.name);
    if (!v.mail.empty()) d.set("mail", v.mail);
    d.set("send_as", list_of(v.send_as));
    d.set("blocked", v.blocked);
    d.set("blocked_text", v.blocked_text);
    d.set("usage", usage_data(v.usage));
    d.set("charts", charts_data(v.charts));
    if (!v.usage_error.empty()) d.set("usage_error", v.usage_error);
    return in_layout(c, render_with_usage(kMe, d));
}

std::string render_domain(const PageContext &c, const DomainView &v) {
    data d;
    d.set("domain", v.domain);
    d.set("domain_q", url_encode(v.domain));
    d.set("window", v.window);
    d.set("text", v.text);
    d.set("sort_usage", v.sort == "usage");
    d.set("sort_name", v.sort == "name");
    d.set("sort_blocked", v.sort == "blocked");
    d.set("only_blocked", v.only_blocked);
    d.set("only_limit_hit", v.only_limit_hit);
    d.set("accounts", std::to_string(v.accounts));
    d.set("blocked", std::to_string(v.blocked));
    d.set("limit_hit", std::to_string(v.limit_hit));
    d.set("warned", std::to_string(v.warned));
    d.set("total", std::to_string(v.total));
    d.set("page_no", std::to_string(v.page + 1));
    d.set("pages", std::to_string(std::max<std::size_t>(v.pages, 1)));
    if (!v.usage_error.empty()) d.set("usage_error", v.usage_error);
    data windows{data::type::list};
    for (const auto &w : v.windows) {
        data x;
        x.set("name", w);
        x.set("selected", w == v.window);
        windows.push_back(x);
    }
    d.set("windows", windows);
    data lines{data::type::list};
    for (const auto &l : v.lines) {
        data x;
        x.set("dn_q", url_encode(l.row.dn));
        x.set("uid", l.row.uid.empty() ? l.row.dn : l.row.uid);
        x.set("name", l.row.name);
        x.set("mail", l.row.mail);
        x.set("used", l.used);
        x.set("limit", l.limit);
        x.set("percent", std::to_string(l.percent));
        x.set("over", l.over);
        x.set("blocked", l.row.blocked);
        x.set("blocked_text", l.row.blocked_text);
        x.set("limit_hit", l.row.limit_hit);
        x.set("warned", l.row.warned);
        lines.push_back(x);
    }
    d.set("lines", lines);
    data top{data::type::list};
    for (const auto &r : v.top) {
        data x;
        x.set("dn_q", url_encode(r.dn));
        x.set("uid", r.uid.empty() ? r.dn : r.uid);
        x.set("used", std::to_string(r.used));
        top.push_back(x);
    }
    d.set("top", top);
    std::string base = "/domain?d=" + url_encode(v.domain) + "&w=" + url_encode(v.window) + "&q=" + url_encode(v.text) +
                       "&sort=" + url_encode(v.sort) + (v.only_blocked ? "&blocked=1" : "") +
                       (v.only_limit_hit ? "&hit=1" : "") + "&page=";
    if (v.page > 0) d.set("prev", base + std::to_string(v.page - 1));
    if (v.page + 1 < v.pages) d.set("next", base + std::to_string(v.page + 1));
    return in_layout(c, render_text(kDomain, d));
}

std::string render_account(const PageContext &c, const AccountView &v) {
    data d;
    d.set("dn", v.dn);
    d.set("name", v.name.empty() ? v.dn : v.name);
    d.set("mail", v.mail);
    d.set("csrf", c.csrf);
    d.set("blocked", v.blocked);
    d.set("blocked_text", v.blocked_text);
    if (!v.policy.empty()) d.set("policy", v.policy);
    d.set("usage", usage_data(v.usage));
    d.set("charts", charts_data(v.charts));
    if (!v.usage_error.empty()) d.set("usage_error", v.usage_error);
    data limits{data::type::list};
    for (const auto &f : v.limits) {
        data x;
        x.set("window", f.window);
        x.set("metric", f.metric);
        x.set("attribute", f.attribute);
        x.set("value", f.value);
        x.set("effective", f.effective);
        limits.push_back(x);
    }
    d.set("limits", limits);
    d.set("generic", list_of(v.generic_limits));
    d.set("windows", list_of(v.windows));
    d.set("can_edit", v.can_edit);
    d.set("can_reset", v.can_reset);
    return in_layout(c, render_with_usage(kAccount, d));
}

std::string render_policies(const PageContext &c, const std::vector<PolicyView> &v, const std::string &error) {
    data d;
    data l{data::type::list};
    for (const auto &p : v) {
        data x;
        x.set("dn", p.dn);
        x.set("name", p.name.empty() ? p.dn : p.name);
        x.set("description", p.description);
        data lim{data::type::list};
        for (const auto &[a, val] : p.limits) {
            data y;
            y.set("attribute", a);
            y.set("value", val);
            lim.push_back(y);
        }
        x.set("limits", lim);
        data acc{data::type::list};
        for (const auto &a : p.accounts) {
            data y;
            y.set("dn", a);
            y.set("dn_q", url_encode(a));
            acc.push_back(y);
        }
        x.set("accounts", acc);
        if (p.more) x.set("more", std::to_string(p.more));
        l.push_back(x);
    }
    d.set("policies", l);
    PageContext cc = c;
    if (!error.empty()) cc.error = error;
    return in_layout(cc, render_text(kPolicies, d));
}

std::string render_operator(const PageContext &c, const OperatorView &v) {
    data d;
    data doms{data::type::list};
    for (const auto &x : v.domains) {
        data y;
        y.set("dn", x.dn);
        y.set("dn_q", url_encode(x.dn));
        y.set("accounts", std::to_string(x.accounts));
        doms.push_back(y);
    }
    d.set("domains", doms);
    data dbs{data::type::list};
    for (const auto &db : v.databases) {
        data y;
        y.set("suffix", db.suffix);
        data cs{data::type::list};
        for (const auto &k : db.counters) {
            data z;
            z.set("label", k.label);
            z.set("value", k.value);
            cs.push_back(z);
        }
        y.set("counters", cs);
        dbs.push_back(y);
    }
    d.set("databases", dbs);
    if (!v.monitor_error.empty()) d.set("monitor_error", v.monitor_error);
    return in_layout(c, render_text(kOperator, d));
}

std::string render_message(const PageContext &c, const std::string &heading, const std::string &text) {
    data d;
    d.set("heading", heading);
    d.set("text", text);
    return in_layout(c, render_text(kMessage, d));
}

}  // namespace tally::web
