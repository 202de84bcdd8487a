/* rmtl_env: one handle for the two kinds of session environment, the
 * simulator (its public calls in sim_env.c and sim_runs.c, its engine in
 * src/sim) and the MDP over a dataset's sessions (denv.c). Each public call
 * checks the kind it needs. */
#ifndef RMTL_ENV_ENV_H
#define RMTL_ENV_ENV_H

#include "rmtl.h"

enum rmtl__env_kind { RMTL__ENV_SIM = 1, RMTL__ENV_DATA = 2 };

struct rmtl__sim;
struct rmtl__denv;

struct rmtl_env {
    int kind;                /* enum rmtl__env_kind */
    struct rmtl__sim *sim;   /* kind == RMTL__ENV_SIM */
    struct rmtl__denv *data; /* kind == RMTL__ENV_DATA */
};

/* The dataset MDP's destructor (denv.c), declared here so that the
 * handle's destructor needs only the handle. */
void rmtl__denv_free(struct rmtl__denv *e);

#endif
