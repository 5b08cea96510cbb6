#!/bin/bash
# SPDX-License-Identifier: OLDAP-2.8
# Copyright 2026 The Tally authors. See LICENSE.
# test_openldap_source.sh - scripts/openldap-source stops with a message that
# says what to do on machines whose apt sources it cannot use (nothing is
# fetched: every case stops before apt-get)
set -uo pipefail
SCRIPT=$1
T=$(mktemp -d /tmp/tally-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
# expect NAME WANT_TEXT ARGS... - exit status 1 and WANT_TEXT in the output
expect() {
  local name=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -ne 1 ] || ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: $name: exit $rc, output:"; echo "$out"; fail=1
  else
    echo "ok: $name"
  fi
}

expect "usage" "usage:" "$SCRIPT" fetch

mkdir -p "$T/none"
expect "no apt sources at all" "no apt sources found" \
  env TALLY_APT_ETC="$T/none" "$SCRIPT" headers 2.6.10 "$T/root1"

mkdir -p "$T/ubuntu/sources.list.d"
printf 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble\nComponents: main\n' \
  > "$T/ubuntu/sources.list.d/ubuntu.sources"
expect "Ubuntu sources, Debian's trixie source wanted" "TALLY_OPENLDAP_2_6=0" \
  env TALLY_APT_ETC="$T/ubuntu" "$SCRIPT" install 2.6.10+dfsg-1 trixie "$T/root2"
# the machine's own folders were left as they were
[ "$(stat -c %a /tmp)" = 1777 ] || { echo "FAIL: /tmp lost its mode"; fail=1; }
exit $fail
