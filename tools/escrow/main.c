/*
 * escrow: the command-line tool of escrow (DESIGN §11). This file holds the dispatch table
 * and the top-level help; the handlers live in keys.c, files.c and algorithm.c.
 *
 * To add a command (criteria, sas, blob, ...): define a cli_command in its own file, declare
 * it in cli.h and add a row to `commands` below.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* escrow api ... (api.c) */
extern const cli_command cli_cmd_api_kek_download, cli_cmd_api_upload, cli_cmd_api_dataset,
    cli_cmd_api_accept_criteria, cli_cmd_api_versions, cli_cmd_api_notifications,
    cli_cmd_api_run_configuration, cli_cmd_api_run_status, cli_cmd_api_run_request, cli_cmd_api_initiate_run,
    cli_cmd_api_run_reject, cli_cmd_api_run_cancel, cli_cmd_api_report_download,
    cli_cmd_api_model_download, cli_cmd_api_log_download;

static const cli_command *const commands[] = {
    &cli_cmd_cek_generate, &cli_cmd_kek_generate,    &cli_cmd_wcek_wrap,
    &cli_cmd_wcek_unwrap,  &cli_cmd_encrypt,         &cli_cmd_decrypt,
    &cli_cmd_inspect,      &cli_cmd_algorithm_pack,  &cli_cmd_algorithm_check,
    &cli_cmd_criteria_check, &cli_cmd_criteria_validate, &cli_cmd_criteria_audit,
    &cli_cmd_sas_check, &cli_cmd_sas_sign, &cli_cmd_sas_verify, &cli_cmd_blob_ls, &cli_cmd_blob_get, &cli_cmd_blob_put,
    &cli_cmd_attest_sim_issuer, &cli_cmd_attest_runtime_data, &cli_cmd_attest_sim_token, &cli_cmd_attest_verify_token, &cli_cmd_attest_policy_eval,
    &cli_cmd_api_kek_download, &cli_cmd_api_upload, &cli_cmd_api_dataset,
    &cli_cmd_api_accept_criteria, &cli_cmd_api_versions, &cli_cmd_api_notifications,
    &cli_cmd_api_run_configuration, &cli_cmd_api_run_status, &cli_cmd_api_run_request, &cli_cmd_api_initiate_run,
    &cli_cmd_api_run_reject, &cli_cmd_api_run_cancel, &cli_cmd_api_report_download,
    &cli_cmd_api_model_download, &cli_cmd_api_log_download,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_overview(FILE *f) {
  fprintf(f, "usage: escrow <command> [options]\n\n"
             "escrow, the EscrowAI encryption tool: keys, encrypted files and packages.\n\n"
             "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++) {
    const cli_command *c = commands[i];
    char name[64];
    if (c->group)
      snprintf(name, sizeof name, "%s %s", c->group, c->name);
    else
      snprintf(name, sizeof name, "%s", c->name);
    fprintf(f, "  %-18s %s\n", name, c->summary);
  }
  fprintf(f, "\n'escrow <command> --help' (or 'escrow help <command>') shows a command's "
             "options.\n'escrow --version' prints the version.\n"
             "Exit status: 0 success, 1 a negative answer, 2 usage or runtime error.\n");
}

static int is_group(const char *word) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i]->group && strcmp(commands[i]->group, word) == 0) return 1;
  return 0;
}

static void print_group(FILE *f, const char *group) {
  fprintf(f, "usage: escrow %s <command> [options]\n\ncommands:\n", group);
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i]->group && strcmp(commands[i]->group, group) == 0)
      fprintf(f, "  escrow %s\n      %s\n", commands[i]->synopsis, commands[i]->summary);
}

/* Find the command named by argv[0] (and argv[1] for a group). *used = words consumed.
 * Returns NULL if unknown; *group_only = 1 if argv[0] is a group without a known command. */
static const cli_command *lookup(int argc, char **argv, int *used, int *group_only) {
  *group_only = 0;
  *used = 0;
  if (argc < 1) return NULL;
  for (size_t i = 0; i < N_COMMANDS; i++) {
    const cli_command *c = commands[i];
    if (!c->group && strcmp(c->name, argv[0]) == 0) {
      *used = 1;
      return c;
    }
  }
  if (!is_group(argv[0])) return NULL;
  *group_only = 1;
  if (argc < 2) return NULL;
  for (size_t i = 0; i < N_COMMANDS; i++) {
    const cli_command *c = commands[i];
    if (c->group && strcmp(c->group, argv[0]) == 0 && strcmp(c->name, argv[1]) == 0) {
      *used = 2;
      *group_only = 0;
      return c;
    }
  }
  return NULL;
}

static int help_command(int argc, char **argv) {
  if (argc == 0) {
    print_overview(stdout);
    return CLI_EXIT_OK;
  }
  int used, group_only;
  const cli_command *c = lookup(argc, argv, &used, &group_only);
  if (c && used == argc) {
    cli_print_help(c);
    return CLI_EXIT_OK;
  }
  if (group_only && argc == 1) {
    print_group(stdout, argv[0]);
    return CLI_EXIT_OK;
  }
  fprintf(stderr, "escrow: no help for '%s': unknown command\n", argv[argc > 1 ? 1 : 0]);
  print_overview(stderr);
  return CLI_EXIT_ERROR;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "escrow: missing command\n");
    print_overview(stderr);
    return CLI_EXIT_ERROR;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("escrow %s\n", escrow_version());
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    print_overview(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "help") == 0) return help_command(argc - 2, argv + 2);

  int used, group_only;
  const cli_command *cmd = lookup(argc - 1, argv + 1, &used, &group_only);
  if (!cmd) {
    if (group_only) {
      if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        print_group(stdout, argv[1]);
        return CLI_EXIT_OK;
      }
      if (argc >= 3)
        fprintf(stderr, "escrow: unknown command '%s %s'\n", argv[1], argv[2]);
      else
        fprintf(stderr, "escrow: '%s' needs a command\n", argv[1]);
      print_group(stderr, argv[1]);
      return CLI_EXIT_ERROR;
    }
    fprintf(stderr, "escrow: unknown command '%s'\n", argv[1]);
    print_overview(stderr);
    return CLI_EXIT_ERROR;
  }

  cli_args args;
  int help = 0;
  int status = cli_args_parse(&args, cmd, argc - 1 - used, argv + 1 + used, &help);
  if (status == 0 && help) {
    cli_print_help(cmd);
  } else if (status == 0) {
    int rc = escrow_init();
    status = rc != 0 ? cli_fail(rc, "cannot initialise the crypto library") : cmd->run(&args);
  }
  cli_args_free(&args);
  return status;
}
