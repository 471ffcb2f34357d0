/*
 * config.c - see config.h. Values are validated when set, so a running
 * program never sees a value outside its declared range.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "process.h"
#include "util.h"

const cfg_option *cfg_find(const cfg_option *opts, const char *key)
{
    const cfg_option *noted = NULL;
    for (const cfg_option *o = opts; o->name; o++)
        if (strcmp(o->name, key) == 0) {
            if (o->type != CFG_T_NOTED)
                return o;
            if (!noted)
                noted = o;
        }
    return noted;
}

/* A CFG_NOTED row hidden by an ordinary row of the same name. */
static bool shadowed(const cfg_option *opts, const cfg_option *o)
{
    return o->type == CFG_T_NOTED && cfg_find(opts, o->name) != o;
}

static void describe_expected(const cfg_option *o, char *buf, size_t cap)
{
    switch (o->type) {
    case CFG_T_INT:
    case CFG_T_INT64:
        snprintf(buf, cap, "an integer in %lld..%lld", (long long)o->min, (long long)o->max);
        break;
    case CFG_T_BOOL: snprintf(buf, cap, "true or false"); break;
    case CFG_T_STRING: snprintf(buf, cap, "text of at most %zu bytes", o->size - 1); break;
    case CFG_T_DOUBLE: snprintf(buf, cap, "a number"); break;
    case CFG_T_NOTED: snprintf(buf, cap, "any value, for compatibility"); break;
    case CFG_T_ENUM: {
        size_t n = 0;
        buf[0] = '\0';
        for (const char *const *c = o->choices; *c; c++) {
            int w = snprintf(buf + n, cap - n, "%s%s", n ? " or " : "one of ", *c);
            if (w < 0 || (size_t)w >= cap - n)
                break;
            n += (size_t)w;
        }
        break;
    }
    }
}

static int set_option(const cfg_option *o, void *cfg, const char *value)
{
    char *field = (char *)cfg + o->offset;
    switch (o->type) {
    case CFG_T_INT: {
        int32_t v;
        if (parse_int32(value, (int32_t)o->min, (int32_t)o->max, &v) != 0)
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CFG_T_INT64: {
        int64_t v;
        if (parse_int64(value, o->min, o->max, &v) != 0)
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CFG_T_BOOL: {
        bool v;
        if (parse_bool(value, &v) != 0)
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CFG_T_STRING: {
        /* As a file line is read: surrounding blanks dropped, and no line
         * breaks (a command-line value must print back as one file line). */
        while (isspace((unsigned char)*value))
            value++;
        size_t n = strlen(value);
        while (n > 0 && isspace((unsigned char)value[n - 1]))
            n--;
        if (n >= o->size || memchr(value, '\n', n) || memchr(value, '\r', n))
            return -1;
        memcpy(field, value, n);
        field[n] = '\0';
        return 0;
    }
    case CFG_T_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end)
            return -1;
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CFG_T_ENUM:
        for (int i = 0; o->choices[i]; i++) {
            if (strcasecmp(o->choices[i], value) == 0) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        }
        return -1;
    case CFG_T_NOTED: {
        size_t used = strnlen(field, o->size), n = strlen(o->name);
        for (const char *at = strstr(field, o->name); at; at = strstr(at + 1, o->name))
            if ((at == field || at[-1] == ' ') && (at[n] == ' ' || at[n] == '\0'))
                return 0; /* named already */
        if (used + n + 2 <= o->size)
            snprintf(field + used, o->size - used, "%s%s", used ? " " : "", o->name);
        return 0;
    }
    }
    return -1;
}

int cfg_set(const cfg_option *opts, void *cfg, const char *key, const char *value, char *err,
            size_t errlen)
{
    const cfg_option *o = cfg_find(opts, key);
    if (!o) {
        snprintf(err, errlen, "unknown config key '%s'", key);
        return -1;
    }
    if (set_option(o, cfg, value) != 0) {
        char expected[256];
        describe_expected(o, expected, sizeof expected);
        snprintf(err, errlen, "bad value '%s' for %s: expected %s", value, key, expected);
        return -1;
    }
    return 0;
}

int cfg_defaults(const cfg_option *opts, void *cfg, char *err, size_t errlen)
{
    for (const cfg_option *o = opts; o->name; o++) {
        if (o->type == CFG_T_NOTED) {
            ((char *)cfg + o->offset)[0] = '\0';
            continue;
        }
        if (cfg_set(opts, cfg, o->name, o->def ? o->def : "", err, errlen) != 0)
            return -1;
    }
    return 0;
}

int cfg_load_file(const cfg_option *opts, void *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[8192];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = str_trim(line);
        if (*s == '\0' || *s == '#' || *s == '!')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            eq = strchr(s, ':');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key=value, got '%s'", path, lineno, s);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = str_trim(s);
        char *value = str_trim(eq + 1);
        char why[512];
        if (cfg_set(opts, cfg, key, value, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void format_value(const cfg_option *o, const void *cfg, char *buf, size_t cap)
{
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case CFG_T_INT: {
        int32_t v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, cap, "%d", v);
        break;
    }
    case CFG_T_INT64: {
        int64_t v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, cap, "%lld", (long long)v);
        break;
    }
    case CFG_T_BOOL: {
        bool v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, cap, "%s", v ? "true" : "false");
        break;
    }
    case CFG_T_STRING: snprintf(buf, cap, "%s", field); break;
    case CFG_T_DOUBLE: {
        double v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, cap, "%g", v);
        break;
    }
    case CFG_T_ENUM: {
        int v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, cap, "%s", o->choices[v]);
        break;
    }
    case CFG_T_NOTED: snprintf(buf, cap, "%s", ""); break;
    }
}

