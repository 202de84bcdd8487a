# Doxygen INPUT_FILTER for include/rmtl.h (docs/Doxyfile). The header is
# written for people: `/** */` before a declaration documents it, a plain
# trailing `/* */` describes the member or value on its line, banner comments
# open a section, and a plain `/*` block in a section explains the section.
# This filter says the same to Doxygen, line for line, so that warnings and
# "Definition at line N" keep the header's line numbers:
#   - the opening comment becomes the file's documentation (@file);
#   - each banner opens a group (@defgroup ... @{), one Doxygen topic per
#     section, and closes the previous one;
#   - a section's plain `/*` block becomes that group's description;
#   - plain trailing comments become `/**<` member documentation, and a plain
#     comment standing alone right above a member documents that member;
#   - the first sentence of each description is marked @brief and the rest
#     @details: Doxygen's own JAVADOC_AUTOBRIEF stops early at "e.g." and
#     inside code spans such as `sim.*`; docs/brief.awk finds the sentence.
# Run as `awk -f docs/brief.awk -f docs/doxygen-filter.awk`. POSIX awk.

# A group name Doxygen accepts: "Env (simulator)" -> "rmtl_env_simulator".
function group_id(title,    id) {
    id = tolower(title)
    gsub(/[^a-z0-9]+/, "_", id)
    sub(/^_+/, "", id); sub(/_+$/, "", id)
    return "rmtl_" id
}

function is_dashes(s) { return s ~ /^\/\* -+ \*\/$/ }

function emit(s) { out[++m] = s }

function is_banner(j) {
    return (is_dashes(line[j]) && is_dashes(line[j + 2])) ||
        line[j] ~ /^\/\* --- [^-].* -+ \*\/$/
}

