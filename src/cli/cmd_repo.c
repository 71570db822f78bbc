/* cmd_repo.c - an organization's git repositories for push webhooks
 * (docs/webhooks.md): add (prints the hook URL and, once, the webhook
 * secret), list, remove, and the recent deliveries. The organization is
 * --org or the current one. Clone credentials are set through the API
 * only (a private key never goes on a command line). */
#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* "/orgs/<org>/repos" plus an optional "/<id>" and "/<tail>". */
static int repos_path(struct cli *c, const char *id, const char *tail, char *out, size_t n)
{
    char base[300];
    int64_t v;
    if (cli_need_org(c) < 0)
        return -1;
    if (client_path(c, base, sizeof base, "/orgs/%s/repos", c->org) < 0)
        return -1;
    if (!id) {
        snprintf(out, n, "%s", base);
        return 0;
    }
    if (util_parse_i64(id, &v) < 0 || v <= 0)
        return cli_usage(c, "repository ID must be a number (see berth repo list)");
    snprintf(out, n, "%s/%lld%s%s", base, (long long)v, tail ? "/" : "", tail ? tail : "");
    return 0;
}

static void human_repo_add(struct cli *c, json_t *d)
{
    (void)c;
    printf("Registered repository %lld (%s) %s\n",
           (long long)json_integer_value(json_object_get(d, "id")),
           json_string_value(json_object_get(d, "provider")),
           json_string_value(json_object_get(d, "url")));
    printf("\nAdd a webhook for push events on the git host:\n\n"
           "  URL:          %s\n  Content type: application/json\n  Secret:       %s\n",
           json_string_value(json_object_get(d, "hook_url")),
           json_string_value(json_object_get(d, "webhook_secret")));
    printf("\nThe URL is this repository's own (it ends in its id); the secret is shown only\n"
           "this once. Apps with auto_deploy on the pushed branch of this repository deploy\n"
           "each new push once.\n");
}

int cmd_repo_add(struct cli *c)
{
    static const char *const providers[] = {"github", "gitea", "gitlab", "generic", NULL};
    static const char *const redact[] = {"webhook_secret", NULL};
    char path[400];
    json_t *d = NULL;
    int ok = 0;
    for (int i = 0; providers[i]; i++)
        ok |= strcmp(providers[i], c->args[0]) == 0;
    if (!ok)
        return cli_usage(c, "PROVIDER must be github, gitea, gitlab or generic (got '%s')",
                         c->args[0]);
    if (repos_path(c, NULL, NULL, path, sizeof path) < 0)
        return -1;
    json_t *body = json_pack("{s:s, s:s}", "provider", c->args[0], "url", c->args[1]);
    int rc = client_mutate(c, "POST", path, body, 1, redact, &d);
    json_decref(body);
    if (rc == 0)
        out_ok(c, d, human_repo_add);
    return rc < 0 ? -1 : 0;
}

static void human_repo_list(struct cli *c, json_t *d)
{
    (void)c;
    static const char *const h[] = {"ID", "PROVIDER", "URL", "CREDENTIALS", "HOOK_URL", NULL};
    json_t *t = out_table_new(h), *r;
    size_t i;
    char id[32], x[4];
    json_array_foreach(json_object_get(d, "items"), i, r) {
        int key = json_is_true(json_object_get(r, "deploy_key"));
        int app = json_is_object(json_object_get(r, "github_app"));
        const char *cred = key && app ? "deploy-key,github-app"
                           : key      ? "deploy-key"
                           : app      ? "github-app"
                                      : "-";
        out_table_row(t, out_str(r, "id", id, sizeof id), out_str(r, "provider", x, sizeof x),
                      out_str(r, "url", x, sizeof x), cred, out_str(r, "hook_url", x, sizeof x),
                      NULL);
    }
    out_table_print(t);
}

int cmd_repo_list(struct cli *c)
{
    char path[400];
    json_t *d = NULL;
    if (repos_path(c, NULL, NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_repo_list);
    return 0;
}

static void human_repo_remove(struct cli *c, json_t *d)
{
    (void)c;
    printf("Removed repository %s; its webhook is refused from now on.\n",
           json_string_value(json_object_get(d, "repo")));
}

int cmd_repo_remove(struct cli *c)
{
    char path[400], what[200];
    if (repos_path(c, c->args[0], NULL, path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "remove repository %.100s and its delivery history",
             c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "repo", c->args[0], "removed", 1), human_repo_remove);
    return rc < 0 ? -1 : 0;
}

static void human_deliveries(struct cli *c, json_t *d)
{
    (void)c;
    static const char *const h[] = {"AT", "EVENT", "DELIVERY", "OUTCOME", "STATUS",
                                    "DEPLOYMENTS", "REASON", NULL};
    json_t *t = out_table_new(h), *r, *v;
    size_t i, k;
    char x[4], st[16];
    json_array_foreach(json_object_get(d, "items"), i, r) {
        char deps[256] = "";
        size_t used = 0;
        json_array_foreach(json_object_get(r, "deployments"), k, v) {
            int w = snprintf(deps + used, sizeof deps - used, "%s%lld", k ? "," : "",
                             (long long)json_integer_value(v));
            if (w < 0 || (size_t)w >= sizeof deps - used)
                break;
            used += (size_t)w;
        }
        out_table_row(t, out_str(r, "at", x, sizeof x), out_str(r, "event", x, sizeof x),
                      out_str(r, "delivery_id", x, sizeof x), out_str(r, "outcome", x, sizeof x),
                      out_str(r, "status", st, sizeof st), deps[0] ? deps : "-",
                      out_str(r, "reason", x, sizeof x), NULL);
    }
    out_table_print(t);
}

int cmd_repo_deliveries(struct cli *c)
{
    char path[460];
    json_t *d = NULL;
    int64_t limit = 0;
    if (c->a.val[OPT_LIMIT] && (util_parse_i64(c->a.val[OPT_LIMIT], &limit) < 0 || limit < 1 ||
                                limit > 200))
        return cli_usage(c, "--limit must be 1-200");
    if (repos_path(c, c->args[0], "deliveries", path, sizeof path) < 0)
        return -1;
    if (limit) {
        size_t l = strlen(path);
        snprintf(path + l, sizeof path - l, "?limit=%lld", (long long)limit);
    }
    if (client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_deliveries);
    return 0;
}
