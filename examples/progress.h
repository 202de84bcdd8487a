/* What the examples share: a progress bar with ETA for the library's long
 * calls (an rmtl_progress_fn), and a log callback that prints the
 * library's warnings. Header-only, so each example stays one .c file.
 *
 *   struct bar b = BAR_INIT;
 *   bar_label(&b, "epoch %d/%d", e, epochs);
 *   rmtl_model_train_epoch(&loss, model, train, bar_progress, &b);
 *
 * On a terminal the bar is redrawn in place on stderr and erased when the
 * call ends; otherwise (logs, CI) a plain line is written every 10 s, so
 * short calls print nothing. */
#ifndef RMTL_EXAMPLES_PROGRESS_H
#define RMTL_EXAMPLES_PROGRESS_H

#include <math.h>
#include <rmtl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

struct bar {
    char label[48];
    int tty;           /* -1: not asked yet */
    double last_print; /* elapsed seconds at the last plain line */
};
#define BAR_INIT {"", -1, 0.0}

/* Names the next call's bar, printf-style. */
static inline void bar_label(struct bar *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->label, sizeof b->label, fmt, ap);
    va_end(ap);
    b->last_print = 0.0;
}

/* 1234567 -> "1.2M": counts of rows, bytes or steps in a few characters. */
static inline const char *bar_count(char *buf, size_t cap, uint64_t n)
{
    if (n >= 10000000)
        snprintf(buf, cap, "%.0fM", (double)n / 1e6);
    else if (n >= 1000000)
        snprintf(buf, cap, "%.1fM", (double)n / 1e6);
    else if (n >= 10000)
        snprintf(buf, cap, "%.0fk", (double)n / 1e3);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)n);
    return buf;
}

/* The rmtl_progress_fn: `payload` is a struct bar. Never cancels. */
static inline int bar_progress(const rmtl_progress *p, void *payload)
{
    struct bar *b = payload;
    if (b->tty < 0)
        b->tty = isatty(2);
    int end = p->total && p->done >= p->total;
    double frac = p->total ? (double)p->done / (double)p->total : 0.0;
    double eta = p->done && p->total ? p->elapsed * (1.0 - frac) / frac : 0.0;
    char done[16], total[16], tail[40] = "";
    if (!isnan(p->loss))
        snprintf(tail, sizeof tail, "  loss %.4f", p->loss);
    if (!b->tty) {
        if (end || p->elapsed - b->last_print < 10.0)
            return 0;
        b->last_print = p->elapsed;
        fprintf(stderr, "%s: %s/%s (%.0f%%), %.0fs, ETA %.0fs%s\n", b->label,
                bar_count(done, sizeof done, p->done), bar_count(total, sizeof total, p->total),
                100.0 * frac, p->elapsed, eta, tail);
        return 0;
    }
    if (end) { /* erase: the caller prints the outcome */
        fprintf(stderr, "\r%*s\r", 79, "");
        return 0;
    }
    enum { WIDTH = 24 };
    int filled = (int)(WIDTH * frac);
    fprintf(stderr, "\r%-16.16s [%.*s%*s] %3.0f%% %6s/%-6s ETA %2d:%02d%s ", b->label, filled,
            "========================", WIDTH - filled, "", 100.0 * frac,
            bar_count(done, sizeof done, p->done), bar_count(total, sizeof total, p->total),
            (int)eta / 60, (int)eta % 60, tail);
    return 0;
}

/* An rmtl_log_fn printing warnings and errors to stderr; `payload` is the
 * program's name. Install with rmtl_set_log_callback(log_warnings, "name"). */
static inline void log_warnings(int level, const char *message, void *payload)
{
    if (level <= RMTL_LOG_WARN)
        fprintf(stderr, "%s: %s: %s\n", (const char *)payload,
                level == RMTL_LOG_ERROR ? "error" : "warning", message);
}

#endif
