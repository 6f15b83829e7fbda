/* batch_registry.c — registry entries from the options of `lorc batch`
 * and `lorc serve`. */
#include "batch_registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "cli.h"

int registry_opts_parse(registry_opts *o, const char *cmd, int argc, char **argv, int *i) {
    static const char *const names[] = {"--lora", "--overlay", "--adapter-dir"};
    const char **lists[] = {o->lora, o->overlay, o->dirs};
    int *counts[] = {&o->n_lora, &o->n_overlay, &o->n_dirs};
    for (int k = 0; k < 3; k++) {
        const char *v = NULL;
        bool missing = false;
        if (!cli_opt(argc, argv, i, names[k], &v, &missing)) continue;
        if (missing) return -1;
        if (*counts[k] == REGISTRY_OPTS_MAX) {
            cli_usage_error(cmd, "at most %d %s options", REGISTRY_OPTS_MAX, names[k]);
            return -1;
        }
        lists[k][(*counts[k])++] = v;
        return 1;
    }
    return 0;
}

lorc_status batch_registry_add_pair(lorc_registry *reg, const char *opt, const char *pair, lorc_entry_kind kind,
                                    lorc_error *err) {
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair || !eq[1])
        return lorc_fail(err, LORC_ERR_INVALID, "%s '%s': expected NAME=PATH", opt, pair);
    char *name = strndup(pair, (size_t)(eq - pair));
    if (!name) return lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
    lorc_status st = lorc_registry_add(reg, name, eq + 1, kind, err);
    free(name);
    return st;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Registers dir/entry when it is an adapter; *added tells whether it was. */
static lorc_status add_entry(lorc_registry *reg, const char *dir, const char *entry, bool *added, lorc_error *err) {
    *added = false;
    char path[4096], cfg[4160];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, entry) >= sizeof path)
        return lorc_fail(err, LORC_ERR_INVALID, "%s/%s: path too long", dir, entry);
    struct stat st;
    if (stat(path, &st) != 0) return LORC_OK; /* a dangling link is no adapter */
    size_t n = strlen(entry);
    if (S_ISREG(st.st_mode) && n > 5 && !strcmp(entry + n - 5, ".gguf")) {
        char *name = strndup(entry, n - 5);
        if (!name) return lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
        lorc_status s = lorc_registry_add(reg, name, path, LORC_ENTRY_AUTO, err);
        free(name);
        *added = s == LORC_OK;
        return s;
    }
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", path);
    if (S_ISDIR(st.st_mode) && stat(cfg, &st) == 0 && S_ISREG(st.st_mode)) {
        lorc_status s = lorc_registry_add(reg, entry, path, LORC_ENTRY_LORA, err);
        *added = s == LORC_OK;
        return s;
    }
    return LORC_OK;
}

lorc_status batch_registry_add_dir(lorc_registry *reg, const char *dir, int *n_added, lorc_error *err) {
    *n_added = 0;
    DIR *d = opendir(dir);
    if (!d) return lorc_fail(err, LORC_ERR_IO, "%s: cannot open the adapter folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    lorc_status st = LORC_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            size_t c = cap ? 2 * cap : 64;
            char **grown = realloc(names, c * sizeof *grown);
            if (!grown) {
                st = lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
                break;
            }
            names = grown;
            cap = c;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    /* Name order: the same registrations (and the same first error) on
     * every file system. */
    if (n > 1) qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n && st == LORC_OK; i++) {
        bool added = false;
        st = add_entry(reg, dir, names[i], &added, err);
        *n_added += added;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}