void cfg_print(const cfg_option *opts, const void *cfg, FILE *out)
{
    char buf[4096];
    for (const cfg_option *o = opts; o->name; o++) {
        if (o->type == CFG_T_NOTED)
            continue; /* not part of the effective configuration */
        format_value(o, cfg, buf, sizeof buf);
        fprintf(out, "%s=%s\n", o->name, buf);
    }
}

void cfg_cli_help(const cfg_cli *cli, FILE *out)
{
    fprintf(out, "Usage: %s [-c FILE] [-p] [-h]", cli->program);
    if (cli->flags)
        for (const cfg_flag *f = cli->flags; f->letter; f++)
            fprintf(out, " [-%c %s]", f->letter, f->key);
    fprintf(out, " [--KEY=VALUE ...]\n\n%s\n\n", cli->summary);
    fprintf(out, "Options:\n");
    fprintf(out, "  -c FILE          read key=value settings from FILE (RocketMQ properties style)\n");
    fprintf(out, "  -p               print the effective configuration and exit\n");
    fprintf(out, "  -h, --help       print this help and exit\n");
    fprintf(out, "  --version        print the version and exit\n");
    if (cli->flags)
        for (const cfg_flag *f = cli->flags; f->letter; f++)
            fprintf(out, "  -%c VALUE         same as --%s=VALUE\n", f->letter, f->key);
    fprintf(out, "  --KEY=VALUE      set any key below (overrides the file)\n\n");
    fprintf(out, "Keys (default in brackets):\n");
    for (const cfg_option *o = cli->options; o->name; o++) {
        if (o->type == CFG_T_NOTED)
            continue;
        char expected[256];
        describe_expected(o, expected, sizeof expected);
        fprintf(out, "  %-32s %s [%s] (%s)\n", o->name, o->help ? o->help : "",
                o->def ? o->def : "", expected);
    }
    int noted = 0;
    for (const cfg_option *o = cli->options; o->name; o++) {
        if (o->type != CFG_T_NOTED || shadowed(cli->options, o))
            continue;
        fprintf(out, "%s%s", noted++ ? " " : "\nAccepted for compatibility, not used (a warning at start names them):\n  ",
                o->name);
    }
    if (noted)
        fputc('\n', out);
}

static const char *flag_key(const cfg_cli *cli, char letter)
{
    if (cli->flags)
        for (const cfg_flag *f = cli->flags; f->letter; f++)
            if (f->letter == letter)
                return f->key;
    return NULL;
}

int cfg_cli_parse(const cfg_cli *cli, void *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const char *file = NULL;
    bool print = false;
    if (cfg_defaults(cli->options, cfg, err, errlen) != 0)
        return CFG_CLI_ERROR;

    /* Pass 1: help, file, print; check the shape of everything else. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cfg_cli_help(cli, stdout);
            return CFG_CLI_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            printf("%s %s\n", cli->program, process_version());
            return CFG_CLI_EXIT_OK;
        } else if (!strcmp(a, "-c")) {
            if (++i >= argc) {
                snprintf(err, errlen, "-c needs a file name");
                return CFG_CLI_ERROR;
            }
            file = argv[i];
        } else if (!strcmp(a, "-p")) {
            print = true;
        } else if (a[0] == '-' && a[1] != '-' && a[1] && !a[2]) {
            if (!flag_key(cli, a[1])) {
                snprintf(err, errlen, "unknown flag '%s' (see --help)", a);
                return CFG_CLI_ERROR;
            }
            if (++i >= argc) {
                snprintf(err, errlen, "option %s needs a value", a);
                return CFG_CLI_ERROR;
            }
        } else if (a[0] == '-' && a[1] == '-' && a[2]) {
            char key[256];
            size_t n = strcspn(a + 2, "=");
            snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : sizeof key - 1), a + 2);
            if (!cfg_find(cli->options, key)) {
                snprintf(err, errlen, "unknown flag '--%s' (see --help)", key);
                return CFG_CLI_ERROR;
            }
            if (!strchr(a, '=') && ++i >= argc) {
                snprintf(err, errlen, "option %s needs a value", a);
                return CFG_CLI_ERROR;
            }
        } else {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return CFG_CLI_ERROR;
        }
    }
    if (file && cfg_load_file(cli->options, cfg, file, err, errlen) != 0)
        return CFG_CLI_ERROR;

    /* Pass 2: command-line values override the file. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c")) {
            i++;
        } else if (!strcmp(a, "-p")) {
            continue;
        } else if (a[0] == '-' && a[1] != '-') {
            if (cfg_set(cli->options, cfg, flag_key(cli, a[1]), argv[++i], err, errlen) != 0)
                return CFG_CLI_ERROR;
        } else {
            char key[256];
            const char *value;
            const char *eq = strchr(a + 2, '=');
            if (eq) {
                size_t n = (size_t)(eq - (a + 2));
                if (n >= sizeof key)
                    n = sizeof key - 1;
                memcpy(key, a + 2, n);
                key[n] = '\0';
                value = eq + 1;
            } else {
                str_copy(key, sizeof key, a + 2);
                value = argv[++i];
            }
            if (cfg_set(cli->options, cfg, key, value, err, errlen) != 0)
                return CFG_CLI_ERROR;
        }
    }
    if (print) {
        cfg_print(cli->options, cfg, stdout);
        return CFG_CLI_EXIT_OK;
    }
    return CFG_CLI_RUN;
}
