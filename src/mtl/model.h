/*
 * rmtl_model and rmtl_ctx internals: a config copy, the layout, the network
 * and its training state (Adam, the dropout and shuffle streams, the
 * training workspace and pass storage). Prediction touches none of the
 * training state: it runs the network's evaluation pass in a ctx.
 */
#ifndef RMTL_MTL_MODEL_H
#define RMTL_MTL_MODEL_H

#include "dist/gx.h"
#include "mtl/model_hp.h"
#include "mtl/layout.h"
#include "mtl/net.h"
#include "nn/adam.h"
#include "rmtl.h"

struct rmtl_model {
    rmtl_config *cfg;             /* owned copy; CONF of checkpoints */
    rmtl__mtlhp hp;               /* cfg's values */
    rmtl__layout lay;
    rmtl__net net;
    rmtl__adam opt;
    rmtl__rng drop;               /* RMTL__STREAM_DROPOUT */
    rmtl__rng shuffle;            /* RMTL__STREAM_SAMPLE: train_epoch order */
    rmtl__ws ws;                  /* training workspace (runtime.threads) */
    rmtl__tape tape;
    rmtl_dataset *schema;         /* the training data's schema, or NULL */
    rmtl__gx gx;                  /* gradient exchange (dist/gx.h), not cloned */
};

struct rmtl_ctx {
    rmtl__ws ws;
    rmtl__tape tape;
    /* the batch of the last rmtl_encode_* call (mtl/encode.c) */
    int32_t *enc_cat;
    float *enc_num;
    size_t enc_cat_cap, enc_num_cap; /* elements */
};

/* Creates a model for a layout (copied) without a dataset: what
 * rmtl_model_create does after reading the layout from the training data,
 * and what tests use. */
int rmtl__model_create_layout(rmtl_model **out, const rmtl_config *cfg,
                              const rmtl__layout *lay);

/* The loss of a batch and (train = 1: with dropout) its gradients,
 * accumulated into the parameters' g without an optimizer step; the
 * caller zeroes them (rmtl__params_zero_grad(&m->net.ps)). For gradient
 * checks. */
int rmtl__model_loss(rmtl_model *m, const rmtl_batch *b, int train, double *loss);

/* The schema of src (a dataset without rows) into dst (model_data.c);
 * and its release. */
int rmtl__model_copy_schema(rmtl_model *dst, const rmtl_model *src);
void rmtl__model_free_schema(rmtl_model *m);
/* The DATA section payload: the schema blob (save), and a schema read
 * from it into m (load; RMTL_EFORMAT when malformed). */
int rmtl__model_schema_save(rmtl__wbuf *w, const rmtl_model *m);
int rmtl__model_schema_load(rmtl_model *m, const void *data, size_t len);

/* Copies weights, Adam moments and step, and the random streams of src
 * into dst, built for the same config and layout. */
int rmtl__model_copy_state(rmtl_model *dst, const rmtl_model *src);

#endif
