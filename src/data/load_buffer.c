/* rmtl_dataset_load_buffer: the CSV loader (load.c) on bytes in memory. */
#include "core/internal.h"
#include "data/dataset.h"

int rmtl_dataset_load_buffer(rmtl_dataset **out, const void *csv, size_t csv_len,
                             const char *csv_name, const char *schema, size_t schema_len,
                             const rmtl_dataset *reference)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(csv || csv_len == 0, "csv");
    RMTL__CHECK_ARG(schema || schema_len == 0, "schema");
    int rc = rmtl__dataset_load_mem(out, csv, csv_len, csv_name ? csv_name : "<buffer>", schema,
                                    schema_len, NULL, reference);
    return rc ? rmtl__error_prefix(rc, "rmtl_dataset_load_buffer") : 0;
}
