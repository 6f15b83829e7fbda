/* cmd_perplexity.c — `lorc perplexity`: not implemented yet. */
#include <stdio.h>

#include "commands.h"

int lorc_cmd_perplexity(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "lorc perplexity: not implemented yet\n");
    return 1;
}
