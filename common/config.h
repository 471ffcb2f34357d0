/*
 * config.h - the one configuration parser: RocketMQ-style "key=value"
 * properties files plus command-line overrides, driven by a table of options
 * that names each key, its type, range, default and help.
 *
 * Order of precedence: defaults < file (-c FILE) < command line. Every key is
 * optional. An unknown key or a bad value is an error that names the key,
 * the value and (for files) the line. The same table prints --help and the
 * effective configuration (-p), so help text cannot drift from the code.
 *
 * A program describes its config as a struct plus a table:
 *   static const cfg_option opts[] = {
 *       CFG_INT(my_conf, listen_port, "listenPort", "9876", 0, 65535, "TCP port"),
 *       CFG_END
 *   };
 */
#ifndef MQ_CONFIG_H
#define MQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cfg_type {
    CFG_T_INT,    /* int32_t */
    CFG_T_INT64,  /* int64_t */
    CFG_T_BOOL,   /* bool */
    CFG_T_STRING, /* char[size] */
    CFG_T_ENUM,   /* int: index into choices */
    CFG_T_DOUBLE, /* double */
    CFG_T_NOTED,  /* accepted, not used: any value; the key's name is added to a char[size]
                   * field (space separated) so the program can warn once */
} cfg_type;

typedef struct cfg_option {
    const char *name;            /* RocketMQ key name; NULL ends a table */
    cfg_type type;
    size_t offset;               /* of the field in the config struct */
    size_t size;                 /* of the field (capacity for strings) */
    const char *def;             /* default, as text */
    int64_t min, max;            /* integer range (inclusive) */
    const char *const *choices;  /* enum names, NULL-terminated */
    const char *help;
} cfg_option;

#define CFG_FIELD(st, f) offsetof(st, f), sizeof(((st *)0)->f)
#define CFG_INT(st, f, name, def, lo, hi, help) {name, CFG_T_INT, CFG_FIELD(st, f), def, lo, hi, NULL, help}
#define CFG_INT64(st, f, name, def, lo, hi, help) {name, CFG_T_INT64, CFG_FIELD(st, f), def, lo, hi, NULL, help}
#define CFG_BOOL(st, f, name, def, help) {name, CFG_T_BOOL, CFG_FIELD(st, f), def, 0, 0, NULL, help}
#define CFG_STRING(st, f, name, def, help) {name, CFG_T_STRING, CFG_FIELD(st, f), def, 0, 0, NULL, help}
#define CFG_ENUM(st, f, name, def, choices, help) {name, CFG_T_ENUM, CFG_FIELD(st, f), def, 0, 0, choices, help}
#define CFG_DOUBLE(st, f, name, def, help) {name, CFG_T_DOUBLE, CFG_FIELD(st, f), def, 0, 0, NULL, help}
/* A key some other program (RocketMQ) uses that this one accepts without
 * using; f is a char[] shared by all such rows. An ordinary row with the
 * same name wins over it, wherever it is in the table. */
#define CFG_NOTED(st, f, name) {name, CFG_T_NOTED, CFG_FIELD(st, f), NULL, 0, 0, NULL, "accepted, not used"}
#define CFG_END {NULL, CFG_T_INT, 0, 0, NULL, 0, 0, NULL, NULL}

/* Fills every field with its default. Returns 0, or -1 (a bad default is a bug). */
int cfg_defaults(const cfg_option *opts, void *cfg, char *err, size_t errlen);
/* Sets one key from text. Returns 0, or -1 with err naming key and value. */
int cfg_set(const cfg_option *opts, void *cfg, const char *key, const char *value, char *err,
            size_t errlen);
/* Reads a properties file: key=value lines, '#' or '!' comments, blank lines.
 * Returns 0, or -1 with err naming the file and line. */
int cfg_load_file(const cfg_option *opts, void *cfg, const char *path, char *err, size_t errlen);
/* Writes "key=value" lines of the effective config. */
void cfg_print(const cfg_option *opts, const void *cfg, FILE *out);
const cfg_option *cfg_find(const cfg_option *opts, const char *key);

/* Short command-line flags that stand for a key, e.g. {'n', "namesrvAddr"}. */
typedef struct cfg_flag {
    char letter;       /* 0 ends a table */
    const char *key;
} cfg_flag;

typedef struct cfg_cli {
    const char *program;
    const char *summary;        /* one line: what the program is */
    const cfg_option *options;
    const cfg_flag *flags;      /* may be NULL */
} cfg_cli;

enum {
    CFG_CLI_RUN = 0,      /* config ready: run the program */
    CFG_CLI_EXIT_OK = 1,  /* --help or -p handled: exit 0 */
    CFG_CLI_ERROR = -1,   /* err says why: exit non-zero */
};

/* Parses argv: -h/--help, --version, -c FILE, -p (print config and exit), the short
 * flags, and --key=value or --key value for any key. Applies defaults, then
 * the file, then the rest, whatever their order on the line. */
int cfg_cli_parse(const cfg_cli *cli, void *cfg, int argc, char **argv, char *err, size_t errlen);
void cfg_cli_help(const cfg_cli *cli, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
