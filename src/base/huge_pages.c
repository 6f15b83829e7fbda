/* huge_pages.c — the transparent huge page hint (Linux madvise). */
#include "huge_pages.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void lorc_advise_huge_pages(void *p, size_t n) {
#if defined(MADV_HUGEPAGE)
    const long page = sysconf(_SC_PAGESIZE);
    if (!p || page <= 0) return;
    const uintptr_t mask = (uintptr_t)page - 1;
    const uintptr_t begin = ((uintptr_t)p + mask) & ~mask, end = ((uintptr_t)p + n) & ~mask;
    if (end > begin) (void)madvise((void *)begin, end - begin, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}
