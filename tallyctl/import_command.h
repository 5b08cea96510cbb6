// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* import_command.h - "tallyctl import-mtpolicyd": the LDAP side of the
 * migration from mtpolicyd (the pure part is mtpolicyd_records.h)
 */
#pragma once

#include "ldap_client.h"

namespace tally {

/* cmd_import_mtpolicyd - parse the arguments, read the accounting rows,
 * connect with o, copy limits and import usage. The exit status: 0 all
 * done, 1 something was left out (unknown keys, accounts skipped, Tally
 * limits kept), 2 errors. */
int cmd_import_mtpolicyd(const client::ConnectOptions &o, int argc, char **argv);

}  // namespace tally
