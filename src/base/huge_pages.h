/* huge_pages.h — asking Linux to back a large block of memory with 2 MB
 * pages (transparent huge pages). */
#ifndef LORC_BASE_HUGE_PAGES_H
#define LORC_BASE_HUGE_PAGES_H

#include <stddef.h>

/* A hint for the whole pages inside [p, p + n): back them with huge pages
 * where the kernel can (Linux THP, "madvise" or "always" mode). Memory
 * touched afterwards comes in 2 MB pages wherever a whole 2 MB of it is
 * aligned; pages already touched keep their size. A no-op elsewhere, for
 * small blocks, and when the kernel refuses. */
void lorc_advise_huge_pages(void *p, size_t n);

#endif
