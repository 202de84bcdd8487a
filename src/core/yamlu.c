/* libyaml document helpers and strict scalar parsing. */
#include "core/yamlu.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rmtl__yaml_load(rmtl__yaml *y, const char *text, size_t len, const char *name)
{
    memset(y, 0, sizeof *y);
    y->name = name ? name : "<string>";
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return rmtl__error(RMTL_ENOMEM, "%s: cannot initialise the YAML parser", y->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, &y->doc);
    int rc = 0;
    if (!ok) {
        if (parser.error == YAML_MEMORY_ERROR)
            rc = rmtl__error(RMTL_ENOMEM, "%s: out of memory while parsing YAML", y->name);
        else if (parser.context)
            rc = rmtl__error(RMTL_ECONFIG, "%s:%zu:%zu: %s (%s)", y->name,
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "syntax error", parser.context);
        else
            rc = rmtl__error(RMTL_ECONFIG, "%s:%zu:%zu: %s", y->name,
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "syntax error");
    } else {
        y->loaded = 1;
    }
    yaml_parser_delete(&parser);
    return rc;
}

void rmtl__yaml_free(rmtl__yaml *y)
{
    if (y && y->loaded) {
        yaml_document_delete(&y->doc);
        y->loaded = 0;
    }
}

yaml_node_t *rmtl__yaml_root(rmtl__yaml *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

yaml_node_t *rmtl__yaml_node(rmtl__yaml *y, int id)
{
    return y->loaded ? yaml_document_get_node(&y->doc, id) : NULL;
}

int rmtl__yaml_error(int code, const rmtl__yaml *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return rmtl__error(code, "%s:%zu:%zu: %s", y->name, n->start_mark.line + 1,
                           n->start_mark.column + 1, msg);
    return rmtl__error(code, "%s: %s", y->name, msg);
}

const char *rmtl__yaml_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int rmtl__parse_double(double *out, const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* ERANGE also flags subnormal results, which are exact enough and
     * must load back from a dump; only overflow and total underflow fail. */
    if (end == s || *end != '\0' || !isfinite(v) || (errno == ERANGE && v == 0.0))
        return -1;
    *out = v;
    return 0;
}

int rmtl__parse_int(int64_t *out, const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int rmtl__parse_bool(int *out, const char *s)
{
    if (s && !strcmp(s, "true"))
        return *out = 1, 0;
    if (s && !strcmp(s, "false"))
        return *out = 0, 0;
    return -1;
}

int rmtl__read_file(char **out, size_t *len, const char *path)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rmtl__error(RMTL_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = rmtl__malloc(cap);
    if (!buf) {
        fclose(f);
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap < SIZE_MAX / 2 ? rmtl__realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rmtl__free(buf);
                fclose(f);
                return rmtl__error(RMTL_ENOMEM, "%s: out of memory", path);
            }
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        rmtl__free(buf);
        return rmtl__error(RMTL_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
