/* cmd_extract.c — `lorc extract`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_extract(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc extract: not implemented yet\n");
    return 1;
}
