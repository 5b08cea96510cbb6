// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* tallyctl_run.h - the built tallyctl, run by tests
 *
 * DESCRIPTION
 *   run_tallyctl(args, &out) runs the tallyctl of this build with args and
 *   returns its exit status, its stdout and stderr in out;
 *   run_tallyctl(bind_options(uri, dn), args, &out) runs a command bound as
 *   dn to a test slapd. One definition for every test and the sandbox.
 */
#pragma once

#include "sample_directory.h"

#include <string>
#include <vector>

namespace tally::test {

/* tallyctl_binary - the path of the built tallyctl */
std::string tallyctl_binary();

/* bind_options - tallyctl's options for a simple bind as dn to uri */
std::vector<std::string> bind_options(const std::string &uri, const std::string &dn,
                                      const std::string &password = kPassword);

/* run_tallyctl - run the built tallyctl with options, then args; its stdout
 * and stderr in *out, the exit status returned */
int run_tallyctl(const std::vector<std::string> &options, const std::vector<std::string> &args, std::string *out);
inline int run_tallyctl(const std::vector<std::string> &args, std::string *out) { return run_tallyctl({}, args, out); }

}  // namespace tally::test
