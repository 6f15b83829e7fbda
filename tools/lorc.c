/* lorc.c — entry point of the CLI: dispatches `lorc <command> ...`. */
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
    {"serve", lorc_cmd_serve, "serve a model over HTTP"},
};

static void usage(FILE *fp) {
    fprintf(fp, "usage: lorc <command> [options]   (lorc <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lorc: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
