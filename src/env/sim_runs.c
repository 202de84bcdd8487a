/* Runs of many sessions with a policy callback: rmtl_env_sim_evaluate and
 * rmtl_env_sim_log (one loop; the log only adds CSV rows). They play on
 * the env's second session, so the host's session is never disturbed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/afile.h"
#include "core/internal.h"
#include "data/value.h" /* rmtl__decimal */
#include "sim/sim.h"

#define RMTL__ACTION_DIM_MAX 4096
#define RMTL__LOG_EPOCH_MS UINT64_C(1700000000000) /* 2023-11-14, any fixed origin */
#define RMTL__LOG_DWELL_MS 60000u                  /* at most between two requests */

/* Welford's running mean and sum of squared deviations. */
typedef struct rmtl__moments {
    double mean, m2;
    size_t n;
} rmtl__moments;

static void rmtl__moments_add(rmtl__moments *m, double x)
{
    m->n++;
    double delta = x - m->mean;
    m->mean += delta / (double)m->n;
    m->m2 += delta * (x - m->mean);
}

static double rmtl__moments_std(const rmtl__moments *m)
{
    return m->n > 1 ? sqrt(m->m2 / (double)(m->n - 1)) : 0.0;
}

/* --- CSV ----------------------------------------------------------------- */
static const char *const rmtl__task_names[RMTL__SIM_TASKS] = {"click", "purchase", "like"};

static int rmtl__log_header(rmtl__afile *f, const rmtl__sim *s, size_t action_dim)
{
    static const char fixed[] = "session_id,request,timestamp,user_id,item_id,user_segment,"
                                "user_activity,user_region,item_category,item_brand,"
                                "item_price_bucket,item_pop_bucket,price,position";
    rmtl__afile_write(f, fixed, sizeof fixed - 1);
    for (uint32_t t = 0; t < s->tasks; t++) {
        rmtl__afile_write(f, ",", 1);
        rmtl__afile_write(f, rmtl__task_names[t], strlen(rmtl__task_names[t]));
    }
    /* every feature the fusion state reads, so a model trained on the log
     * sees what the fusion sees */
    static const char *const feats[3] = {"user_f", "item_f", "context"};
    size_t dims[3] = {s->w.user_dim, s->w.item_dim, (size_t)s->p.context_dim};
    for (int g = 0; g < 3; g++)
        for (size_t j = 0; j < dims[g]; j++) {
            char col[48];
            int len = snprintf(col, sizeof col, ",%s_%zu", feats[g], j);
            rmtl__afile_write(f, col, (size_t)len);
        }
    static const char *const groups[3] = {"action", "box_lo", "box_hi"};
    for (int g = 0; g < 3; g++)
        for (size_t j = 0; j < action_dim; j++) {
            char col[48];
            int len = snprintf(col, sizeof col, ",%s_%zu", groups[g], j);
            rmtl__afile_write(f, col, (size_t)len);
        }
    return rmtl__afile_write(f, "\n", 1);
}

