// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* accept_milter - a milter that accepts everything: the ceiling tallyd is compared with
 *
 * SYNOPSIS
 *   accept_milter inet:PORT@127.0.0.1
 *
 * It asks for the same macros and sees the same stages as tallyd
 * (envelope, headers, body, end of data) and does no work.
 */
#include <libmilter/mfapi.h>

#include <cstdio>

namespace {

sfsistat cont(SMFICTX *) { return SMFIS_CONTINUE; }
sfsistat cont_connect(SMFICTX *, char *, _SOCK_ADDR *) { return SMFIS_CONTINUE; }
sfsistat cont_argv(SMFICTX *, char **) { return SMFIS_CONTINUE; }
sfsistat cont_header(SMFICTX *, char *, char *) { return SMFIS_CONTINUE; }
sfsistat cont_body(SMFICTX *, unsigned char *, size_t) { return SMFIS_CONTINUE; }
sfsistat negotiate(SMFICTX *ctx, unsigned long, unsigned long, unsigned long, unsigned long, unsigned long *,
                   unsigned long *, unsigned long *, unsigned long *) {
    smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char *>("{auth_authen} {auth_type}"));
    smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char *>("i {auth_authen}"));
    return SMFIS_ALL_OPTS;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: accept_milter SOCKET\n");
        return 2;
    }
    struct smfiDesc desc = {const_cast<char *>("accept-milter"), SMFI_VERSION, 0, cont_connect, nullptr, cont_argv,
                            cont_argv, cont_header, cont, cont_body, cont, cont, cont, nullptr, nullptr, negotiate};
    if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE || smfi_opensocket(true) == MI_FAILURE)
        return 1;
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
