/* Placeholder: replaced by the descriptor-table config. */
#include "core/internal.h"
int rmtl_config_create(rmtl_config **out)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    return rmtl__error(RMTL_ERROR, "config: not implemented");
}
void rmtl_config_free(rmtl_config *cfg) { (void)cfg; }
