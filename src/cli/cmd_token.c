/* cmd_token.c - the caller's API tokens: create (the one place a token's
 * secret is ever printed), list (prefix only) and revoke. */
#include "cli.h"
#include "util.h"

#include <string.h>

static json_t *create_body(struct cli *c)
{
    json_t *scopes = json_array();
    for (int i = 0; i < c->a.nscopes; i++)
        json_array_append_new(scopes, json_string(c->a.scopes[i]));
    json_t *b = json_pack("{s:s, s:o}", "name", c->a.val[OPT_NAME], "scopes", scopes);
    if (c->a.val[OPT_ORG])
        json_object_set_new(b, "org", json_string(c->a.val[OPT_ORG]));
    if (c->a.val[OPT_EXPIRES_IN]) {
        int64_t ttl = 0;
        util_parse_i64(c->a.val[OPT_EXPIRES_IN], &ttl);
        json_object_set_new(b, "expires_in", json_integer(ttl));
    }
    return b;
}

static int check_create(struct cli *c)
{
    int64_t ttl;
    if (!c->a.val[OPT_NAME])
        return cli_usage(c, "--name is required");
    if (!c->a.nscopes)
        return cli_usage(c, "at least one --scope is required (see berth token create --help)");
    if (c->a.val[OPT_EXPIRES_IN] &&
        (util_parse_i64(c->a.val[OPT_EXPIRES_IN], &ttl) < 0 || ttl <= 0))
        return cli_usage(c, "--expires-in must be a number of seconds");
    return 0;
}

static void human_token_create(struct cli *c, json_t *d)
{
    json_t *s;
    size_t i;
    printf("Created token %lld (%s), expires %s, scopes:",
           (long long)json_integer_value(json_object_get(d, "id")),
           json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "expires_at")));
    json_array_foreach(json_object_get(d, "scopes"), i, s)
        printf(" %s", json_string_value(s));
    printf("\n\nThis is the only time the token is shown; store it now:\n\n  %s\n",
           json_string_value(json_object_get(d, "token")));
}

int cmd_token_create(struct cli *c)
{
    json_t *body = NULL, *d = NULL;
    if (check_create(c) < 0)
        return -1;
    body = create_body(c);
    int rc = client_mutate(c, "POST", "/tokens", body, 1, NULL, &d);
    json_decref(body);
    if (rc == 0)
        out_ok(c, d, human_token_create);
    return rc < 0 ? -1 : 0;
}

static void scopes_text(json_t *arr, char *out, size_t n)
{
    json_t *s;
    size_t i, used = 0;
    out[0] = '\0';
    json_array_foreach(arr, i, s) {
        int w = snprintf(out + used, n - used, "%s%s", i ? "," : "", json_string_value(s));
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}

static void human_token_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "NAME", "PREFIX", "ORG", "EXPIRES", "SCOPES", NULL};
    json_t *t = out_table_new(h), *k;
    size_t i;
    char id[32], org[32], x[4], scopes[512];
    json_array_foreach(json_object_get(d, "items"), i, k) {
        scopes_text(json_object_get(k, "scopes"), scopes, sizeof scopes);
        out_table_row(t, out_str(k, "id", id, sizeof id), out_str(k, "name", x, sizeof x),
                      out_str(k, "prefix", x, sizeof x), out_str(k, "org", org, sizeof org),
                      out_str(k, "expires_at", x, sizeof x), scopes, NULL);
    }
    out_table_print(t);
}

int cmd_token_list(struct cli *c)
{
    json_t *d = NULL;
    if (client_request(c, "GET", "/tokens", NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_token_list);
    return 0;
}

static void human_token_revoke(struct cli *c, json_t *d)
{
    printf("Revoked token %lld.\n", (long long)json_integer_value(json_object_get(d, "id")));
}

int cmd_token_revoke(struct cli *c)
{
    char path[64], what[64];
    int64_t id;
    if (util_parse_i64(c->args[0], &id) < 0 || id <= 0)
        return cli_usage(c, "token ID must be a number (see berth token list)");
    snprintf(path, sizeof path, "/tokens/%lld", (long long)id);
    snprintf(what, sizeof what, "revoke token %lld", (long long)id);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1),
               human_token_revoke);
    return rc < 0 ? -1 : 0;
}
