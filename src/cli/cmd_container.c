/* cmd_container.c - `berth container ls|inspect|start|stop|restart|rm`: a
 * server's containers through its runner (docs/containers.md). Every
 * container on the host is listed, berth's and others', with the app and
 * deployment berth knows it as; `rm` asks first. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* .../servers/SERVER/containers[/CONTAINER][tail] */
static int container_path(struct cli *c, const char *container, const char *tail, char *out,
                          size_t n)
{
    char seg[400];
    if (cli_org_path(c, "servers", c->args[0], out, n) < 0)
        return -1;
    if (strlen(out) + sizeof "/containers" >= n)
        return cli_usage(c, "the server's name is too long");
    strcat(out, "/containers");
    if (container) {
        if (client_path(c, seg, sizeof seg, "/%s", container) < 0)
            return -1;
        if (strlen(out) + strlen(seg) + strlen(tail) >= n)
            return cli_usage(c, "the container's name is too long");
        strcat(out, seg);
        strcat(out, tail);
    }
    return 0;
}

static void human_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"NAME", "STATE", "IMAGE", "APP", "STATUS", NULL};
    json_t *t = out_table_new(h), *it;
    size_t i;
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, it) {
        char app[160] = "-";
        json_t *a = json_object_get(it, "app");
        const char *an = json_string_value(json_object_get(a, "name"));
        if (an)
            snprintf(app, sizeof app, "%s #%lld%s", an,
                     (long long)json_integer_value(json_object_get(it, "deployment")),
                     json_is_true(json_object_get(a, "serving")) ? " (serving)" : "");
        const char *name = json_string_value(json_array_get(json_object_get(it, "names"), 0));
        const char *state = json_string_value(json_object_get(it, "state"));
        const char *image = json_string_value(json_object_get(it, "image"));
        const char *status = json_string_value(json_object_get(it, "status"));
        out_table_row(t, name ? name : "?", state ? state : "?", image ? image : "?", app,
                      status ? status : "", NULL);
    }
    out_table_print(t);
    if (json_is_true(json_object_get(d, "truncated")))
        printf("(the list stops at 2,000 containers)\n");
}

int cmd_container_list(struct cli *c)
{
    char path[1200];
    json_t *d = NULL;
    if (container_path(c, NULL, "", path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_list);
    return 0;
}

static void human_inspect(struct cli *c, json_t *d)
{
    (void)c;
    char *s = json_dumps(d, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s)
        printf("%s\n", s);
    free(s);
}

int cmd_container_inspect(struct cli *c)
{
    char path[1200];
    json_t *d = NULL;
    if (container_path(c, c->args[1], "", path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_inspect);
    return 0;
}

static void human_done(struct cli *c, json_t *d)
{
    (void)c;
    const char *done = json_string_value(json_object_get(d, "done"));
    const char *ct = json_string_value(json_object_get(d, "container"));
    printf("%s: %s\n", ct ? ct : "?", done ? done : "done");
}

static int action(struct cli *c, const char *method, const char *tail, int ask)
{
    char path[1200], what[300];
    json_t *d = NULL;
    if (container_path(c, c->args[1], tail, path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "remove container %.100s on %.100s", c->args[1], c->args[0]);
    if (ask && !c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, method, path, NULL, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d ? d : json_pack("{s:s}", "container", c->args[1]), human_done);
    return rc < 0 ? -1 : 0;
}

int cmd_container_start(struct cli *c) { return action(c, "POST", "/start", 0); }
int cmd_container_stop(struct cli *c) { return action(c, "POST", "/stop", 0); }
int cmd_container_restart(struct cli *c) { return action(c, "POST", "/restart", 0); }
int cmd_container_remove(struct cli *c) { return action(c, "DELETE", "", 1); }
