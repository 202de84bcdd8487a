/* The smallest librmtl program: check the runtime version against the
 * header, load a configuration, print one value and the build info.
 *   cc hello.c $(pkg-config --cflags --libs rmtl) */
#include <rmtl.h>
#include <stdio.h>

int main(void)
{
    if (rmtl_version_number() / 100 != RMTL_VERSION_NUMBER / 100) {
        fprintf(stderr, "librmtl %s does not match header %s\n", rmtl_version_string(),
                RMTL_VERSION_STRING);
        return 1;
    }
    rmtl_config *cfg;
    static const char yaml[] = "model: {arch: esmm, embed_dim: 16}\nrl: {gamma: 0.95}\n";
    if (rmtl_config_create(&cfg) != RMTL_OK ||
        rmtl_config_load_string(cfg, yaml, sizeof yaml - 1, "hello.yaml") != RMTL_OK) {
        fprintf(stderr, "error: %s\n", rmtl_last_error());
        rmtl_config_free(cfg);
        return 1;
    }
    double gamma = 0;
    rmtl_config_get_double(&gamma, cfg, "rl.gamma");
    printf("librmtl %s, rl.gamma = %g\n%s\n", rmtl_version_string(), gamma, rmtl_build_info());
    rmtl_config_free(cfg);
    return 0;
}
