/* rmtl_env: one handle for the two kinds of session environment, the
 * simulator (src/sim) and, later, the MDP over a dataset's sessions. Each
 * public call checks the kind it needs. */
#ifndef RMTL_ENV_ENV_H
#define RMTL_ENV_ENV_H

#include "rmtl.h"

enum rmtl__env_kind { RMTL__ENV_SIM = 1 };

struct rmtl__sim;

struct rmtl_env {
    int kind;              /* enum rmtl__env_kind */
    struct rmtl__sim *sim; /* kind == RMTL__ENV_SIM */
};

#endif
