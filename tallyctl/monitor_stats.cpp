// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* monitor_stats.cpp - parsing and formatting the overlay's cn=Monitor counters */
#include "monitor_stats.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <strings.h>

namespace tally {

// The order of the contract's table (attribute OIDs .1.50 to .1.63); a
// family's members stay together, as the text exposition wants.
const std::array<StatsCounter, kStatsCounterCount> kStatsCounters = {{
    {"charges accepted", "tally_overlay_charges_total", "outcome", "accepted"},
    {"charges refused (over a limit)", "tally_overlay_charges_total", "outcome", "refused"},
    {"duplicate charge ids", "tally_overlay_charges_total", "outcome", "duplicate"},
    {"checks (check mode)", "tally_overlay_charges_total", "outcome", "checked"},
    {"counts (count mode)", "tally_overlay_charges_total", "outcome", "counted"},
    {"cancels", "tally_overlay_charges_total", "outcome", "cancelled"},
    {"resets", "tally_overlay_resets_total", nullptr, nullptr},
    {"errors: bad request", "tally_overlay_errors_total", "class", "bad_request"},
    {"errors: not authorized", "tally_overlay_errors_total", "class", "not_authorized"},
    {"errors: write failed", "tally_overlay_errors_total", "class", "write_failed"},
    {"errors: other", "tally_overlay_errors_total", "class", "other"},
    {"commits", "tally_overlay_commits_total", nullptr, nullptr},
    {"writes committed", "tally_overlay_committed_writes_total", nullptr, nullptr},
    {"first limit hits (alerts)", "tally_overlay_first_limit_hits_total", nullptr, nullptr},
}};

namespace {

constexpr std::size_t kCommits = static_cast<std::size_t>(MonitorCounter::commits),
                      kCommittedWrites = static_cast<std::size_t>(MonitorCounter::committed_writes);

struct FamilyHelp {
    const char *family;
    const char *help;
};

const FamilyHelp kHelp[] = {
    {"tally_overlay_charges_total",
     "Tally charge requests the overlay answered since slapd started, by outcome: accepted, refused (over a "
     "limit), duplicate (charge id counted already), checked (check mode), counted (count mode), cancelled"},
    {"tally_overlay_resets_total", "Counter resets the overlay did since slapd started"},
    {"tally_overlay_errors_total",
     "Tally requests that failed, by class: bad_request (malformed, no such account, unknown window), "
     "not_authorized (ACL), write_failed (counter or history write), other (busy, replica referral, ...)"},
    {"tally_overlay_commits_total", "Database commits of counter writes (a group commit is one)"},
    {"tally_overlay_committed_writes_total",
     "Charge and reset writes those commits carried; the mean group-commit batch is the ratio of the rates of "
     "this and tally_overlay_commits_total"},
    {"tally_overlay_first_limit_hits_total",
     "First limit hits of a period (the events tallyd sends a limit alert for)"},
};

const char *help_of(const char *family) {
    for (const auto &h : kHelp)
        if (!std::strcmp(h.family, family)) return h.help;
    return "";
}

/* index_of - the counter named attribute, or kStatsCounterCount */
std::size_t index_of(const std::string &attribute) {
    for (std::size_t i = 0; i < kStatsCounterCount; ++i)
        if (!strcasecmp(monitor_attributes()[i].name, attribute.c_str())) return i;
    return kStatsCounterCount;
}

std::optional<std::uint64_t> decimal(const std::string &s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
    errno = 0;
    char *end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (errno || *end) return std::nullopt;
    return static_cast<std::uint64_t>(v);
}

/* HELP text escaping: backslash and newline */
std::string help_text(const char *s) {
    std::string out;
    for (const char *p = s; *p; ++p) {
        if (*p == '\\') out += "\\\\";
        else if (*p == '\n') out += "\\n";
        else out += *p;
    }
    return out;
}

}  // namespace

std::vector<std::string> stats_attributes() {
    std::vector<std::string> a = {"namingContexts"};
    for (const MonitorAttribute &m : monitor_attributes()) a.emplace_back(m.name);
    return a;
}

std::optional<std::uint64_t> DatabaseStats::value(const std::string &attribute) const {
    std::size_t i = index_of(attribute);
    return i < kStatsCounterCount ? values[i] : std::nullopt;
}

bool DatabaseStats::has_any() const {
    for (const auto &v : values)
        if (v) return true;
    return false;
}

DatabaseStats parse_database_stats(const std::string &dn, const StatsEntryAttributes &attributes,
                                   std::vector<std::string> *problems) {
    DatabaseStats s;
    s.dn = dn;
    for (const auto &[name, vals] : attributes) {
        if (!strcasecmp(name.c_str(), "namingContexts")) {
            if (!vals.empty()) s.suffix = vals.front();
            continue;
        }
        std::size_t i = index_of(name);
        if (i == kStatsCounterCount || vals.empty()) continue;  // not ours, or asked for and not given
        if (auto v = decimal(vals.front())) s.values[i] = *v;
        else if (problems)
            problems->push_back(dn + ": " + name + " is not a decimal count: \"" + vals.front() + "\"");
    }
    return s;
}

std::optional<double> mean_batch(const DatabaseStats &s) {
    auto commits = s.values[kCommits], writes = s.values[kCommittedWrites];
    if (!commits || !writes || *commits == 0) return std::nullopt;
    return static_cast<double>(*writes) / static_cast<double>(*commits);
}

std::string format_stats_text(const std::vector<DatabaseStats> &dbs) {
    std::string out;
    char line[256];
    for (const auto &db : dbs) {
        if (!out.empty()) out += "\n";
        out += (db.suffix.empty() ? std::string("(no namingContexts)") : db.suffix) + "  (" + db.dn + ")\n";
        for (std::size_t i = 0; i < kStatsCounterCount; ++i) {
            const auto &v = db.values[i];
            if (v)
                std::snprintf(line, sizeof line, "  %-32s %12llu\n", kStatsCounters[i].label,
                              static_cast<unsigned long long>(*v));
            else
                std::snprintf(line, sizeof line, "  %-32s %12s\n", kStatsCounters[i].label, "-");
            out += line;
            if (i == kCommittedWrites) {  // after the writes committed: their mean per commit
                auto m = mean_batch(db);
                if (m)
                    std::snprintf(line, sizeof line, "  %-32s %12.2f writes per commit\n", "mean group-commit batch",
                                  *m);
                else
                    std::snprintf(line, sizeof line, "  %-32s %12s (no commits yet)\n", "mean group-commit batch",
                                  "-");
                out += line;
            }
        }
    }
    return out;
}

std::string prometheus_label_value(const std::string &v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string format_stats_prometheus(const std::vector<DatabaseStats> &dbs) {
    std::string out;
    for (std::size_t i = 0; i < kStatsCounterCount; ++i) {
        const StatsCounter &c = kStatsCounters[i];
        bool first_of_family = i == 0 || std::strcmp(kStatsCounters[i - 1].family, c.family) != 0;
        if (first_of_family) {
            out += std::string("# HELP ") + c.family + " " + help_text(help_of(c.family)) + "\n";
            out += std::string("# TYPE ") + c.family + " counter\n";
        }
        for (const auto &db : dbs) {
            if (!db.values[i]) continue;  // not readable: no sample rather than a false 0
            out += c.family;
            out += "{database=\"" + prometheus_label_value(db.suffix) + "\"";
            if (c.label_name) out += std::string(",") + c.label_name + "=\"" + c.label_value + "\"";
            out += "} " + std::to_string(*db.values[i]) + "\n";
        }
    }
    return out;
}

}  // namespace tally
