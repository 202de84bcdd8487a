#!/bin/sh
# Every source file a table of docs/*.md or README.md names must exist:
# a table row (a line starting with `|`) naming `src/…`, `include/…`,
# `tests/…`, `bench/…` or `examples/…` paths, and, in a table headed
# "file (`src/dir/`)", the bare names in its first column. Braces expand
# (`model.{h,c}`). Run by `make check`.
set -u
cd "$(dirname "$0")/.." || exit 2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for doc in docs/*.md README.md; do
  awk -v doc="$doc" '
    function emit(p,   pre, alts, post, n, i, a) {
      if (match(p, /\{[^}]*\}/)) {
        pre = substr(p, 1, RSTART - 1); post = substr(p, RSTART + RLENGTH)
        n = split(substr(p, RSTART + 1, RLENGTH - 2), a, ",")
        for (i = 1; i <= n; i++) emit(pre a[i] post)
        return
      }
      print doc ":" FNR ": " p
    }
    /^\|/ && /file \(`src\/[a-z_]+\/`\)/ { dir = $0; sub(/.*file \(`/, "", dir); sub(/`.*/, "", dir); next }
    !/^\|/ { dir = "" }
    /^\|/ {
      line = $0
      while (match(line, /`(src|include|tests|bench|examples)\/[A-Za-z0-9_.\/{},-]+`/)) {
        s = RSTART; l = RLENGTH; line2 = substr(line, s + l)
        emit(substr(line, s + 1, l - 2)); line = line2
      }
      if (dir != "") {
        n = split($0, col, "|"); first = col[2]
        while (match(first, /`[A-Za-z0-9_.{},]+\.[a-z{},]+`/)) {
          s = RSTART; l = RLENGTH; rest = substr(first, s + l)
          emit(dir substr(first, s + 1, l - 2)); first = rest
        }
      }
    }' "$doc"
done > "$tmp"
bad=0
while IFS= read -r line; do
  path=${line##*: }
  case $path in */) [ -d "$path" ] ;; *) [ -e "$path" ] ;; esac || {
    echo "docs: ${line%: *} names $path, which does not exist"; bad=1; }
done < "$tmp"
n=$(wc -l < "$tmp")
[ "$n" -ge 30 ] || { echo "docs: only $n file names found in the docs' tables (expected >= 30)"; bad=1; }
[ $bad -eq 0 ] && echo "docs: the $n files named in the docs' tables exist"
exit $bad
