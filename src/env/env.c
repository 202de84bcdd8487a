/* The env handle's destructor, whatever its kind. */
#include "env/env.h"

#include "core/internal.h"
#include "sim/sim.h"

void rmtl_env_free(rmtl_env *env)
{
    if (!env)
        return;
    if (env->kind == RMTL__ENV_SIM)
        rmtl__sim_free(env->sim);
    rmtl__free(env);
}
