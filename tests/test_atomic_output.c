/* test_atomic_output.c — the atomic writer (src/base/atomic_file.c) replaces
 * only regular files: a character or block device, a FIFO, a socket, a
 * directory, a dangling symlink and a symlink to any of those are refused
 * with "refusing to replace OUT: not a regular file" and left exactly as they
 * were, with no temporary left behind. A symlink to a regular file has its
 * target replaced and stays a symlink. The device cases use nodes this test
 * creates with mknod in its own folder (never /dev/null), so they need root;
 * without it they are skipped with a note. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "testutil.h"

static char dir[512];

static const char *in_dir(const char *name) {
    static char bufs[4][768];
    static int slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static int count_temporaries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static lorc_status write_text(const char *path, const char *text, lorc_error *err) {
    lorc_atomic_file af;
    lorc_status st = lorc_atomic_file_open(&af, path, err);
    if (st != LORC_OK) return st;
    fputs(text, af.fp);
    return lorc_atomic_file_commit(&af, err);
}

/* Opening `path` must fail with the one-line refusal; its kind must not change. */
static void check_refused(const char *name, mode_t kind) {
    const char *path = in_dir(name);
    lorc_error err = {0};
    lorc_atomic_file af;
    lorc_status st = lorc_atomic_file_open(&af, path, &err);
    CHECK_MSG(st == LORC_ERR_INVALID, "%s: status %d", name, st);
    char want[1024];
    snprintf(want, sizeof want, "refusing to replace %s: not a regular file", path);
    CHECK_MSG(strcmp(err.message, want) == 0, "%s: message '%s'", name, err.message);
    if (st == LORC_OK) lorc_atomic_file_abort(&af);
    struct stat sb;
    CHECK_MSG(lstat(path, &sb) == 0 && (sb.st_mode & S_IFMT) == kind, "%s: no longer the same kind of node", name);
    CHECK_MSG(count_temporaries() == 0, "%s: a temporary file was left behind", name);
}

static void make_socket(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(fd >= 0 && strlen(path) < sizeof sa.sun_path);
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path) return;
    strcpy(sa.sun_path, path);
    CHECK_MSG(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %s", path, strerror(errno));
    close(fd); /* the socket node stays in the file system */
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", test_tmp("atomic_output"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
    lorc_error err = {0};

    /* A new name and an existing regular file are written. */
    CHECK_MSG(write_text(in_dir("new.txt"), "one", &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(write_text(in_dir("new.txt"), "two", &err) == LORC_OK, "%s", err.message);
    char *got = test_read_file(in_dir("new.txt"), NULL);
    CHECK(got && strcmp(got, "two") == 0);
    free(got);

    /* Directory, FIFO, socket. */
    CHECK(mkdir(in_dir("a_dir"), 0755) == 0);
    check_refused("a_dir", S_IFDIR);
    CHECK(mkfifo(in_dir("a_fifo"), 0644) == 0);
    check_refused("a_fifo", S_IFIFO);
    make_socket(in_dir("a_socket"));
    check_refused("a_socket", S_IFSOCK);

    /* Symlinks: dangling, and to each refused kind. */
    CHECK(symlink(in_dir("missing"), in_dir("dangling")) == 0);
    check_refused("dangling", S_IFLNK);
    CHECK_MSG(access(in_dir("missing"), F_OK) != 0, "writing through a dangling link created its target");
    CHECK(symlink(in_dir("a_dir"), in_dir("link_dir")) == 0);
    check_refused("link_dir", S_IFLNK);
    CHECK(symlink(in_dir("a_fifo"), in_dir("link_fifo")) == 0);
    check_refused("link_fifo", S_IFLNK);
    CHECK(symlink(in_dir("a_socket"), in_dir("link_socket")) == 0);
    check_refused("link_socket", S_IFLNK);
    CHECK(symlink("link_dir", in_dir("link_link_dir")) == 0); /* a chain, relative */
    check_refused("link_link_dir", S_IFLNK);

    /* Device nodes of our own (root only). */
    if (mknod(in_dir("a_chr"), S_IFCHR | 0666, makedev(1, 3)) == 0) {
        check_refused("a_chr", S_IFCHR);
        CHECK(symlink(in_dir("a_chr"), in_dir("link_chr")) == 0);
        check_refused("link_chr", S_IFLNK);
        CHECK(mknod(in_dir("a_blk"), S_IFBLK | 0600, makedev(7, 0)) == 0);
        check_refused("a_blk", S_IFBLK);
    } else {
        printf("test_atomic_output: note: device-node cases skipped (mknod: %s; needs root)\n", strerror(errno));
    }

    /* A symlink to a regular file: the target is replaced, the link stays. */
    CHECK(symlink("new.txt", in_dir("link_file")) == 0);
    CHECK_MSG(write_text(in_dir("link_file"), "three", &err) == LORC_OK, "%s", err.message);
    struct stat sb;
    CHECK(lstat(in_dir("link_file"), &sb) == 0 && S_ISLNK(sb.st_mode));
    got = test_read_file(in_dir("new.txt"), NULL);
    CHECK_MSG(got && strcmp(got, "three") == 0, "target holds '%s'", got ? got : "(null)");
    free(got);
    CHECK(count_temporaries() == 0);

    /* An aborted write leaves the old file and no temporary. */
    lorc_atomic_file af;
    CHECK(lorc_atomic_file_open(&af, in_dir("new.txt"), &err) == LORC_OK);
    fputs("partial", af.fp);
    lorc_atomic_file_abort(&af);
    got = test_read_file(in_dir("new.txt"), NULL);
    CHECK(got && strcmp(got, "three") == 0);
    free(got);
    CHECK(count_temporaries() == 0);
    return test_finish("test_atomic_output");
}
