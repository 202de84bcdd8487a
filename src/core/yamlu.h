/* A thin layer over libyaml's document API shared by every YAML reader
 * (config, dataset schema): loading with positioned errors, and scalar
 * conversions that consume the whole text. */
#ifndef RMTL_CORE_YAMLU_H
#define RMTL_CORE_YAMLU_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/internal.h"

typedef struct rmtl__yaml {
    yaml_document_t doc;
    const char *name; /* file name or "<string>", borrowed, for messages */
    int loaded;
} rmtl__yaml;

/* Parses one YAML document. Syntax errors give RMTL_ECONFIG with
 * "name:line:col: problem (context)". An empty text loads as an empty
 * document whose root is NULL. Free with rmtl__yaml_free(), even on error. */
int rmtl__yaml_load(rmtl__yaml *y, const char *text, size_t len, const char *name);
void rmtl__yaml_free(rmtl__yaml *y);

yaml_node_t *rmtl__yaml_root(rmtl__yaml *y);
yaml_node_t *rmtl__yaml_node(rmtl__yaml *y, int id);

/* Sets the error message "name:line:col: <fmt>" from node `n`'s start mark
 * (n may be NULL: no position) and returns `code`. */
int rmtl__yaml_error(int code, const rmtl__yaml *y, const yaml_node_t *n, const char *fmt, ...)
    RMTL__PRINTF(4, 5);

/* The text of a scalar node, NUL-terminated, or NULL if `n` is no scalar. */
const char *rmtl__yaml_scalar(const yaml_node_t *n);

/* Conversions of a scalar's text: 0 on success, -1 when the text is not
 * entirely a value of that type (no trailing junk, no overflow). Doubles
 * must be finite (subnormals are accepted, underflow to zero is not);
 * booleans are exactly "true" or "false". */
int rmtl__parse_double(double *out, const char *s);
int rmtl__parse_int(int64_t *out, const char *s);
int rmtl__parse_bool(int *out, const char *s);

/* Reads a whole file into a NUL-terminated buffer (freed with rmtl__free).
 * RMTL_EIO with the path and the system's reason when it cannot. */
int rmtl__read_file(char **out, size_t *len, const char *path);

#endif
