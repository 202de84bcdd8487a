#!/bin/sh
# Test of .ci/check-layers itself (run by `make check-layers`): it passes
# on a tree that keeps the order, and fails, naming file, line and edge,
# on a copy of src/ with one back-edge added and on a folder it does not
# know.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
check="$here/.ci/check-layers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "tests/layers.sh: $*" >&2; exit 1; }

# 1. A small tree in order passes.
mkdir -p "$tmp/ok/core" "$tmp/ok/nn"
printf '#include "rmtl.h"\n#include "core/a.h"\n' > "$tmp/ok/nn/b.c"
printf '#include "a.h"\n#include <stdio.h>\n' > "$tmp/ok/core/a.c"
: > "$tmp/ok/core/a.h"
out=$("$check" "$tmp/ok" 2>&1) || fail "an ordered tree failed: $out"

# 2. The real tree with one back-edge (core including fusion) fails and
#    names the file, the line and the edge.
cp -R "$here/src" "$tmp/src"
"$check" "$tmp/src" > /dev/null 2>&1 || fail "the copy of src/ fails before the edit"
f="$tmp/src/core/alloc.c"
n=$(($(wc -l < "$f") + 1))
printf '#include "fusion/fusion.h"\n' >> "$f"
out=$("$check" "$tmp/src" 2>&1) && fail "a back-edge core -> fusion passed"
case $out in
*"$f:$n: core includes fusion (fusion/fusion.h)"*) ;;
*) fail "the message does not name file, line and edge: $out" ;;
esac

# 3. A folder outside the order fails.
mkdir -p "$tmp/ok/extra"
printf '#include "core/a.h"\n' > "$tmp/ok/extra/c.c"
out=$("$check" "$tmp/ok" 2>&1) && fail "an unknown folder passed"
case $out in
*"folder extra is not in the layer order"*) ;;
*) fail "the unknown folder is not named: $out" ;;
esac
echo "check-layers: its own test passed (order kept, back-edge and unknown folder caught)"
