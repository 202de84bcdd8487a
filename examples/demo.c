/* librmtl's main job on bundled data. Until the models land, it checks the
 * installation: loads the default configuration, validates it and prints
 * the build (with the BLIS kernel set in use). `--quick` is accepted so CI
 * can run the same command line it will use for the full pipeline. */
#include <rmtl.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick")) {
            fprintf(stderr, "usage: demo [--quick]\n");
            return 2;
        }
    rmtl_config *cfg = NULL;
    int rc = rmtl_config_create(&cfg);
    if (rc == RMTL_OK)
        rc = rmtl_config_validate(cfg);
    if (rc != RMTL_OK) {
        fprintf(stderr, "demo: %s: %s\n", rmtl_strerror(rc), rmtl_last_error());
        rmtl_config_free(cfg);
        return 1;
    }
    printf("librmtl %s\n%s\n", rmtl_version_string(), rmtl_build_info());
    char *yaml = NULL;
    if (rmtl_config_dump(&yaml, NULL, cfg) == RMTL_OK)
        printf("default configuration:\n%s", yaml);
    rmtl_free(yaml);
    rmtl_config_free(cfg);
    return 0;
}
