// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* print_expositions - every metric the Grafana dashboard may name, as Prometheus text
 *
 * SYNOPSIS
 *   print_expositions
 *
 * DESCRIPTION
 *   Prints tallyd's /metrics exposition (daemon/metrics.h, one LDAP server
 *   so that its per-server series exist) followed by what
 *   "tallyctl stats --format prometheus" prints for one database with every
 *   counter. monitoring/check-dashboard reads it to check that each metric
 *   and label an expression of monitoring/tally-grafana.json uses exists,
 *   from the code itself rather than a copied list.
 */
#include "metrics.h"
#include "monitor_stats.h"

#include <prometheus/text_serializer.h>

#include <cstdio>

int main() {
    tally::daemon::Metrics m;
    m.ldap_server("ldap://127.0.0.1:389/");
    m.configuration_loaded();
    std::fputs(prometheus::TextSerializer().Serialize(m.collect()).c_str(), stdout);
    tally::DatabaseStats db;
    db.dn = "cn=Database 2,cn=Databases,cn=Monitor";
    db.suffix = "dc=example,dc=com";
    for (auto &v : db.values) v = 0;
    std::fputs(tally::format_stats_prometheus({db}).c_str(), stdout);
    return 0;
}
