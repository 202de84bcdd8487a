/* How many CPUs this process may really use: the scheduler's affinity
 * mask (taskset, cpusets), capped by a CPU quota of its cgroup (containers:
 * cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us). This is
 * what runtime.threads: 0 means, because BLIS's threads wait for each
 * other at busy-spinning barriers: one thread more than the CPUs the
 * process gets makes every barrier wait a scheduler time slice. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpus.h"
#include "core/internal.h"

long rmtl__cpu_quota_v2(const char *text)
{
    char q[32];
    long long period = 0;
    if (sscanf(text, "%31s %lld", q, &period) < 1 || !strcmp(q, "max"))
        return -1;
    char *end;
    long long quota = strtoll(q, &end, 10);
    if (*end || quota <= 0)
        return -1;
    return rmtl__cpu_quota_v1(quota, period > 0 ? period : 100000);
}

long rmtl__cpu_quota_v1(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return -1; /* -1: no quota */
    long long n = quota / period; /* whole CPUs: a fraction would spin */
    return n >= 1 ? (long)n : 1;
}

/* The first line of `path`, or 0 when it cannot be read. */
static int rmtl__read_line(char *buf, size_t cap, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    return ok;
}

/* The smallest quota of `dir`/`file` (v2) or its v1 pair, from the
 * process's cgroup up to the root of the hierarchy mounted at `mount`:
 * a quota set on a parent limits its children too. */
static long rmtl__quota_walk(const char *mount, const char *cg, int v2)
{
    char rel[1024], path[1200], line[128];
    snprintf(rel, sizeof rel, "%s", cg);
    long best = -1;
    for (;;) {
        long q = -1;
        if (v2) {
            snprintf(path, sizeof path, "%s%s/cpu.max", mount, rel);
            if (rmtl__read_line(line, sizeof line, path))
                q = rmtl__cpu_quota_v2(line);
        } else {
            long long quota = 0, period = 0;
            snprintf(path, sizeof path, "%s%s/cpu.cfs_quota_us", mount, rel);
            if (rmtl__read_line(line, sizeof line, path))
                quota = strtoll(line, NULL, 10);
            snprintf(path, sizeof path, "%s%s/cpu.cfs_period_us", mount, rel);
            if (rmtl__read_line(line, sizeof line, path))
                period = strtoll(line, NULL, 10);
            q = rmtl__cpu_quota_v1(quota, period);
        }
        if (q > 0 && (best < 0 || q < best))
            best = q;
        char *slash = strrchr(rel, '/');
        if (!slash || rel[0] == '\0')
            break;
        *slash = '\0'; /* the parent; "" is the mount's root */
    }
    return best;
}

long rmtl__cpu_quota(const char *proc_cgroup, const char *sysfs)
{
    FILE *f = fopen(proc_cgroup, "r");
    if (!f)
        return -1;
    char line[1024], mount[512];
    long best = -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        /* "hierarchy-id:controllers:path"; v2 is "0::path" */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        const char *ctrl = c1 + 1, *cg = c2 + 1;
        long q = -1;
        if (!strcmp(line, "0") && ctrl[0] == '\0') {
            snprintf(mount, sizeof mount, "%s", sysfs);
            q = rmtl__quota_walk(mount, cg, 1);
        } else {
            /* v1: the cpu controller, mounted alone or with cpuacct */
            char list[256];
            snprintf(list, sizeof list, ",%s,", ctrl);
            if (!strstr(list, ",cpu,"))
                continue;
            snprintf(mount, sizeof mount, "%s/%s", sysfs, ctrl);
            q = rmtl__quota_walk(mount, cg, 0);
            if (q < 0) { /* in a container the path is often not mounted */
                snprintf(mount, sizeof mount, "%s/cpu", sysfs);
                q = rmtl__quota_walk(mount, "", 0);
            }
        }
        if (q > 0 && (best < 0 || q < best))
            best = q;
    }
    fclose(f);
    return best;
}

int rmtl_usable_cpus(void)
{
    long n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    long q = rmtl__cpu_quota("/proc/self/cgroup", "/sys/fs/cgroup");
    if (q > 0 && q < n)
        n = q;
    return n > 1024 ? 1024 : (int)n;
}
