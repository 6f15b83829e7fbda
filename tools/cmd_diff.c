/* cmd_diff.c — `lorc diff`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_diff(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc diff: not implemented yet\n");
    return 1;
}
