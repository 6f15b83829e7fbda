/* test_huge_pages.c — lorc_advise_huge_pages: safe on any range (NULL,
 * empty, smaller than a page, unaligned), and effective where the kernel
 * backs advised memory with transparent huge pages: an advised anonymous
 * block comes in 2 MB pages once touched, and (in THP's "madvise" mode) the
 * same block without the advice does not. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/huge_pages.h"
#include "testutil.h"

enum { BLOCK = 16 << 20 };

/* THP's mode from /sys: 'a' always, 'm' madvise, 'n' never or unknown. */
static char thp_mode(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = {0};
    if (!f) return 'n';
    const bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got) return 'n';
    if (strstr(line, "[always]")) return 'a';
    if (strstr(line, "[madvise]")) return 'm';
    return 'n';
}

/* kB in huge pages of the mappings that overlap [p, p + n) (smaps; the
 * advice may split the block's mapping in several), or -1. */
static long huge_kb(const void *p, size_t n) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    const unsigned long begin = (unsigned long)(uintptr_t)p, end = begin + (unsigned long)n;
    char line[512];
    bool in = false;
    long total = -1, kb;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = lo < end && hi > begin;
            continue;
        }
        if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) total = (total < 0 ? 0 : total) + kb;
    }
    fclose(f);
    return total;
}

/* A fresh anonymous block, advised or not, touched all over: its kB in
 * huge pages. */
static long touched_block(bool advise) {
    uint8_t *p = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED) return -1;
    if (advise) lorc_advise_huge_pages(p + 1, BLOCK - 1); /* an unaligned start still covers the block's pages */
    memset(p, 1, BLOCK);
    const long kb = huge_kb(p, BLOCK);
    munmap(p, BLOCK);
    return kb;
}

int main(void) {
    /* ranges with no whole page in them, and none at all */
    lorc_advise_huge_pages(NULL, 0);
    lorc_advise_huge_pages(NULL, 1 << 20);
    char small[100];
    lorc_advise_huge_pages(small, sizeof small);
    uint8_t *heap = malloc(3 << 20);
    CHECK(heap != NULL);
    if (heap) {
        lorc_advise_huge_pages(heap + 5, (3 << 20) - 7);
        memset(heap, 2, 3 << 20); /* the block is still the program's, whole */
        CHECK(heap[0] == 2 && heap[(3 << 20) - 1] == 2);
        free(heap);
    }

    const char mode = thp_mode();
    if (mode == 'n') {
        printf("transparent huge pages are off here: only the ranges were checked\n");
        return test_finish("test_huge_pages");
    }
    const long advised = touched_block(true);
    if (advised < 0) {
        printf("/proc/self/smaps is not readable here: only the ranges were checked\n");
        return test_finish("test_huge_pages");
    }
    CHECK_MSG(advised >= 2048, "an advised %d MB block got %ld kB of huge pages (THP mode %c)", BLOCK >> 20, advised,
              mode);
    if (mode == 'm') {
        const long plain = touched_block(false);
        CHECK_MSG(plain == 0, "a block without the advice got %ld kB of huge pages in madvise mode", plain);
    }
    printf("advised block: %ld kB of %d kB in huge pages (THP mode %s)\n", advised, BLOCK >> 10,
           mode == 'a' ? "always" : "madvise");
    return test_finish("test_huge_pages");
}
