/* cmd_run.c — `lorc run`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc run: not implemented yet\n");
    return 1;
}
