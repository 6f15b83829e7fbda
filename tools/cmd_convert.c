/* cmd_convert.c — `lorc convert`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc convert: not implemented yet\n");
    return 1;
}
