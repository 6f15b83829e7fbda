/* cmd_quantize.c — `lorc quantize`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_quantize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc quantize: not implemented yet\n");
    return 1;
}
