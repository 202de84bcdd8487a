/* runtime.threads: 0 resolves to the CPUs this process may use: the
 * affinity mask capped by a cgroup CPU quota. The quota readers run on
 * made-up cgroup files; the affinity on this process, pinned to one CPU in
 * a child and, when taskset exists, under `taskset -c 0`. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cpus.h"
#include "core/internal.h"
#include "fusion/opts.h"
#include "nn/gemm.h"
#include "rmtl.h"

START_TEST(test_cpus_quota_text)
{
    ck_assert_int_eq(rmtl__cpu_quota_v2("max 100000\n"), -1);
    ck_assert_int_eq(rmtl__cpu_quota_v2("200000 100000\n"), 2);
    ck_assert_int_eq(rmtl__cpu_quota_v2("150000 100000"), 1); /* whole CPUs only */
    ck_assert_int_eq(rmtl__cpu_quota_v2("50000 100000"), 1);  /* at least one */
    ck_assert_int_eq(rmtl__cpu_quota_v2("400000"), 4);        /* default period */
    ck_assert_int_eq(rmtl__cpu_quota_v2("junk 100000"), -1);
    ck_assert_int_eq(rmtl__cpu_quota_v2(""), -1);
    ck_assert_int_eq(rmtl__cpu_quota_v1(-1, 100000), -1);
    ck_assert_int_eq(rmtl__cpu_quota_v1(300000, 100000), 3);
    ck_assert_int_eq(rmtl__cpu_quota_v1(300000, 0), -1);
}
END_TEST

static void mkdirs(const char *path)
{
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0700);
            *s = '/';
        }
    mkdir(p, 0700);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_cpus_quota_files)
{
    char root[] = "/tmp/rmtl-cg-XXXXXX", p[512], proc[512];
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(proc, sizeof proc, "%s/cgroup", root);
    /* v2: no quota on the process's own group, 3 CPUs on its parent */
    snprintf(p, sizeof p, "%s/fs/app/web", root);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/fs/app/web/cpu.max", root);
    put(p, "max 100000\n");
    snprintf(p, sizeof p, "%s/fs/app/cpu.max", root);
    put(p, "300000 100000\n");
    put(proc, "0::/app/web\n");
    snprintf(p, sizeof p, "%s/fs", root);
    ck_assert_int_eq(rmtl__cpu_quota(proc, p), 3);
    /* no quota anywhere */
    put(proc, "0::/other\n");
    ck_assert_int_eq(rmtl__cpu_quota(proc, p), -1);
    /* v1, the cpu controller mounted with cpuacct: 2 CPUs */
    snprintf(p, sizeof p, "%s/fs/cpu,cpuacct/job", root);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/fs/cpu,cpuacct/job/cpu.cfs_quota_us", root);
    put(p, "200000\n");
    snprintf(p, sizeof p, "%s/fs/cpu,cpuacct/job/cpu.cfs_period_us", root);
    put(p, "100000\n");
    put(proc, "5:memory:/job\n4:cpu,cpuacct:/job\n");
    snprintf(p, sizeof p, "%s/fs", root);
    ck_assert_int_eq(rmtl__cpu_quota(proc, p), 2);
    /* v1 without a quota (-1) */
    snprintf(p, sizeof p, "%s/fs/cpu,cpuacct/job/cpu.cfs_quota_us", root);
    put(p, "-1\n");
    snprintf(p, sizeof p, "%s/fs", root);
    ck_assert_int_eq(rmtl__cpu_quota(proc, p), -1);
    ck_assert_int_eq(rmtl__cpu_quota("/nonexistent/cgroup", p), -1);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* What runtime.threads: 0 resolves to in this process (fusion's reader). */
static int default_threads(void)
{
    rmtl_config *cfg = NULL;
    rmtl__fopts o;
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    ck_assert_int_eq(rmtl__fopts_read(&o, cfg), RMTL_OK);
    rmtl_config_free(cfg);
    return o.rt.threads;
}

START_TEST(test_cpus_affinity)
{
    int n = rmtl_usable_cpus();
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_int_eq(default_threads(), n);
    ck_assert_int_eq(rmtl__ncores(), n);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        int okay = sched_setaffinity(0, sizeof one, &one) == 0 && rmtl_usable_cpus() == 1 &&
                   default_threads() == 1;
        _exit(okay ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pinned to CPU 0, the default is not 1");
}
END_TEST

/* Run by the next test under taskset: RMTL_TEST_EXPECT_CPUS holds the
 * count the default must resolve to; without it the case does nothing. */
START_TEST(test_cpus_inner)
{
    const char *want = getenv("RMTL_TEST_EXPECT_CPUS");
    if (!want)
        return;
    ck_assert_int_eq(rmtl_usable_cpus(), atoi(want));
    ck_assert_int_eq(default_threads(), atoi(want));
}
END_TEST

START_TEST(test_cpus_taskset)
{
    if (system("command -v taskset >/dev/null 2>&1") != 0) {
        printf("SKIP: cpus taskset: taskset is absent (util-linux)\n");
        return;
    }
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "CK_RUN_SUITE=cpus CK_RUN_CASE=inner RMTL_TEST_EXPECT_CPUS=1 CK_VERBOSITY=silent "
             "taskset -c 0 '%s'",
             self);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "under taskset -c 0 the default thread count is not 1 (%d)", rc);
}
END_TEST

Suite *rmtl_test_cpus_suite(void)
{
    Suite *s = suite_create("cpus");
    TCase *tc = tcase_create("quota");
    tcase_add_test(tc, test_cpus_quota_text);
    tcase_add_test(tc, test_cpus_quota_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("affinity");
    tcase_add_test(tc, test_cpus_affinity);
    tcase_add_test(tc, test_cpus_taskset);
    suite_add_tcase(s, tc);
    tc = tcase_create("inner");
    tcase_add_test(tc, test_cpus_inner);
    suite_add_tcase(s, tc);
    return s;
}
