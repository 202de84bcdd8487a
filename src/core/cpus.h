/* rmtl_usable_cpus() and its parts, which tests feed made-up files. */
#ifndef RMTL_CORE_CPUS_H
#define RMTL_CORE_CPUS_H

/* Whole CPUs of a cgroup v2 cpu.max line ("max 100000", "150000 100000"),
 * at least 1, or -1 without a quota. */
long rmtl__cpu_quota_v2(const char *text);
/* The same for cgroup v1's cfs_quota_us and cfs_period_us (-1: none). */
long rmtl__cpu_quota_v1(long long quota, long long period);
/* The smallest quota over the process's cgroups as listed in
 * `proc_cgroup` (/proc/self/cgroup), their files under `sysfs`
 * (/sys/fs/cgroup), ancestors included; -1 without one. */
long rmtl__cpu_quota(const char *proc_cgroup, const char *sysfs);

#endif
