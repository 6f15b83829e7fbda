/* lorc.c — entry point of the CLI: dispatches `lorc <command> ...`. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", lorc_cmd_run, "generate text from a prompt"},
    {"perplexity", lorc_cmd_perplexity, "perplexity / KL divergence on a text file"},
    {"tokenize", lorc_cmd_tokenize, "show the tokens of a text"},
    {"inspect", lorc_cmd_inspect, "print a GGUF file's metadata and tensors"},
    {"quantize", lorc_cmd_quantize, "convert a model's weights to another type"},
    {"merge", lorc_cmd_merge, "merge LoRA adapters into an overlay or a full model"},
    {"diff", lorc_cmd_diff, "write the overlay of tensors that differ between two models"},
    {"extract", lorc_cmd_extract, "approximate a fine-tune's difference as a LoRA adapter"},
    {"convert", lorc_cmd_convert, "convert a PEFT adapter directory to a GGUF adapter"},
    {"bench", lorc_cmd_bench, "measure speed against memory bandwidth"},
    {"batch", lorc_cmd_batch, "run a JSONL file of requests on many adapters at once"},
    {"serve", lorc_cmd_serve, "serve a model over HTTP"},
};

static void usage(FILE *fp) {
    fprintf(fp, "usage: lorc <command> [options]   (lorc <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

/* Output that never reached stdout (a full disk, /dev/full, a broken pipe)
 * is a failure like any other: flush what stdio still buffers, and close,
 * which reports errors the kernel deferred. An earlier error already said
 * why the command failed, so this adds a line only to a success. `cmd` NULL:
 * lorc's own help. */
static int finish_stdout(const char *cmd, int rc) {
    errno = 0;
    bool failed = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        e = errno;
    }
    if (!failed) return rc;
    if (rc == 0)
        fprintf(stderr, "lorc%s%s: cannot write to stdout: %s\n", cmd ? " " : "", cmd ? cmd : "",
                e ? strerror(e) : "write error");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "lorc: no command given (see 'lorc --help')\n");
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish_stdout(NULL, 0);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return finish_stdout(commands[i].name, commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "lorc: unknown command '%s' (see 'lorc --help')\n", argv[1]);
    return 1;
}
