/* commands.h — the subcommands of the lorc CLI, one file each (cmd_*.c). */
#ifndef LORC_TOOLS_COMMANDS_H
#define LORC_TOOLS_COMMANDS_H

int lorc_cmd_run(int argc, char **argv);
int lorc_cmd_perplexity(int argc, char **argv);
int lorc_cmd_tokenize(int argc, char **argv);
int lorc_cmd_inspect(int argc, char **argv);
int lorc_cmd_quantize(int argc, char **argv);
int lorc_cmd_merge(int argc, char **argv);
int lorc_cmd_diff(int argc, char **argv);
int lorc_cmd_extract(int argc, char **argv);
int lorc_cmd_convert(int argc, char **argv);
int lorc_cmd_bench(int argc, char **argv);
int lorc_cmd_batch(int argc, char **argv);
int lorc_cmd_serve(int argc, char **argv);

#endif
