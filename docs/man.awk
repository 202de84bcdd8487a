# Section-3 man pages from include/rmtl.h (`make man`):
#   awk -v dir=OUT -v version=X.Y.Z -f docs/brief.awk -f docs/man.awk include/rmtl.h
# writes OUT/rmtl.3 (overview: conventions, sections, every function with
# its brief) and OUT/<function>.3 for every RMTL_API function.
#
# The header's layout is the input format: banner comments name sections, a
# plain `/*` block in a section explains it, and a `/** */` comment documents
# the declarations right below it. Declarations that follow one another
# without a blank line or a comment of their own share the comment above
# (e.g. the typed setters) and so share one page, under each name, as
# several functions share one page in the C library's manual.
# POSIX awk (mawk).

function is_dashes(s) { return s ~ /^\/\* -+ \*\/$/ }

function new_section(title) {
    sec_title[++nsec] = title
    sec_prose[nsec] = ""
}

# Text of a comment line: without the opening "/*" or "/**", the leading
# " * " and the closing "*/"; keeps extra indentation (lists, code).
function comment_text(s) {
    sub(/^[ \t]*\/\*\*?/, "", s)
    sub(/^[ \t]*\*\/.*$/, "", s)
    sub(/\*\/[ \t]*$/, "", s)
    sub(/^[ \t]*\* ?/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

function add_text(old, s) { return old == "" ? s : old "\n" s }

# --- roff ----------------------------------------------------------------
function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    return s
}

# Bold for function references "rmtl_x()" in running text.
function refs(s,    out) {
    out = ""
    while (match(s, /rmtl_[a-z0-9_]+\(\)/)) {
        out = out substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART, RLENGTH - 2) "\\fP()"
        s = substr(s, RSTART + RLENGTH)
    }
    return out s
}

