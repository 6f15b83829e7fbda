/* cpu_cores.c — the default thread count: one thread per physical core.
 * SMT siblings share a core's execution units, so a second thread on one
 * core mostly competes for the same load ports that decode is bound by. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "threadpool.h"

/* CPUs considered; a larger machine counts its first LORC_MAX_CPUS. */
#define LORC_MAX_CPUS 4096

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n < LORC_MAX_CPUS ? n : LORC_MAX_CPUS) : 1;
}

/* Reads one integer from a sysfs file; -1 when unreadable. */
static long read_long(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1) v = -1;
    fclose(f);
    return v;
}

int lorc_physical_cores(void) {
    FILE *f = fopen("/sys/devices/system/cpu/online", "r");
    if (!f) return online_cpus();
    /* (package, core) pairs seen so far; their count is the answer. */
    long *seen = malloc(2 * LORC_MAX_CPUS * sizeof(long));
    int n_seen = 0;
    bool ok = seen != NULL;
    long lo, hi;
    /* The file is a list of ranges: "0-3,6,8-9". */
    while (ok && fscanf(f, "%ld", &lo) == 1) {
        hi = lo;
        int c = fgetc(f);
        if (c == '-') {
            if (fscanf(f, "%ld", &hi) != 1) ok = false;
            c = fgetc(f);
        }
        for (long cpu = lo; ok && cpu <= hi && cpu < LORC_MAX_CPUS; cpu++) {
            char path[128];
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", cpu);
            long core = read_long(path);
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", cpu);
            long pkg = read_long(path);
            if (core < 0 || pkg < 0) {
                ok = false;
                break;
            }
            bool dup = false;
            for (int i = 0; i < n_seen && !dup; i++) dup = seen[2 * i] == pkg && seen[2 * i + 1] == core;
            if (!dup && n_seen < LORC_MAX_CPUS) {
                seen[2 * n_seen] = pkg;
                seen[2 * n_seen + 1] = core;
                n_seen++;
            }
        }
        if (c != ',') break;
    }
    fclose(f);
    free(seen);
    return ok && n_seen > 0 ? n_seen : online_cpus();
}
