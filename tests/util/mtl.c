/* Multi-task model test helpers (see mtl.h). */
#include "util/mtl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const mtl_archs[MTL_N_ARCH] = {"single_task", "shared_bottom", "esmm", "omoe",
                                           "mmoe",        "ple",           "aitm"};
const size_t mtl_vocab[MTL_N_CAT] = {5, 7, 4};

rmtl_config *mtl_small_config(const char *arch, uint64_t seed)
{
    rmtl_config *c = NULL;
    int64_t bottom[2] = {6, 5}, tower[1] = {4};
    if (rmtl_config_create(&c) || rmtl_config_set_string(c, "model.arch", arch) ||
        rmtl_config_set_int(c, "model.embed_dim", 4) ||
        rmtl_config_set_int_list(c, "model.bottom", bottom, 2) ||
        rmtl_config_set_int_list(c, "model.tower", tower, 1) ||
        rmtl_config_set_double(c, "model.dropout", 0.0) ||
        rmtl_config_set_int(c, "model.experts.count", 3) ||
        rmtl_config_set_int(c, "model.experts.specific", 2) ||
        rmtl_config_set_int(c, "model.experts.shared", 1) ||
        rmtl_config_set_int(c, "runtime.threads", 1) ||
        rmtl_config_set_int(c, "runtime.seed", (int64_t)seed)) {
        rmtl_config_free(c);
        return NULL;
    }
    return c;
}

static double mtl_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53;
}

void mtl_data_make(mtl_data *d, size_t rows, size_t T, uint64_t seed)
{
    d->rows = rows;
    d->T = T;
    d->cat = malloc(rows * MTL_N_CAT * sizeof *d->cat);
    d->num = malloc(rows * MTL_N_NUM * sizeof *d->num);
    d->labels = malloc(rows * T * sizeof *d->labels);
    d->weights = malloc(rows * T * sizeof *d->weights);
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < rows; i++) {
        int32_t *c = d->cat + i * MTL_N_CAT;
        float *x = d->num + i * MTL_N_NUM;
        for (size_t f = 0; f < MTL_N_CAT; f++)
            c[f] = (int32_t)(mtl_next(&s) * (double)mtl_vocab[f]);
        for (size_t j = 0; j < MTL_N_NUM; j++)
            x[j] = (float)(2.0 * mtl_next(&s) - 1.0) * 1.5f;
        double logit[3] = {2.0 * x[0] + (c[0] % 2 ? 1.5 : -1.5),
                           2.0 * x[1] + (c[1] < 3 ? 1.5 : -1.0) + 1.0,
                           1.5 * (x[0] - x[1]) + (c[2] == 1 ? 2.0 : -0.5) + 1.0};
        float prev = 1.0f;
        for (size_t k = 0; k < T; k++) {
            double p = 1.0 / (1.0 + exp(-logit[k % 3]));
            float y = prev > 0.0f && mtl_next(&s) < p ? 1.0f : 0.0f;
            d->labels[i * T + k] = y;
            d->weights[i * T + k] = (float)(0.5 + 1.5 * mtl_next(&s));
            prev = y;
        }
    }
}

void mtl_data_free(mtl_data *d)
{
    free(d->cat);
    free(d->num);
    free(d->labels);
    free(d->weights);
    memset(d, 0, sizeof *d);
}

rmtl_batch mtl_batch(const mtl_data *d, size_t start, size_t n, int with_weights)
{
    rmtl_batch b = RMTL_BATCH_INIT;
    b.rows = n;
    b.cat = d->cat + start * MTL_N_CAT;
    b.num = d->num + start * MTL_N_NUM;
    b.labels = d->labels + start * d->T;
    b.weights = with_weights ? d->weights + start * d->T : NULL;
    return b;
}

double mtl_auc(const float *scores, const float *labels, size_t n, size_t stride)
{
    double pairs = 0.0, wins = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i * stride] != 1.0f)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (labels[j * stride] != 0.0f)
                continue;
            float a = scores[i * stride], b = scores[j * stride];
            wins += a > b ? 1.0 : a == b ? 0.5 : 0.0;
            pairs += 1.0;
        }
    }
    return pairs > 0.0 ? wins / pairs : NAN;
}

rmtl_model *mtl_model(const rmtl_config *cfg, size_t T)
{
    int32_t cat[MTL_N_CAT] = {0};
    float num[MTL_N_NUM] = {0};
    float *labels = calloc(T ? T : 1, sizeof *labels);
    rmtl_dataset *ds = NULL;
    rmtl_model *m = NULL;
    if (labels &&
        rmtl_dataset_from_arrays(&ds, 1, MTL_N_CAT, mtl_vocab, cat, MTL_N_NUM, num, T, labels,
                                 NULL) == RMTL_OK &&
        rmtl_model_create(&m, cfg, ds) != RMTL_OK)
        m = NULL;
    rmtl_dataset_free(ds);
    free(labels);
    return m;
}
