/* Fuzz target: YAML configuration loading.
 *
 * Most inputs go to rmtl_config_load_string() as they are. One whose first
 * byte is '\x01' is a command-line override instead: "<key>=<value>" for
 * rmtl_config_set(). Whatever loads must also validate or fail cleanly,
 * and its canonical dump must load back into a fresh config and dump to
 * the same bytes (the promise of rmtl_config_dump()). */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "rmtl.h"

/* Dump -> load -> dump gives equal text. */
static void config_round_trip(const rmtl_config *cfg)
{
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    int rc = rmtl_config_dump(&a, &alen, cfg);
    fuzz_check_status(rc, "rmtl_config_dump");
    if (rc)
        return;
    rmtl_config *again = NULL;
    fuzz_require(rmtl_config_create(&again) == RMTL_OK, "rmtl_config_create");
    rc = rmtl_config_load_string(again, a, alen, "dump");
    fuzz_require(rc == RMTL_OK, "the canonical dump does not load back");
    fuzz_require(rmtl_config_dump(&b, &blen, again) == RMTL_OK, "second dump");
    fuzz_require(alen == blen && memcmp(a, b, alen) == 0, "dump -> load -> dump changed the text");
    rmtl_free(a);
    rmtl_free(b);
    rmtl_config_free(again);
}

/* "key=value" -> rmtl_config_set on NUL-terminated copies. */
static int config_set_pair(rmtl_config *cfg, const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    fuzz_require(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    char *eq = strchr(text, '=');
    int rc = RMTL_OK;
    if (eq) {
        *eq = '\0';
        rc = rmtl_config_set(cfg, text, eq + 1);
        fuzz_check_status(rc, "rmtl_config_set");
    }
    free(text);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rmtl_config *cfg = NULL;
    fuzz_require(rmtl_config_create(&cfg) == RMTL_OK, "rmtl_config_create");
    int rc;
    if (size > 0 && data[0] == 0x01) {
        rc = config_set_pair(cfg, data + 1, size - 1);
    } else {
        rc = rmtl_config_load_string(cfg, (const char *)data, size, "fuzz.yaml");
        fuzz_check_status(rc, "rmtl_config_load_string");
    }
    if (rc == RMTL_OK) {
        fuzz_check_status(rmtl_config_validate(cfg), "rmtl_config_validate");
        config_round_trip(cfg);
    }
    rmtl_config_free(cfg);
    return 0;
}
