/* Fuzz target: rmtl_fuse_scores on arbitrary floats.
 *
 * Input: a control byte, then raw float bit patterns (NaN, infinities,
 * denormals, huge values) for the state and the task scores; missing bytes
 * read as zero. The control byte picks one of four fusion handles (product
 * or sum formula, wide weight bounds where log(0) meets a negative weight,
 * a fixed action, scores in the state or not) and, with bits 2-4, a wrong
 * state length, score count or action capacity. A success must give a
 * finite fused score, an action within the configured bounds and, bit for
 * bit, what rmtl_fuse_scores_batch() gives for the same pair; a failure
 * must write nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "rmtl.h"

#define N_HANDLES 4
#define MAX_DIM 64

static const char *const handle_yaml[N_HANDLES] = {
    "model: {tasks: [click, buy]}\n"
    "fusion: {actor_hidden: [8, 4], critic_hidden: [4], critic_ensemble: 2,\n"
    "         state: {user_dim: 3, item_dim: 3, context_dim: 2}}\n",
    "model: {tasks: [click, buy, like]}\n"
    "fusion: {formula: sum, granularity: user, weight_min: -100, weight_max: 100,\n"
    "         actor_hidden: [6], critic_hidden: [4], critic_ensemble: 1,\n"
    "         reward_coef: [1, 2, 3], reward_group: [0, 0, 1],\n"
    "         state: {user_dim: 2, item_dim: 4, context_dim: 0}}\n",
    "model: {tasks: [click, buy]}\n"
    "fusion: {weight_min: -100, weight_max: 100, bias_min: 0, bias_max: 0,\n"
    "         actor_hidden: [5], critic_hidden: [4], critic_ensemble: 1,\n"
    "         state: {user_dim: 1, item_dim: 2, context_dim: 1, scores: false}}\n",
    "model: {tasks: [click, buy]}\n"
    "fusion: {weight_min: -100, weight_max: 100, bias_min: 0, bias_max: 100,\n"
    "         actor_hidden: [4], critic_hidden: [4], critic_ensemble: 1,\n"
    "         state: {user_dim: 2, item_dim: 2, context_dim: 2}}\n",
};
/* Handle 3 serves this fixed action (w1, w2, b1, b2). */
static const float fixed_action[4] = {-100.0f, 100.0f, 0.0f, 100.0f};

static rmtl_fusion *handles[N_HANDLES];
static rmtl_fusion_info infos[N_HANDLES];
static double bounds[N_HANDLES][4]; /* weight_min, weight_max, bias_min, bias_max */

static void make_handles(void)
{
    static const char *const keys[4] = {"fusion.weight_min", "fusion.weight_max",
                                        "fusion.bias_min", "fusion.bias_max"};
    for (int h = 0; h < N_HANDLES; h++) {
        rmtl_config *cfg = NULL;
        fuzz_require(rmtl_config_create(&cfg) == RMTL_OK, "rmtl_config_create");
        fuzz_require(rmtl_config_load_string(cfg, handle_yaml[h], strlen(handle_yaml[h]),
                                             NULL) == RMTL_OK,
                     "fusion config");
        fuzz_require(rmtl_fusion_create(&handles[h], cfg) == RMTL_OK, "rmtl_fusion_create");
        for (int k = 0; k < 4; k++)
            fuzz_require(rmtl_config_get_double(&bounds[h][k], cfg, keys[k]) == RMTL_OK,
                         "fusion bounds");
        rmtl_config_free(cfg);
        infos[h].version = RMTL_FUSION_INFO_VERSION;
        fuzz_require(rmtl_fusion_describe(&infos[h], handles[h]) == RMTL_OK, "describe");
        fuzz_require(infos[h].state_dim <= MAX_DIM && infos[h].action_dim <= MAX_DIM,
                     "fusion dims");
    }
    fuzz_require(rmtl_fusion_set_fixed(handles[3], fixed_action, 4) == RMTL_OK,
                 "rmtl_fusion_set_fixed");
}

/* The single-pair result must equal the batched one, bit for bit. */
static void compare_batch(const rmtl_fusion *f, const rmtl_fusion_info *in, const float *state,
                          const float *scores, float fused, const float *action)
{
    rmtl_fusion_request req = RMTL_FUSION_REQUEST_INIT;
    req.n = 1;
    req.user_dim = in->user_dim;
    req.user = in->user_dim ? state : NULL;
    req.item_dim = in->item_dim;
    req.items = in->item_dim ? state + in->user_dim : NULL;
    req.context_dim = in->context_dim;
    req.context = in->context_dim ? state + in->user_dim + in->item_dim : NULL;
    req.tasks = in->tasks;
    req.scores = scores;
    float bfused, baction[MAX_DIM];
    int rc = rmtl_fuse_scores_batch(f, NULL, &req, &bfused, 1, baction, in->action_dim);
    fuzz_require(rc == RMTL_OK, "rmtl_fuse_scores_batch refused what rmtl_fuse_scores took");
    fuzz_require(memcmp(&bfused, &fused, sizeof fused) == 0,
                 "rmtl_fuse_scores and rmtl_fuse_scores_batch differ");
    fuzz_require(memcmp(baction, action, in->action_dim * sizeof *action) == 0,
                 "rmtl_fuse_scores and rmtl_fuse_scores_batch give different actions");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!handles[0])
        make_handles();
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    int h = (int)(ctl & 3u);
    const rmtl_fusion_info *in = &infos[h];
    float vals[2 * MAX_DIM] = {0};
    size_t nbytes = size - 1 < sizeof vals ? size - 1 : sizeof vals;
    memcpy(vals, data + 1, nbytes);
    const float *state = vals, *scores = vals + in->state_dim;

    /* Bits 2-4 make one length wrong; such calls must fail. */
    size_t state_len = in->state_dim + ((ctl & 4u) ? 1 : 0);
    size_t n_scores = in->tasks - ((ctl & 8u) ? 1 : 0);
    size_t capacity = in->action_dim - ((ctl & 16u) ? 1 : 0);
    int bad_len = (ctl & 28u) != 0;

    const float sentinel = -12345.0f;
    float fused = sentinel, action[MAX_DIM];
    for (size_t i = 0; i < MAX_DIM; i++)
        action[i] = sentinel;
    int rc = rmtl_fuse_scores(&fused, handles[h], state, state_len, scores, n_scores,
                              (ctl & 32u) ? NULL : action, capacity);
    fuzz_check_status(rc, "rmtl_fuse_scores");
    if (rc != RMTL_OK) {
        fuzz_require(rc == RMTL_EINVAL || rc == RMTL_ENUMERIC, "unexpected rmtl_fuse_scores status");
        fuzz_require(fused == sentinel, "a failed rmtl_fuse_scores wrote its result");
        for (size_t i = 0; i < MAX_DIM; i++)
            fuzz_require(action[i] == sentinel, "a failed rmtl_fuse_scores wrote its action");
        return 0;
    }
    fuzz_require(!bad_len || (ctl & 32u && (ctl & 28u) == 16u),
                 "rmtl_fuse_scores accepted a wrong length");
    fuzz_require(isfinite(fused), "rmtl_fuse_scores succeeded with a non-finite score");
    if (ctl & 32u)
        return 0;
    size_t T = in->tasks;
    for (size_t i = 0; i < in->action_dim; i++) {
        double lo = i < T ? bounds[h][0] : bounds[h][2], hi = i < T ? bounds[h][1] : bounds[h][3];
        fuzz_require(action[i] >= lo && action[i] <= hi, "an action outside its bounds");
    }
    compare_batch(handles[h], in, state, scores, fused, action);
    return 0;
}