/* One row per shown item of the request just served. */
static int rmtl__log_rows(rmtl__afile *f, const rmtl__sim *s, const rmtl__sim_sess *ss,
                          const rmtl_sim_request *req, uint64_t ts)
{
    const int32_t *ucat = s->w.u_cat + (size_t)ss->user * RMTL__SIM_UCAT;
    for (size_t k = 0; k < s->l; k++) {
        size_t j = ss->shown_idx[k];
        char row[512], *p = row;
        uint64_t head[5] = {ss->index, ss->fb_request, ts + k, ss->user, ss->cand[j]};
        for (int i = 0; i < 5; i++) {
            p += rmtl__decimal(p, head[i]);
            *p++ = ',';
        }
        for (int i = 0; i < RMTL__SIM_UCAT; i++) {
            p += rmtl__decimal(p, (uint64_t)ucat[i]);
            *p++ = ',';
        }
        for (int i = 0; i < RMTL__SIM_ICAT; i++) {
            p += rmtl__decimal(p, (uint64_t)ss->cand_cat[j * RMTL__SIM_ICAT + (size_t)i]);
            *p++ = ',';
        }
        /* Prices are at most RMTL__SIM_PRICE_MAX: the text fits. */
        int len = snprintf(p, 32, "%.2f,", (double)ss->cand_price[j]);
        p += len > 0 && len < 32 ? len : 0;
        p += rmtl__decimal(p, k);
        for (uint32_t t = 0; t < s->tasks; t++) {
            *p++ = ',';
            *p++ = ss->behav[k * s->tasks + t] != 0.0f ? '1' : '0';
        }
        rmtl__afile_write(f, row, (size_t)(p - row));
        const float *feats[3] = {s->w.u_feat + (size_t)ss->user * s->w.user_dim,
                                 ss->cand_feat + j * s->w.item_dim, ss->context};
        size_t dims[3] = {s->w.user_dim, s->w.item_dim, (size_t)s->p.context_dim};
        for (int g = 0; g < 3; g++)
            for (size_t a = 0; a < dims[g]; a++) {
                int w = snprintf(row, sizeof row, ",%.9g", (double)feats[g][a]);
                rmtl__afile_write(f, row, (size_t)w);
            }
        const float *groups[3] = {req->action, req->box_lo, req->box_hi};
        for (int g = 0; g < 3 && req->action_dim; g++)
            for (size_t a = 0; a < req->action_dim; a++) {
                int w = snprintf(row, sizeof row, ",%.9g",
                                 (double)groups[g][j * req->action_dim + a]);
                rmtl__afile_write(f, row, (size_t)w);
            }
        if (rmtl__afile_write(f, "\n", 1))
            return RMTL_EIO; /* reported with its reason by the commit */
    }
    return 0;
}

/* --- the loop ------------------------------------------------------------ */
static int rmtl__run(rmtl_sim_stats *st, rmtl__sim *s, size_t n_sessions, uint64_t seed,
                     size_t action_dim, rmtl_sim_policy_fn fn, void *payload, rmtl__afile *log)
{
    size_t n = s->n, l = s->l;
    float *scores = rmtl__mallocarray(n, sizeof *scores);
    float *act = action_dim ? rmtl__mallocarray(3 * n, action_dim * sizeof *act) : NULL;
    if (!scores || (action_dim && !act)) {
        rmtl__free(scores);
        rmtl__free(act);
        return rmtl__error(RMTL_ENOMEM, "simulator run: out of memory");
    }
    rmtl__sim_sess *ss = &s->run;
    rmtl__moments reward = {0, 0, 0}, length = {0, 0, 0};
    uint64_t counts[RMTL__SIM_TASKS] = {0, 0, 0};
    size_t requests = 0, impressions = 0;
    uint64_t spacing = (uint64_t)s->p.max_requests * (l + RMTL__LOG_DWELL_MS);
    int rc = 0;
    for (size_t i = 0; i < n_sessions && !rc; i++) {
        rmtl__sess_begin(ss, s, seed, i);
        /* Timestamps have a stream of their own: logging changes nothing
         * else. */
        rmtl__rng time_rng;
        rmtl__sim_rng_seed(&time_rng, seed, i, UINT64_C(0x54494d45)); /* "TIME" */
        uint64_t ts = RMTL__LOG_EPOCH_MS + (uint64_t)i * spacing;
        while (ss->state == RMTL__SESS_ACTIVE) {
            rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
            rmtl__sess_request_view(&req, ss, s);
            if (action_dim) {
                memset(act, 0, 3 * n * action_dim * sizeof *act);
                req.action_dim = action_dim;
                req.action = act;
                req.box_lo = act + n * action_dim;
                req.box_hi = act + 2 * n * action_dim;
            }
            uint32_t t = ss->t;
            if ((rc = fn(scores, &req, payload)) != 0) {
                rc = rc < 0 ? rmtl__error_prefix(rc, "policy failed at session %zu, request %u",
                                                 i, t)
                            : rmtl__error(RMTL_ERROR,
                                          "policy returned %d at session %zu, request %u", rc,
                                          i, t);
                break;
            }
            if ((rc = rmtl__sess_check_step(ss, s, scores, n)) != 0) {
                rc = rmtl__error_prefix(rc, "policy scores at session %zu, request %u", i, t);
                break;
            }
            rmtl__sess_serve(ss, s, scores);
            if (log && (rc = rmtl__log_rows(log, s, ss, &req, ts)) != 0)
                break;
            ts += l + 1000 + rmtl__sim_below(&time_rng, RMTL__LOG_DWELL_MS - 1000);
            rmtl__sess_advance(ss, s);
        }
        if (rc)
            break;
        rmtl__moments_add(&reward, ss->reward);
        rmtl__moments_add(&length, (double)ss->t);
        requests += ss->t;
        impressions += (size_t)ss->shown;
        for (int k = 0; k < RMTL__SIM_TASKS; k++)
            counts[k] += ss->done_count[k];
    }
    ss->state = RMTL__SESS_IDLE; /* its views are gone with the run */
    rmtl__free(scores);
    rmtl__free(act);
    if (rc)
        return rc;
    st->sessions = n_sessions;
    st->requests = requests;
    st->impressions = impressions;
    st->reward_mean = reward.mean;
    st->reward_std = rmtl__moments_std(&reward);
    st->length_mean = length.mean;
    st->length_std = rmtl__moments_std(&length);
    for (int k = 0; k < RMTL__SIM_TASKS; k++)
        st->rate[k] = impressions ? (double)counts[k] / (double)impressions : 0.0;
    return 0;
}

