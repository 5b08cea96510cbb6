// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tallyctl_run.cpp - run the built tallyctl for tests */
#include "tallyctl_run.h"

#include "slapd_fixture.h"  // TempDir, read_text, run_command

#ifndef TALLY_TALLYCTL_BIN
#error "TALLY_TALLYCTL_BIN must be defined"
#endif

namespace tally::test {

std::string tallyctl_binary() { return TALLY_TALLYCTL_BIN; }

std::vector<std::string> bind_options(const std::string &uri, const std::string &dn, const std::string &password) {
    return {"-H", uri, "-x", "-D", dn, "-w", password};
}

int run_tallyctl(const std::vector<std::string> &options, const std::vector<std::string> &args, std::string *out) {
    TempDir d;
    std::vector<std::string> argv = {TALLY_TALLYCTL_BIN};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), args.begin(), args.end());
    int rc = run_command(argv, d.path + "/out");
    *out = read_text(d.path + "/out");
    return rc;
}

}  // namespace tally::test