# Whether the section starting after input line j declares anything: a
# section of preprocessor plumbing only (export macros, extern "C") gets
# no topic of its own.
function has_content(j) {
    for (j++; j <= n && !is_banner(j); j++)
        if (line[j] !~ /^[ \t]*(#.*|extern "C" \{|\}|)$/) return 1
    return 0
}

# Opens the comment of section `title`, closing the current group. The
# title runs to the end of the line, so `@{` goes on the next line.
function open_group(title,    id, s) {
    id = group_id(title)
    cur = id
    s = (in_group ? "/** @} */ " : "") "/** @defgroup " id " " title
    in_group = 1
    return s
}

# Emits the line after open_group's: `@{`, then either the section's
# explanatory block when it follows at once (it becomes the group's
# description) or the end of the comment. Returns 1 when it consumed
# input line j.
function finish_group(j) {
    if (line[j] == "/*") {
        emit(" *  @{")
        in_comment = 1
        kind = "group"
        return 1
    }
    emit(" *  @{ */")
    return 0
}

# Starts a documentation comment at output line m (the line just emitted);
# its text begins at column `col` of that line.
function doc_start(col) {
    in_comment = 1
    kind = "doc"
    doc_first = m
    doc_col = col
}

# Marks the first sentence of the documentation comment on output lines
# doc_first..m as @brief and the rest as @details.
function mark_brief(    j, s, c, k, start) {
    brief_code = 0
    for (j = doc_first; j <= m; j++) {
        s = out[j]
        if (j == doc_first) {
            c = doc_col
        } else {
            # Past the comment's leading " * ".
            c = match(s, /^[ \t]*\*?[ \t]*/) ? RLENGTH + 1 : 1
        }
        if (!start) {
            while (c <= length(s) && substr(s, c, 1) ~ /[ \t]/) c++
            if (c > length(s) || substr(s, c, 2) == "*/") continue
            out[j] = s = substr(s, 1, c - 1) "@brief " substr(s, c)
            c += 7
            start = 1
        }
        if ((k = sentence_end(s, c)) && more_text(substr(s, k + 1), j)) {
            out[j] = substr(s, 1, k) " @details" substr(s, k + 1)
            return
        }
        if (k) return
    }
}

# Whether text follows `rest` (the end of output line j) in the comment.
function more_text(rest, j,    t) {
    t = rest
    sub(/\*\/.*$/, "", t)
    if (trim(t) != "") return 1
    for (j++; j <= m; j++) {
        t = out[j]
        sub(/\*\/.*$/, "", t)
        sub(/^[ \t]*\*?/, "", t)
        if (trim(t) != "") return 1
    }
    return 0
}

# The comment that started at doc_first ends on output line m.
function comment_end() {
    if (kind == "doc") mark_brief()
    if (kind == "reopen") {
        # Back into the section the explanatory block interrupted.
        sub(/\*\/[ \t]*$/, "@{ */", out[m])
    }
    in_comment = 0
    kind = ""
}

{ line[++n] = $0 }

END {
    for (i = 1; i <= n; i++) {
        s = line[i]
        if (in_comment) {
            emit(s)
            if (index(s, "*/")) comment_end()
            continue
        }
        # First comment of the file: the file's documentation.
        if (!seen_code && s == "/*") {
            emit("/** @file rmtl.h")
            doc_start(length(out[m]) + 1)
            seen_code = 1
            continue
        }
        if (s != "") seen_code = 1
        # Three-line banner: dashes, title, dashes.
        if (is_dashes(s) && i + 2 <= n && is_dashes(line[i + 2]) &&
            line[i + 1] ~ /^\/\* .*\*\/$/) {
            t = line[i + 1]
            sub(/^\/\* /, "", t); sub(/\*\/$/, "", t)
            emit(in_group ? "/** @} */" : "")
            in_group = 0
            if (!has_content(i + 2)) {
                emit(line[i + 1])
                emit(line[i + 2])
                i += 2
                continue
            }
            emit(open_group(trim(t)))
            if (finish_group(i + 3)) emit(" *")
            i += 2 + (kind == "group")
            continue
        }
        # One-line sub-banner: "/* --- Metrics ------ */". Without an
        # explanatory block after it, the output gains a line here.
        if (s ~ /^\/\* --- [^-].* -+ \*\/$/) {
            t = s
            sub(/^\/\* --- /, "", t); sub(/ -+ \*\/$/, "", t)
            emit(open_group(trim(t)))
            i += finish_group(i + 1)
            continue
        }
        # An explanatory block later in a section: leave the group, add the
        # text to its description, and reopen it (comment_end).
        if (s == "/*" && in_group) {
            emit("/** @} */ /** @addtogroup " cur)
            in_comment = 1
            kind = "reopen"
            continue
        }
        # Documentation before a declaration, or a plain comment standing
        # alone: documents what follows.
        if (s ~ /^[ \t]*\/\*[ \t*]/ && s !~ /^[ \t]*\/\*\*</) {
            if (s !~ /^[ \t]*\/\*\*/) sub(/\/\*/, "/**", s)
            emit(s)
            doc_start(index(s, "/**") + 3)
            if (index(substr(s, doc_col), "*/")) comment_end()
            continue
        }
        # Code with a plain trailing comment: member documentation.
        if (s !~ /^[ \t]*#[ \t]*(if|ifdef|ifndef|else|elif|endif|include)/ &&
            match(s, /[^ \t][ \t]*\/\*[ \t]/) && s !~ /\/\*\*/) {
            head = substr(s, 1, RSTART)
            tail = substr(s, RSTART + 1)
            sub(/\/\*/, "/**<", tail)
            emit(head tail)
            doc_start(length(head) + index(tail, "/**<") + 4)
            if (index(tail, "*/")) comment_end()
            continue
        }
        emit(s)
        if (s ~ /\/\*/ && !index(substr(s, index(s, "/*")), "*/")) {
            in_comment = 1
            kind = ""
        }
    }
    if (in_group) emit("/** @} */")
    for (j = 1; j <= m; j++) print out[j]
}
