/* cmd_inspect.c — `lorc inspect`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc inspect: not implemented yet\n");
    return 1;
}
