/* config.c - the CLI's config file: where it lives, reading it, writing it
 * back safely, and merging it with flags and the environment.
 *
 * File: BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.json, else
 * ~/.config/berth/config.json. JSON {"url", "token", "org"}. It holds a
 * bearer secret, so the directory is 0700 and the file 0600, written
 * atomically. struct cli_config owns its strings (config_release). */
#include "cli.h"
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX (64 * 1024)

static int config_path(struct cli *c)
{
    const char *over = getenv("BERTH_CONFIG");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *p = c->cfg.path;
    size_t n = sizeof c->cfg.path;
    int w;
    if (over && *over)
        w = snprintf(p, n, "%s", over);
    else if (xdg && *xdg)
        w = snprintf(p, n, "%s/berth/config.json", xdg);
    else if (home && *home)
        w = snprintf(p, n, "%s/.config/berth/config.json", home);
    else
        return cli_fail(c, CLI_EXIT_OTHER, "config", "cannot find the config file: set HOME, "
                        "XDG_CONFIG_HOME or BERTH_CONFIG");
    if (w < 0 || (size_t)w >= n)
        return cli_fail(c, CLI_EXIT_OTHER, "config", "the config path is too long");
    return 0;
}

void config_set(char **field, const char *value)
{
    if (*field) {
        crypto_wipe(*field, strlen(*field));
        free(*field);
    }
    *field = value && *value ? strdup(value) : NULL;
}

static void take_field(json_t *root, const char *key, char **field)
{
    json_t *v = json_object_get(root, key);
    if (json_is_string(v))
        config_set(field, json_string_value(v));
}

/* A config readable by others leaks the session: say so and fix it. */
static void tighten_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        fprintf(stderr, "berth: warning: %s was readable by others; setting mode 0600\n", path);
        chmod(path, 0600);
    }
}

int config_load(struct cli *c)
{
    char *data = NULL;
    size_t len = 0;
    json_t *root = NULL;
    int rc = -1;
    if (config_path(c) < 0)
        return -1;
    if (util_read_file(c->cfg.path, CONFIG_MAX, &data, &len) < 0) {
        if (errno == ENOENT)
            return 0;
        cli_fail(c, CLI_EXIT_OTHER, "config", "cannot read %s: %s", c->cfg.path,
                 strerror(errno));
        goto done;
    }
    tighten_mode(c->cfg.path);
    json_error_t jerr;
    root = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(root)) {
        cli_fail(c, CLI_EXIT_OTHER, "config", "%s is not a JSON object (line %d: %s); fix or "
                 "remove it", c->cfg.path, jerr.line, jerr.text);
        goto done;
    }
    take_field(root, "url", &c->cfg.url);
    take_field(root, "token", &c->cfg.token);
    take_field(root, "org", &c->cfg.org);
    rc = 0;
done:
    json_decref(root);
    if (data) {
        crypto_wipe(data, len);
        free(data);
    }
    return rc;
}

/* mkdir -p of the file's directory; directories it creates are 0700. */
static int make_dir(struct cli *c)
{
    char dir[sizeof c->cfg.path];
    util_strlcpy(dir, c->cfg.path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    return cli_fail(c, CLI_EXIT_OTHER, "config", "cannot create %s: %s", dir, strerror(errno));
}

int config_save(struct cli *c)
{
    json_t *root = json_object();
    char *s = NULL;
    int rc = -1;
    if (make_dir(c) < 0)
        goto done;
    if (c->cfg.url)
        json_object_set_new(root, "url", json_string(c->cfg.url));
    if (c->cfg.token)
        json_object_set_new(root, "token", json_string(c->cfg.token));
    if (c->cfg.org)
        json_object_set_new(root, "org", json_string(c->cfg.org));
    s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s || util_write_file_atomic(c->cfg.path, s, strlen(s), 0600) < 0) {
        cli_fail(c, CLI_EXIT_OTHER, "config", "cannot write %s: %s", c->cfg.path,
                 strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (s) {
        crypto_wipe(s, strlen(s));
        free(s);
    }
    json_decref(root);
    return rc;
}

void config_release(struct cli_config *cfg)
{
    config_set(&cfg->url, NULL);
    config_set(&cfg->token, NULL);
    config_set(&cfg->org, NULL);
}

static const char *first(const char *a, const char *b, const char *d)
{
    if (a && *a)
        return a;
    if (b && *b)
        return b;
    return d;
}

void config_resolve(struct cli *c)
{
    c->url = first(c->a.val[OPT_URL], getenv("BERTH_URL"),
                   first(c->cfg.url, NULL, CLI_DEFAULT_URL));
    c->token = first(getenv("BERTH_TOKEN"), c->cfg.token, NULL);
    c->org = first(c->a.val[OPT_ORG], getenv("BERTH_ORG"), c->cfg.org);
    c->cacert = first(c->a.val[OPT_CACERT], getenv("BERTH_CACERT"), NULL);
}
