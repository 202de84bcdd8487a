/* The encoder allocates nothing once its context has served a request of a
 * size (counted through the library's allocation hook), and a failed
 * allocation while growing is RMTL_ENOMEM with a message and the batch
 * untouched. */
#include <check.h>
#include <string.h>

#include "core/internal.h"
#include "rmtl.h"

static const char schema[] = "columns: {c: categorical, x: numerical, y: {role: label, positive: '1'}}\n"
                             "tasks: [y]\n";
static const char csv[] = "c,x,y\na,1,1\nb,2,0\n";

START_TEST(test_encode_alloc_free_after_warmup)
{
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_load_buffer(&ds, csv, strlen(csv), NULL, schema, strlen(schema),
                                              NULL),
                     RMTL_OK);
    rmtl_encoder *enc = NULL;
    rmtl_ctx *ctx = NULL;
    ck_assert_int_eq(rmtl_encoder_create(&enc, ds, NULL, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), RMTL_OK);
    const char *rows[] = {"a", "1", "b", "2", "zz", "", "a", "3"};
    rmtl_batch b = RMTL_BATCH_INIT;
    /* growing fails cleanly */
    rmtl__alloc_fail_after(1);
    ck_assert_int_eq(rmtl_encode_rows(&b, enc, ctx, rows, 4, 2), RMTL_ENOMEM);
    rmtl__alloc_fail_after(0);
    ck_assert(strstr(rmtl_last_error(), "rmtl_encode_rows"));
    ck_assert_uint_eq(b.rows, 0);
    /* warm-up, then no allocation for this size or smaller */
    ck_assert_int_eq(rmtl_encode_rows(&b, enc, ctx, rows, 4, 2), RMTL_OK);
    rmtl__alloc_fail_after(0);
    for (size_t n = 4; n >= 1; n--)
        ck_assert_int_eq(rmtl_encode_rows(&b, enc, ctx, rows, n, 2), RMTL_OK);
    const char *c0[] = {"a", "b"}, *c1[] = {"1", "2"};
    const char *const *cols[] = {c0, c1};
    ck_assert_int_eq(rmtl_encode_columns(&b, enc, ctx, cols, 2, 2), RMTL_OK);
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    rmtl_encoder_free(enc);
    rmtl_ctx_free(ctx);
    rmtl_dataset_free(ds);
}
END_TEST

Suite *rmtl_test_encode_alloc_suite(void)
{
    Suite *s = suite_create("encode_alloc");
    TCase *tc = tcase_create("warmup");
    tcase_add_test(tc, test_encode_alloc_free_after_warmup);
    suite_add_tcase(s, tc);
    return s;
}
