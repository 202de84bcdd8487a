/* Durability of checkpoint writes (docs/reliability.md): a writer killed
 * with SIGKILL at any point of rmtl_model_save() (every save shares its
 * atomic writer, src/core/afile.c)
 * leaves at `path` either the previous checkpoint or the new one, bit for
 * bit, and always loadable; the stale "path.tmp" it may leave does not
 * stop later saves. The kill times are spread over the measured duration
 * of a save, so most land mid-write. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/mtl.h"
#include "util/tdata.h"

enum { KILLS = 50 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A model of a few MB, so that a save takes long enough to be cut. */
static rmtl_model *big_model(uint64_t seed)
{
    rmtl_config *cfg = mtl_small_config("mmoe", seed);
    ck_assert_int_eq(rmtl_config_set(cfg, "model.bottom", "[512, 512]"), 0);
    ck_assert_int_eq(rmtl_config_set_int(cfg, "model.embed_dim", 64), 0);
    enum { ROWS = 8 };
    static const size_t vocab[2] = {4000, 3000};
    int32_t cat[ROWS * 2];
    float num[ROWS], labels[ROWS * 2];
    for (size_t i = 0; i < ROWS; i++) {
        cat[2 * i] = (int32_t)(i * 97 % 4000), cat[2 * i + 1] = (int32_t)(i * 31 % 3000);
        num[i] = (float)i;
        labels[2 * i] = (float)(i % 2), labels[2 * i + 1] = (float)(i % 3 == 0);
    }
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_from_arrays(&ds, ROWS, 2, vocab, cat, 1, num, 2, labels, NULL),
                     0);
    rmtl_model *m = NULL;
    ck_assert_int_eq(rmtl_model_create(&m, cfg, ds), 0);
    rmtl_dataset_free(ds);
    rmtl_config_free(cfg);
    return m;
}

static int equal_file(const char *path, const void *buf, size_t len)
{
    size_t n = 0;
    char *file = rmtl_tdata_read(path, &n);
    int same = file && n == len && memcmp(file, buf, len) == 0;
    free(file);
    return same;
}

START_TEST(test_kill_during_model_save)
{
    rmtl_model *old_m = big_model(1), *new_m = big_model(2);
    void *old_b, *new_b;
    size_t old_len, new_len;
    ck_assert_int_eq(rmtl_model_save_buffer(&old_b, &old_len, old_m, RMTL_SAVE_TRAINING_STATE), 0);
    ck_assert_int_eq(rmtl_model_save_buffer(&new_b, &new_len, new_m, RMTL_SAVE_TRAINING_STATE), 0);
    ck_assert_uint_gt(old_len, 1u << 20);
    const char *path = rmtl_tdata_write("kill.rmtl", "", 0);

    /* the duration of one save over an existing file */
    ck_assert_int_eq(rmtl_model_save(old_m, path, RMTL_SAVE_TRAINING_STATE), 0);
    double t0 = now();
    ck_assert_int_eq(rmtl_model_save(old_m, path, RMTL_SAVE_TRAINING_STATE), 0);
    double save_s = now() - t0;

    unsigned seed = 12345;
    int saw_old = 0, saw_new = 0;
    for (int k = 0; k < KILLS; k++) {
        ck_assert_msg(rmtl_model_save(old_m, path, RMTL_SAVE_TRAINING_STATE) == RMTL_OK,
                      "a save after a killed one: %s", rmtl_last_error());
        ck_assert(equal_file(path, old_b, old_len));
        /* kill after 0 .. 1.2 × the save's duration (some before it starts) */
        seed = seed * 1103515245u + 12345u;
        double delay = save_s * 1.2 * (double)(seed >> 16 & 0x7fff) / 32768.0;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int rc = rmtl_model_save(new_m, path, RMTL_SAVE_TRAINING_STATE);
            _exit(rc == RMTL_OK ? 0 : 1);
        }
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(!WIFEXITED(status) || WEXITSTATUS(status) == 0);
        int is_old = equal_file(path, old_b, old_len), is_new = equal_file(path, new_b, new_len);
        ck_assert_msg(is_old || is_new, "kill %d after %.1f ms: the file is neither checkpoint", k,
                      delay * 1e3);
        saw_old += is_old, saw_new += is_new;
        rmtl_model *back = NULL;
        ck_assert_msg(rmtl_model_load(&back, path) == RMTL_OK, "%s", rmtl_last_error());
        rmtl_model_free(back);
    }
    printf("durability: %d kills over %.1f ms saves: %d left the old checkpoint, %d the new\n",
           KILLS, save_s * 1e3, saw_old, saw_new);
    /* A stale temporary file from a killed writer does not stop a save. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *junk = fopen(tmp, "w");
    ck_assert_ptr_nonnull(junk);
    fputs("junk", junk);
    fclose(junk);
    ck_assert_int_eq(rmtl_model_save(new_m, path, RMTL_SAVE_TRAINING_STATE), 0);
    ck_assert(equal_file(path, new_b, new_len));
    struct stat st;
    ck_assert_int_ne(stat(tmp, &st), 0); /* renamed away */
    rmtl_free(old_b);
    rmtl_free(new_b);
    rmtl_model_free(old_m);
    rmtl_model_free(new_m);
    rmtl_tdata_cleanup();
}
END_TEST

Suite *rmtl_test_durability_suite(void)
{
    Suite *s = suite_create("durability");
    TCase *tc = tcase_create("kill");
    tcase_set_tags(tc, "slow"); /* forks writers: left out of the valgrind run */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kill_during_model_save);
    suite_add_tcase(s, tc);
    return s;
}
