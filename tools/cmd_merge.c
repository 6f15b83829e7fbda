/* cmd_merge.c — `lorc merge`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_merge(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc merge: not implemented yet\n");
    return 1;
}
