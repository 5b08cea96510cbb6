#!/bin/bash
# SPDX-License-Identifier: OLDAP-2.8
# Copyright 2026 The Tally authors. See LICENSE.
# test_configured_tree.sh - tally.so builds against an OpenLDAP tree
# configured in place (as Symas, LTB and hand-built slapds are), with the
# version read from the tree, and the module loads into that release's slapd
#
#   test_configured_tree.sh REPO ROOT
#
# ROOT is a tree in scripts/openldap-source's layout (source/, build/,
# prefix/): the in-place tree is made of links to it (a configured tree has
# the generated headers beside the source's), so nothing is configured again.
set -euo pipefail
REPO=$1 ROOT=$2
T=$(mktemp -d /tmp/tally-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
TREE=$T/openldap
mkdir -p "$TREE/include" "$TREE/build"
for d in "$ROOT"/source/*; do
  case "$(basename "$d")" in include|build) ;; *) ln -s "$d" "$TREE/" ;; esac
done
ln -s "$ROOT/source/build/version.var" "$TREE/build/version.var"
for h in "$ROOT"/source/include/* "$ROOT"/build/include/*.h; do ln -sfn "$h" "$TREE/include/"; done

cmake -S "$REPO" -B "$T/build" -DTALLY_OPENLDAP_ROOT="$TREE" -DTALLY_OPENLDAP_TEST_ROOTS= > "$T/cmake.log" 2>&1 ||
  { cat "$T/cmake.log"; echo "FAIL: cmake configure"; exit 1; }
want=$(sed -n 's/^ol_major=\(.*\)/\1/p' "$TREE/build/version.var").$(sed -n 's/^ol_minor=\(.*\)/\1/p' "$TREE/build/version.var").$(sed -n 's/^ol_patch=\(.*\)/\1/p' "$TREE/build/version.var")
got=$(sed -n 's/^TALLY_SLAPD_VERSION:STRING=//p' "$T/build/CMakeCache.txt")
[ "$got" = "$want" ] || { echo "FAIL: version read from the tree is '$got', want '$want'"; exit 1; }
echo "ok: version $got read from the tree"
cmake --build "$T/build" -j"$(nproc)" --target tally_overlay > "$T/build.log" 2>&1 ||
  { tail -30 "$T/build.log"; echo "FAIL: build"; exit 1; }
# not built, no prefix, another release than the system's libldap: the
# module links no libldap and takes liblber's symbols from the slapd
if readelf -d "$T/build/overlay/tally.so" | grep -q 'NEEDED.*libldap-2\.5'; then
  echo "FAIL: the module links the system's libldap 2.5"; exit 1
fi
printf 'include %s/core.schema\nmoduleload %s\n' "$ROOT/prefix/etc/ldap/schema" "$T/build/overlay/tally.so" > "$T/slapd.conf"
"$ROOT/prefix/sbin/slaptest" -u -f "$T/slapd.conf" > "$T/slaptest.log" 2>&1 ||
  { cat "$T/slaptest.log"; echo "FAIL: the module does not load into slapd $got"; exit 1; }
echo "ok: the module loads into slapd $got"
