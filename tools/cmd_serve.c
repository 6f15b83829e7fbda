/* cmd_serve.c — `lorc serve`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc serve: not implemented yet\n");
    return 1;
}
