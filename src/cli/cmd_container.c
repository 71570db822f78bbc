/* cmd_container.c - `berth container ls|inspect|start|stop|restart|rm|prune`:
 * a server's containers through its runner (docs/containers.md). Every
 * container on the host is listed, berth's and others', with the app and
 * deployment berth knows it as and a running one's CPU and memory use;
 * `rm` asks first; `prune` shows its preview, asks, then runs exactly
 * that preview. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
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

/* 1536 -> "1.5 KiB" */
static void human_bytes(json_t *v, char *out, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(out, n, "-");
        return;
    }
    double b = (double)json_integer_value(v);
    size_t u = 0;
    while (b >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        b /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void human_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"NAME", "STATE", "CPU", "MEM", "IMAGE", "APP", "STATUS",
                                    NULL};
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
        char cpu[32] = "-", mem[64] = "-", used[24], limit[24];
        json_t *pct = json_object_get(it, "cpu_percent");
        if (json_is_number(pct))
            snprintf(cpu, sizeof cpu, "%.1f%%", json_number_value(pct));
        if (json_is_integer(json_object_get(it, "memory_bytes"))) {
            human_bytes(json_object_get(it, "memory_bytes"), used, sizeof used);
            human_bytes(json_object_get(it, "memory_limit"), limit, sizeof limit);
            snprintf(mem, sizeof mem, "%s / %s", used, limit);
        }
        out_table_row(t, name ? name : "?", state ? state : "?", cpu, mem, image ? image : "?",
                      app, status ? status : "", NULL);
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

/* --- prune: preview, ask, run that preview --- */

static void human_items(json_t *items, const char *verb)
{
    json_t *it;
    size_t i;
    json_array_foreach(items, i, it) {
        char b[24];
        const char *reason = json_string_value(json_object_get(it, "reason"));
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *app = json_string_value(json_object_get(json_object_get(it, "app"), "name"));
        const char *kind = json_string_value(json_object_get(it, "kind"));
        const char *id = json_string_value(json_object_get(it, "id"));
        if (!id)
            id = "?";
        else if (strncmp(id, "sha256:", 7) == 0)
            id += 7;
        human_bytes(json_object_get(it, "bytes"), b, sizeof b);
        printf("  %-9s %-9s %.12s  %s%s%s  %s%s%s\n", verb, kind ? kind : "?", id,
               name ? name : "<none>", app ? "  app " : "", app ? app : "", b,
               reason ? "  " : "", reason ? reason : "");
    }
}

static void human_preview(struct cli *c, json_t *d)
{
    (void)c;
    json_t *items = json_object_get(d, "items"), *it;
    size_t i;
    char total[24];
    human_bytes(json_object_get(d, "total_bytes"), total, sizeof total);
    if (!json_array_size(items))
        printf("Nothing to prune.\n");
    else
        printf("Would remove %zu item(s), freeing about %s:\n", json_array_size(items), total);
    human_items(items, "remove");
    json_array_foreach(json_object_get(d, "not_included"), i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *why = json_string_value(json_object_get(it, "reason"));
        printf("  not included: %.19s (%s)\n", id ? id : "?", why ? why : "?");
    }
}

static void human_pruned(struct cli *c, json_t *d)
{
    (void)c;
    json_t *run = json_object_get(d, "result");
    char freed[24];
    human_bytes(json_object_get(run, "bytes_freed"), freed, sizeof freed);
    human_items(json_object_get(run, "removed"), "removed");
    human_items(json_object_get(run, "skipped"), "skipped");
    human_items(json_object_get(run, "failed"), "FAILED");
    printf("Removed %zu, skipped %zu, failed %zu; freed about %s.\n",
           json_array_size(json_object_get(run, "removed")),
           json_array_size(json_object_get(run, "skipped")),
           json_array_size(json_object_get(run, "failed")), freed);
}

int cmd_container_prune(struct cli *c)
{
    char path[1200], what[300];
    json_t *preview = NULL, *run = NULL, *body;
    if (container_path(c, NULL, "", path, sizeof path) < 0)
        return -1;
    if (strlen(path) + sizeof "/prune" > sizeof path)
        return cli_usage(c, "the server's name is too long");
    strcat(path, "/prune");
    /* the preview changes nothing on the host: it is --dry-run's answer */
    body = json_pack("{s:b}", "dry_run", 1);
    int rc = client_request(c, "POST", path, body, 1, &preview);
    json_decref(body);
    if (rc < 0)
        return -1;
    const char *id = json_string_value(json_object_get(preview, "preview"));
    if (c->dry_run || !id || !json_array_size(json_object_get(preview, "items"))) {
        out_ok(c, preview, human_preview);
        return 0;
    }
    if (!c->yes && !c->json)
        human_preview(c, preview);
    snprintf(what, sizeof what, "remove these %zu item(s) on %.100s",
             json_array_size(json_object_get(preview, "items")), c->args[0]);
    if (prompt_confirm(c, what) < 0) {
        json_decref(preview);
        return -1;
    }
    body = json_pack("{s:s}", "preview", id);
    rc = client_request(c, "POST", path, body, 1, &run);
    json_decref(body);
    if (rc < 0) {
        json_decref(preview);
        return -1;
    }
    out_ok(c, json_pack("{s:o, s:o}", "preview", preview, "result", run), human_pruned);
    return 0;
}
