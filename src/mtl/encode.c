/* rmtl_encode_rows / rmtl_encode_columns: the encoder (data/encoder.c)
 * writing into buffers of the caller's context, which grow to the largest
 * request and are then reused: no allocation per request. */
#include "core/internal.h"
#include "data/encoder.h"
#include "mtl/model.h"

/* Grows *buf to hold n elements of `size` bytes. */
static int rmtl__enc_reserve(void **buf, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    void *p = rmtl__realloc(*buf, (n ? n : 1) * size);
    if (!p)
        return rmtl__error(RMTL_ENOMEM, "out of memory for %zu encoded values", n);
    *buf = p;
    *cap = n;
    return 0;
}

static int rmtl__encode_batch(rmtl_batch *out, const rmtl_encoder *e, rmtl_ctx *ctx,
                              const char *fn, const char *const *by_row,
                              const char *const *const *by_col, size_t n_columns, size_t rows)
{
    if (out->version < 1)
        return rmtl__error(RMTL_EINVAL,
                           "%s: the batch has version %u: initialise it with RMTL_BATCH_INIT",
                           fn, (unsigned)out->version);
    if (n_columns != e->n_in)
        return rmtl__error(RMTL_EINVAL, "%s: %zu columns given, the encoder reads %zu", fn,
                           n_columns, e->n_in);
    if ((e->n_cat && rows > SIZE_MAX / sizeof(int32_t) / e->n_cat) ||
        (e->n_num && rows > SIZE_MAX / sizeof(float) / e->n_num))
        return rmtl__error(RMTL_EINVAL, "%s: %zu rows is too many", fn, rows);
    int rc = rmtl__enc_reserve((void **)&ctx->enc_cat, &ctx->enc_cat_cap, rows * e->n_cat,
                               sizeof *ctx->enc_cat);
    if (!rc && e->n_num)
        rc = rmtl__enc_reserve((void **)&ctx->enc_num, &ctx->enc_num_cap, rows * e->n_num,
                               sizeof *ctx->enc_num);
    if (rc)
        return rmtl__error_prefix(rc, "%s", fn);
    if ((rc = rmtl__encode(e, fn, by_row, by_col, rows, ctx->enc_cat, ctx->enc_num)))
        return rc;
    out->rows = rows;
    out->cat = ctx->enc_cat;
    out->num = e->n_num ? ctx->enc_num : NULL;
    out->labels = NULL;
    out->weights = NULL;
    out->session = NULL;
    return 0;
}

int rmtl_encode_rows(rmtl_batch *out, const rmtl_encoder *enc, rmtl_ctx *ctx,
                     const char *const *values, size_t rows, size_t n_columns)
{
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(enc, "enc");
    RMTL__CHECK_ARG(ctx, "ctx");
    RMTL__CHECK_ARG(values || rows == 0, "values");
    return rmtl__encode_batch(out, enc, ctx, "rmtl_encode_rows", values, NULL, n_columns, rows);
}

int rmtl_encode_columns(rmtl_batch *out, const rmtl_encoder *enc, rmtl_ctx *ctx,
                        const char *const *const *columns, size_t n_columns, size_t rows)
{
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(enc, "enc");
    RMTL__CHECK_ARG(ctx, "ctx");
    RMTL__CHECK_ARG(columns || rows == 0 || n_columns == 0, "columns");
    return rmtl__encode_batch(out, enc, ctx, "rmtl_encode_columns", NULL, columns, n_columns,
                              rows);
}