static int rmtl__run_args(rmtl__sim **s, const rmtl_sim_stats *out, int out_optional,
                          const rmtl_env *env, size_t n_sessions, rmtl_sim_policy_fn fn,
                          const char *func)
{
    if (out ? out->version < 1 || out->version > RMTL_SIM_STATS_VERSION : !out_optional)
        return rmtl__error(RMTL_EINVAL, "%s: invalid argument 'out'", func);
    if (!(*s = rmtl__env_sim(env, func)))
        return RMTL_EINVAL;
    if (!fn)
        return rmtl__error(RMTL_EINVAL, "%s: invalid argument 'fn'", func);
    if (n_sessions == 0)
        return rmtl__error(RMTL_EINVAL, "%s: n_sessions is 0", func);
    return 0;
}

/* Copies the fields of the caller's version. */
static void rmtl__stats_out(rmtl_sim_stats *out, const rmtl_sim_stats *st)
{
    uint32_t version = out->version;
    *out = *st;
    out->version = version;
}

int rmtl_env_sim_evaluate(rmtl_sim_stats *out, rmtl_env *env, size_t n_sessions, uint64_t seed,
                          rmtl_sim_policy_fn fn, void *payload)
{
    rmtl__sim *s = NULL;
    int rc = rmtl__run_args(&s, out, 0, env, n_sessions, fn, __func__);
    if (rc)
        return rc;
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    if ((rc = rmtl__run(&st, s, n_sessions, seed, 0, fn, payload, NULL)) != 0)
        return rc;
    rmtl__stats_out(out, &st);
    return 0;
}

int rmtl_env_sim_log(rmtl_sim_stats *out, rmtl_env *env, const char *csv_path, size_t n_sessions,
                     uint64_t seed, size_t action_dim, rmtl_sim_policy_fn fn, void *payload)
{
    rmtl__sim *s = NULL;
    int rc = rmtl__run_args(&s, out, 1, env, n_sessions, fn, __func__);
    if (rc)
        return rc;
    RMTL__CHECK_ARG(csv_path && *csv_path, "csv_path");
    if (action_dim > RMTL__ACTION_DIM_MAX)
        return rmtl__error(RMTL_EINVAL, "%s: action_dim %zu exceeds %d", __func__, action_dim,
                           RMTL__ACTION_DIM_MAX);
    rmtl__afile f;
    if ((rc = rmtl__afile_open(&f, csv_path, (size_t)1 << 16)) != 0)
        return rc;
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    rc = rmtl__log_header(&f, s, action_dim);
    if (!rc)
        rc = rmtl__run(&st, s, n_sessions, seed, action_dim, fn, payload, &f);
    if (rc && !f.err)
        rmtl__afile_abort(&f);
    else /* a failed write makes the commit fail, naming the reason */
        rc = rmtl__afile_commit(&f);
    if (rc)
        return rc;
    if (out)
        rmtl__stats_out(out, &st);
    return 0;
}
