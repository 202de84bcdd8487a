# The first sentence of a description: the brief of Doxygen's reference
# (docs/doxygen-filter.awk) and the NAME line of the man pages
# (docs/man.awk). It ends at the first ". " (or "." at the end of a line)
# outside `code`, except after "e.g." and "i.e." and in ".." ranges
# ("0 .. n-1"). POSIX awk.

# Position in `s` of the dot that ends the first sentence, searching from
# column `from`, or 0 when the sentence goes on past `s`. The global
# brief_code carries "inside backticks" from one line to the next; reset it
# to 0 at the start of each description.
function sentence_end(s, from,    k, ch, rest) {
    for (k = from; k <= length(s); k++) {
        ch = substr(s, k, 1)
        if (ch == "`") brief_code = !brief_code
        if (brief_code || ch != ".") continue
        rest = substr(s, k + 1)
        if (rest != "" && rest !~ /^[ \t]/) continue
        if (k == 1 || substr(s, k - 1, 1) ~ /[ \t.]/) continue
        if (substr(s, 1, k) ~ /(^|[^A-Za-z])(e\.g|i\.e)\.$/) continue
        return k
    }
    return 0
}

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
