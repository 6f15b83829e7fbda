/* cmd_bench.c — `lorc bench`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc bench: not implemented yet\n");
    return 1;
}
