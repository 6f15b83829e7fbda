/* cmd_tokenize.c — `lorc tokenize`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc tokenize: not implemented yet\n");
    return 1;
}
