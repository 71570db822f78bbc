/* cmd_org.c - organizations: list, create, and `use` (the current
 * organization, kept in the config file after berthd confirms it). */
#include "cli.h"

#include <string.h>

static void human_org_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"", "ID", "NAME", "ROLE", "CREATED", NULL};
    json_t *t = out_table_new(h), *o;
    size_t i;
    char id[32], tmp[32];
    json_array_foreach(json_object_get(d, "items"), i, o) {
        const char *name = out_str(o, "name", tmp, sizeof tmp);
        out_table_row(t, c->org && strcmp(name, c->org) == 0 ? "*" : "",
                      out_str(o, "id", id, sizeof id), name,
                      out_str(o, "role", tmp, sizeof tmp), out_str(o, "created_at", tmp, sizeof tmp),
                      NULL);
    }
    out_table_print(t);
}

int cmd_org_list(struct cli *c)
{
    json_t *d = NULL;
    if (client_request(c, "GET", "/orgs", NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_org_list);
    return 0;
}

static void human_org_create(struct cli *c, json_t *d)
{
    printf("Created organization %s (id %lld); you are its admin.\n",
           json_string_value(json_object_get(d, "name")),
           (long long)json_integer_value(json_object_get(d, "id")));
    printf("Make it current with: berth org use %s\n",
           json_string_value(json_object_get(d, "name")));
}

int cmd_org_create(struct cli *c)
{
    json_t *body = json_pack("{s:s}", "name", c->args[0]), *d = NULL;
    int rc = client_mutate(c, "POST", "/orgs", body, 1, NULL, &d);
    json_decref(body);
    if (rc == 0)
        out_ok(c, d, human_org_create);
    return rc < 0 ? -1 : 0;
}

static void human_org_use(struct cli *c, json_t *d)
{
    json_t *o = json_object_get(d, "org");
    if (json_is_true(json_object_get(d, "dry_run")))
        printf("dry run: would make %s the current organization (nothing sent or saved)\n",
               json_string_value(json_object_get(o, "name")));
    else
        printf("Current organization: %s (your role: %s)\n",
               json_string_value(json_object_get(o, "name")),
               json_string_value(json_object_get(o, "role")));
}

int cmd_org_use(struct cli *c)
{
    char path[512];
    json_t *o = NULL;
    if (client_path(c, path, sizeof path, "/orgs/%s", c->args[0]) < 0)
        return -1;
    if (c->dry_run) {
        out_ok(c, json_pack("{s:b, s:{s:s}, s:s}", "dry_run", 1, "org", "name", c->args[0],
                            "config", c->cfg.path), human_org_use);
        return 0;
    }
    if (client_request(c, "GET", path, NULL, 1, &o) < 0)
        return -1;
    /* Store the canonical name (the argument may have been an id). */
    config_set(&c->cfg.org, json_string_value(json_object_get(o, "name")));
    if (!c->cfg.url)
        config_set(&c->cfg.url, c->url);
    if (config_save(c) < 0) {
        json_decref(o);
        return -1;
    }
    c->org = c->cfg.org;
    out_ok(c, json_pack("{s:o, s:s}", "org", o, "config", c->cfg.path), human_org_use);
    return 0;
}
