/* Plackett–Luce sampling, log-probabilities and expected values (see
 * plackett_luce.h). Everything in double: these are sums of exponentials
 * over a few hundred candidates. */
#include "fusion/plackett_luce.h"

#include "core/rng.h"

#include <math.h>

/* u in (0, 1): never 0 or 1, so logs of it stay finite */
static double rmtl__pl_uniform(uint64_t *state)
{
    return ((double)(rmtl__splitmix64(state) >> 11) + 0.5) * 0x1p-53;
}

double rmtl__pl_gumbel(uint64_t *state) { return -log(-log(rmtl__pl_uniform(state))); }

static double rmtl__pl_max(const double *z, size_t n)
{
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++)
        m = z[j] > m ? z[j] : m;
    return m;
}

double rmtl__pl_list_logp(const double *z, const double *c, size_t n, size_t l)
{
    /* each slot's normaliser summed afresh over the candidates not yet
     * placed, with their own max: a running sum minus the placed one
     * cancels to nothing when that one held nearly all of the mass */
    double lp = 0.0;
    for (size_t k = 0; k < l && k < n; k++) {
        double m = rmtl__pl_max(z + k, n - k), rest = 0.0;
        for (size_t j = k; j < n; j++)
            rest += (j < l ? 1.0 : (c ? c[j] : 1.0)) * exp(z[j] - m);
        lp += z[k] - m - log(rest);
    }
    return lp;
}

void rmtl__pl_exam(double *exam, const double *z, const double *c, const double *e, size_t n,
                   size_t l, size_t samples, uint64_t seed, double *work)
{
    double *ex = work, *u = work + n, *ex0 = work + 2 * n, m = rmtl__pl_max(z, n);
    for (size_t j = 0; j < n; j++) {
        exam[j] = 0.0;
        ex0[j] = exp(z[j] - m);
    }
    for (size_t s = 0; s < samples; s++) {
        for (size_t j = 0; j < n; j++) {
            u[j] = c ? c[j] : 1.0;
            ex[j] = ex0[j]; /* a renormalised slot below rewrote ex */
        }
        for (size_t k = 0; k < l; k++) {
            double sum = 0.0;
            for (size_t j = 0; j < n; j++)
                sum += u[j] * ex[j];
            if (sum < 1e-200) {
                /* the rest lie far below the placed ones (a peaked PL):
                 * take the max over what is left out again */
                double mk = -INFINITY;
                for (size_t j = 0; j < n; j++)
                    mk = u[j] > 0.0 && z[j] > mk ? z[j] : mk;
                sum = 0.0;
                for (size_t j = 0; j < n; j++) {
                    ex[j] = u[j] > 0.0 ? exp(z[j] - mk) : 0.0;
                    sum += u[j] * ex[j];
                }
            }
            if (!(sum > 0.0))
                break; /* fewer candidates than slots */
            for (size_t j = 0; j < n; j++)
                exam[j] += e[k] * u[j] * ex[j] / sum / (double)samples;
            /* draw the slot's candidate; one copy of it leaves */
            double r = rmtl__pl_uniform(&seed) * sum;
            size_t pick = n;
            for (size_t j = 0; j < n; j++)
                if (u[j] * ex[j] > 0.0) {
                    pick = j;
                    r -= u[j] * ex[j];
                    if (r <= 0.0)
                        break;
                }
            u[pick] = u[pick] > 1.0 ? u[pick] - 1.0 : 0.0;
        }
    }
}

double rmtl__pl_value(const double *z, const double *c, const double *q, const double *e,
                      size_t n, size_t l, double *gz, double *work, double *slot0)
{
    size_t L = l;
    double *P = work, *U = P + L * n, *ez = U + L * n, *gu = ez + n, *gp = gu + n;
    double *Sk = gp + n;
    double m = rmtl__pl_max(z, n), J = 0.0;
    for (size_t j = 0; j < n; j++) {
        ez[j] = exp(z[j] - m);
        U[j] = 1.0;
    }
    for (size_t k = 0; k < L; k++) {
        double *p = P + k * n, *u = U + k * n, s = 0.0;
        for (size_t j = 0; j < n; j++)
            s += (c ? c[j] : 1.0) * u[j] * ez[j];
        Sk[k] = s;
        double v = 0.0;
        for (size_t j = 0; j < n; j++) {
            p[j] = s > 0.0 ? (c ? c[j] : 1.0) * u[j] * ez[j] / s : 0.0;
            v += p[j] * q[j];
        }
        J += e[k] * v;
        if (k + 1 < L)
            for (size_t j = 0; j < n; j++) {
                double t = 1.0 - p[j] / (c ? c[j] : 1.0);
                U[(k + 1) * n + j] = u[j] * (t > 0.0 ? t : 0.0);
            }
    }
    if (slot0)
        for (size_t j = 0; j < n; j++)
            slot0[j] = P[j];
    if (!gz)
        return J;
    /* backward: gu holds ∂J/∂u of the slot after the current one */
    for (size_t j = 0; j < n; j++) {
        gz[j] = 0.0;
        gu[j] = 0.0;
    }
    for (size_t k = L; k-- > 0;) {
        const double *p = P + k * n, *u = U + k * n;
        double avg = 0.0;
        /* ∂J/∂P_k(j): its direct term and its effect through u_(k+1) */
        for (size_t j = 0; j < n; j++) {
            double cj = c ? c[j] : 1.0;
            gp[j] = e[k] * q[j] - u[j] * gu[j] / cj;
            avg += p[j] * gp[j];
        }
        for (size_t j = 0; j < n; j++) {
            double cj = c ? c[j] : 1.0;
            double t = 1.0 - p[j] / cj;
            double d = gp[j] - avg; /* ∂J/∂log w_j = P_k(j)·d */
            gz[j] += p[j] * d;
            /* u_(k+1) = u_k·(1 − P_k/c) (clamped at 0: no gradient there);
             * w_j = c_j·u_j·exp(z_j), so ∂/∂u_j = c_j·exp(z_j)·d / S_k */
            double g = (t > 0.0 ? t : 0.0) * gu[j];
            if (Sk[k] > 0.0)
                g += cj * ez[j] * d / Sk[k];
            gu[j] = g;
        }
    }
    return J;
}

double rmtl__pl_first_kl(const double *z, const double *zb, const double *c, size_t n,
                         double *gz)
{
    double m = rmtl__pl_max(z, n), mb = rmtl__pl_max(zb, n), s = 0.0, sb = 0.0;
    for (size_t j = 0; j < n; j++) {
        double cj = c ? c[j] : 1.0;
        s += cj * exp(z[j] - m);
        sb += cj * exp(zb[j] - mb);
    }
    double ls = m + log(s), lsb = mb + log(sb), kl = 0.0;
    for (size_t j = 0; j < n; j++) {
        double cj = c ? c[j] : 1.0;
        double pi = cj * exp(z[j] - ls);
        kl += pi * ((z[j] - ls) - (zb[j] - lsb));
    }
    if (gz)
        for (size_t j = 0; j < n; j++) {
            double cj = c ? c[j] : 1.0;
            double pi = cj * exp(z[j] - ls);
            gz[j] = pi * ((z[j] - ls) - (zb[j] - lsb) - kl);
        }
    return kl;
}