# One line of running text: `code` in bold, escapes, no leading dot.
function inline(s,    out, n, parts, k) {
    s = esc(s)
    n = split(s, parts, "`")
    out = ""
    for (k = 1; k <= n; k++)
        out = out ((k % 2) ? refs(parts[k]) : "\\fB" parts[k] "\\fP")
    if (out ~ /^[.']/) out = "\\&" out
    return out
}

# A description (lines joined by "\n") as roff: paragraphs, "- " lists,
# and code indented by four spaces after a blank line.
function render(text,    L, n, k, s, t, ind, out, state, blank, li_ind) {
    n = split(text, L, "\n")
    out = ""
    state = ""
    blank = 1
    for (k = 1; k <= n; k++) {
        s = L[k]
        t = trim(s)
        match(s, /^ */)
        ind = RLENGTH
        if (t == "") {
            blank = 1
            continue
        }
        if (state == "code" && ind >= 4) {
            out = out "\n" (blank ? "\n" : "") esc(substr(s, 5))
            blank = 0
            continue
        }
        if (state == "code") {
            out = out "\n.fi\n.RE"
            state = ""
        }
        if (blank && ind >= 4 && out != "") {
            out = out "\n.PP\n.RS 4\n.nf\n" esc(substr(s, 5))
            state = "code"
            blank = 0
            continue
        }
        if (t ~ /^- /) {
            out = out "\n.IP \\(bu 2\n" inline(substr(t, 3))
            state = "li"
            li_ind = ind
        } else if (state == "li" && ind > li_ind && !blank) {
            out = out "\n" inline(t)
        } else {
            if (blank || state == "li") out = out "\n.PP"
            out = out "\n" inline(t)
            state = "p"
        }
        blank = 0
    }
    if (state == "code") out = out "\n.fi\n.RE"
    sub(/^\n/, "", out)
    return out
}

# First sentence of a description, for NAME lines and lists.
function brief(text,    s, k) {
    s = text
    gsub(/\n/, " ", s)
    gsub(/[ \t]+/, " ", s)
    s = trim(s)
    brief_code = 0
    if ((k = sentence_end(s, 1))) s = substr(s, 1, k - 1)
    gsub(/`/, "", s)
    return s
}

# A prototype on lines of at most 78 columns, the parameters aligned
# after the opening parenthesis.
function wrap_proto(p,    open, pad, n, parts, k, out, cur) {
    open = index(p, "(")
    if (length(p) <= 78 || !open) return p
    pad = sprintf("%" open "s", "")
    n = split(substr(p, open + 1), parts, ", ")
    cur = substr(p, 1, open) parts[1]
    out = ""
    for (k = 2; k <= n; k++) {
        if (length(cur) + 2 + length(parts[k]) > 78) {
            out = out cur ",\n"
            cur = pad parts[k]
        } else {
            cur = cur ", " parts[k]
        }
    }
    return out cur
}

function header(f, title) {
    print ".\\\" -*- coding: UTF-8 -*-" > f
    print ".\\\" Generated from include/rmtl.h by docs/man.awk (make man); do not edit." > f
    print ".TH " toupper(title) " 3 \"\" \"librmtl " version "\" \"librmtl Manual\"" > f
    # Function names are not hyphenated, lines not stretched.
    print ".nh" > f
    print ".ad l" > f
}

function synopsis(f, g,    k) {
    print ".SH SYNOPSIS" > f
    print ".nf" > f
    print ".B #include <rmtl.h>" > f
    for (k = 1; k <= grp_n[g]; k++) {
        print ".PP" > f
        print esc(wrap_proto(grp_proto[g, k])) > f
    }
    print ".fi" > f
    print ".PP" > f
    print "Link with \\fI\\-lrmtl\\fP, e.g.\\& \\fBcc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs rmtl)\\fP." > f
}

function page(g, k,    f, j, s, names, see, d) {
    f = dir "/" grp_fn[g, k] ".3"
    header(f, grp_fn[g, k])
    names = ""
    for (j = 1; j <= grp_n[g]; j++) names = names (j > 1 ? ", " : "") grp_fn[g, j]
    print ".SH NAME" > f
    d = grp_doc[g] == "" ? "see the " sec_title[grp_sec[g]] " section of rmtl(3)" : brief(grp_doc[g])
    print esc(names) " \\- " esc(d) > f
    synopsis(f, g)
    print ".SH DESCRIPTION" > f
    if (grp_doc[g] != "") print render(grp_doc[g]) > f
    else print "Not documented on its own in the header; see \\fBrmtl\\fP(3)." > f
    if (sec_prose[grp_sec[g]] != "") {
        print ".SH NOTES" > f
        print render(sec_prose[grp_sec[g]]) > f
    }
    print ".SH SEE ALSO" > f
    see = "\\fBrmtl\\fP(3)"
    for (j = 1; j <= ngrp; j++)
        if (j != g && grp_sec[j] == grp_sec[g]) see = see ",\n\\fB" esc(grp_fn[j, 1]) "\\fP(3)"
    print see > f
    close(f)
}

function overview(    f, s, g, k, name) {
    f = dir "/rmtl.3"
    header(f, "rmtl")
    print ".SH NAME" > f
    # The file comment's first line is the library's name and purpose.
    name = brief(file_doc)
    sub(/^librmtl[^a-z]*/, "", name)
    print "rmtl \\- " esc(name) > f
    print ".SH SYNOPSIS" > f
    print ".nf" > f
    print ".B #include <rmtl.h>" > f
    print ".PP" > f
    print ".B cc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs rmtl)" > f
    print ".fi" > f
    print ".SH DESCRIPTION" > f
    print render(substr(file_doc, index(file_doc, "\n") + 1)) > f
    for (s = 1; s <= nsec; s++) {
        if (!sec_fns[s]) continue
        print ".SS " esc(sec_title[s]) > f
        if (sec_prose[s] != "") print render(sec_prose[s]) > f
        for (g = 1; g <= ngrp; g++) {
            if (grp_sec[g] != s) continue
            for (k = 1; k <= grp_n[g]; k++) {
                print ".TP" > f
                print "\\fB" esc(grp_fn[g, k]) "\\fP(3)" > f
                print (grp_doc[g] == "" ? "(see the header)" : esc(brief(grp_doc[g]))) > f
            }
        }
    }
    print ".SH SEE ALSO" > f
    print "The HTML reference (\\fBmake docs\\fP) and the guides in \\fIdocs/\\fP of the source tree." > f
    close(f)
}

# --- parsing -------------------------------------------------------------
{ line[++n] = $0 }

END {
    if (dir == "" || version == "") {
        print "man.awk: set -v dir=... -v version=..." > "/dev/stderr"
        exit 1
    }
    new_section("General")
    for (i = 1; i <= n; i++) {
        s = line[i]
        if (is_dashes(s) && i + 2 <= n && is_dashes(line[i + 2])) {
            t = line[i + 1]
            sub(/^\/\* /, "", t); sub(/\*\/$/, "", t)
            new_section(trim(t))
            i += 2
            pending = joined = 0
            continue
        }
        if (s ~ /^\/\* --- [^-].* -+ \*\/$/) {
            t = s
            sub(/^\/\* --- /, "", t); sub(/ -+ \*\/$/, "", t)
            new_section(trim(t))
            pending = joined = 0
            continue
        }
        # Comments: the file's first, a section's explanatory block, or
        # the documentation of the next declaration.
        if (s ~ /^\/\*/) {
            kind = (i == 1 || !seen_code) ? "file" : s ~ /^\/\*\*/ ? "doc" : s == "/*" ? "prose" : ""
            text = ""
            for (;;) {
                if (kind != "") {
                    t = comment_text(line[i])
                    if (!(t == "" && text == "")) text = add_text(text, t)
                }
                if (index(line[i], "*/")) break
                if (++i > n) break
            }
            seen_code = 1
            if (kind == "file") file_doc = text
            if (kind == "prose") sec_prose[nsec] = add_text(sec_prose[nsec], text)
            if (kind == "doc") { doc = text; pending = 1 }
            joined = 0
            continue
        }
        if (s ~ /^RMTL_API[ \t]/) {
            proto = s
            while (proto !~ /;/ && i < n) proto = proto " " trim(line[++i])
            sub(/^RMTL_API[ \t]+/, "", proto)
            gsub(/[ \t]+/, " ", proto)
            t = proto
            gsub(/RMTL_DEPRECATED\([^)]*\)/, "", t)
            match(t, /[A-Za-z_][A-Za-z0-9_]*\(/)
            name = substr(t, RSTART, RLENGTH - 1)
            if (!joined || pending) {
                grp_sec[++ngrp] = nsec
                grp_doc[ngrp] = pending ? doc : ""
            }
            grp_fn[ngrp, ++grp_n[ngrp]] = name
            grp_proto[ngrp, grp_n[ngrp]] = proto
            sec_fns[nsec]++
            pending = 0
            joined = 1
            continue
        }
        if (trim(s) == "") { joined = 0; continue }
        seen_code = 1
        pending = joined = 0
    }
    for (g = 1; g <= ngrp; g++)
        for (k = 1; k <= grp_n[g]; k++) page(g, k)
    overview()
}
