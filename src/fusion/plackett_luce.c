/* Plackett–Luce sampling, log-probabilities and expected values (see
 * plackett_luce.h). Everything in double: these are sums of exponentials
 * over a few hundred candidates. */
#include "fusion/plackett_luce.h"

#include "core/rng.h"

#include <math.h>

double rmtl__pl_gumbel(uint64_t *state)
{
    /* u in (0, 1): never 0 or 1, so both logs stay finite */
    double u = ((double)(rmtl__splitmix64(state) >> 11) + 0.5) * 0x1p-53;
    return -log(-log(u));
}

static double rmtl__pl_max(const double *z, size_t n)
{
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++)
        m = z[j] > m ? z[j] : m;
    return m;
}

double rmtl__pl_list_logp(const double *z, const double *c, size_t n, size_t l)
{
    double m = rmtl__pl_max(z, n), rest = 0.0;
    for (size_t j = 0; j < n; j++)
        rest += (c ? c[j] : 1.0) * exp(z[j] - m);
    double lp = 0.0;
    for (size_t k = 0; k < l && k < n; k++) {
        lp += z[k] - m - log(rest);
        rest -= exp(z[k] - m); /* shown candidates have c = 1 */
        if (rest < 0.0)
            rest = 0.0;
    }
    return lp;
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
