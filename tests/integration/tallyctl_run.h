// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tallyctl_run.h - the built tallyctl, run by the integration tests
 *
 * DESCRIPTION
 *   tallyctl(args, &out) runs the tallyctl of this build (TALLY_TALLYCTL_BIN,
 *   defined for integration_tests) with args and returns its exit status,
 *   its stdout and stderr in out. One definition for every test file.
 */
#pragma once

#include "slapd_fixture.h"

#include <string>
#include <vector>

#ifndef TALLY_TALLYCTL_BIN
#error "TALLY_TALLYCTL_BIN must be defined"
#endif

namespace tally::test {

/* tallyctl - run the built tallyctl; its stdout and stderr in *out, the exit status returned */
inline int tallyctl(const std::vector<std::string> &args, std::string *out) {
    TempDir d;
    std::vector<std::string> argv = {TALLY_TALLYCTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    int rc = run_command(argv, d.path + "/out");
    *out = read_text(d.path + "/out");
    return rc;
}

}  // namespace tally::test
