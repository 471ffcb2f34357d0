/*
 * fuzz_config.c - the configuration parser (common/config.c) with the
 * broker's and the nameserver's real option tables.
 *
 * The first input byte picks the table and the entry point: a properties
 * file (cfg_load_file, read from a memfd) or a command line (cfg_cli_parse,
 * one argument per input line). Checked: a refusal comes with an error
 * text; an accepted configuration printed with cfg_print (what `-p` shows)
 * loads again and prints the same, so -p output is always a valid config
 * file for the same program.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "broker_config.h"
#include "config.h"
#include "fuzz_check.h"
#include "log.h"
#include "namesrv.h"

typedef struct table {
    const char *program;
    const cfg_option *opts;
    const cfg_flag *flags;
    size_t size;
} table;

/* Writes text to a fresh memfd; returns its fd and fills path. */
static int memfd_with(const void *text, size_t len, char *path, size_t cap)
{
    int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(len == 0 || write(fd, text, len) == (ssize_t)len);
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

static char *print_config(const table *t, const void *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    FUZZ_CHECK(f != NULL);
    cfg_print(t->opts, cfg, f);
    fclose(f);
    return text;
}

/* The effective configuration must survive print -> load -> print. */
static void check_reload(const table *t, const void *cfg)
{
    size_t len1, len2;
    char *p1 = print_config(t, cfg, &len1);
    void *again = calloc(1, t->size);
    char err[1024] = "", path[64];
    FUZZ_CHECK(cfg_defaults(t->opts, again, err, sizeof err) == 0);
    int fd = memfd_with(p1, len1, path, sizeof path);
    if (cfg_load_file(t->opts, again, path, err, sizeof err) != 0) {
        fprintf(stderr, "printed config does not load again: %s\n%s", err, p1);
        abort();
    }
    close(fd);
    char *p2 = print_config(t, again, &len2);
    if (len1 != len2 || memcmp(p1, p2, len1) != 0) {
        fprintf(stderr, "config changed after print/load:\n%s\n---\n%s", p1, p2);
        abort();
    }
    free(p1);
    free(p2);
    free(again);
}

static void from_file(const table *t, const uint8_t *data, size_t size)
{
    void *cfg = calloc(1, t->size);
    char err[1024] = "", path[64];
    FUZZ_CHECK(cfg_defaults(t->opts, cfg, err, sizeof err) == 0);
    int fd = memfd_with(data, size, path, sizeof path);
    if (cfg_load_file(t->opts, cfg, path, err, sizeof err) == 0)
        check_reload(t, cfg);
    else
        FUZZ_CHECK_ERR(err);
    close(fd);
    free(cfg);
}

static void from_argv(const table *t, const uint8_t *data, size_t size)
{
    /* argv[0], then one argument per line; at most 64. */
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[66];
    int argc = 0;
    argv[argc++] = (char *)t->program;
    char *p = copy;
    while (argc < 65) {
        argv[argc++] = p;
        char *nl = memchr(p, '\n', (size_t)(copy + size - p));
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    argv[argc] = NULL;
    cfg_cli cli = {t->program, "fuzzing", t->opts, t->flags};
    void *cfg = calloc(1, t->size);
    char err[1024] = "";
    /* -c names a file: only memfds made here would make sense, and a
     * fuzzer must not read arbitrary paths, so -c is left out. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-c"))
            argv[i] = "-p";
    FILE *devnull = fopen("/dev/null", "w");
    FILE *saved = stdout;
    stdout = devnull; /* -h and -p print */
    int rc = cfg_cli_parse(&cli, cfg, argc, argv, err, sizeof err);
    stdout = saved;
    fclose(devnull);
    if (rc == CFG_CLI_RUN)
        check_reload(t, cfg);
    else if (rc == CFG_CLI_ERROR)
        FUZZ_CHECK_ERR(err);
    else
        FUZZ_CHECK(rc == CFG_CLI_EXIT_OK);
    free(cfg);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const table tables[] = {
        {"mqbroker", broker_config_options, broker_config_flags, sizeof(broker_config)},
        {"mqnamesrv", namesrv_config_options, NULL, sizeof(namesrv_config)},
    };
    log_set_level(LOG_OFF);
    if (size < 1)
        return 0;
    const table *t = &tables[data[0] & 1];
    if (data[0] & 2)
        from_argv(t, data + 1, size - 1);
    else
        from_file(t, data + 1, size - 1);
    return 0;
}
