/* cmd_server.c - an organization's servers: add (the one place a
 * registration token is printed, with the install command that carries
 * it), list, show, decommission, remove, a new registration token, and
 * metrics. SERVER arguments are ids or names (berthd resolves both). */
#include "cli.h"
#include "util.h"

#include <curl/curl.h>
#include <string.h>

/* A JSON number as text with `prec` decimals; "-" when absent or negative
 * (berthd reports an unknown value as -1). */
static const char *num_text(json_t *v, int prec, char *out, size_t n)
{
    if (!json_is_number(v) || json_number_value(v) < 0)
        return "-";
    snprintf(out, n, "%.*f", prec, json_number_value(v));
    return out;
}

/* Bytes as "1.5 GiB". */
static const char *bytes_text(json_t *v, char *out, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (!json_is_number(v) || json_number_value(v) < 0)
        return "-";
    double x = json_number_value(v);
    int u = 0;
    while (x >= 1024 && u < 5) {
        x /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", x, units[u]);
    return out;
}

static int expires_body(struct cli *c, json_t *body)
{
    int64_t ttl;
    if (!c->a.val[OPT_EXPIRES_IN])
        return 0;
    if (util_parse_i64(c->a.val[OPT_EXPIRES_IN], &ttl) < 0 || ttl <= 0)
        return cli_usage(c, "--expires-in must be a number of seconds (1..604800)");
    json_object_set_new(body, "expires_in", json_integer(ttl));
    return 0;
}

static void print_install(json_t *d)
{
    printf("Registration token (shown only now, valid until %s):\n\n  %s\n\n"
           "Install the runner on the host (as root); it registers with this token:\n\n"
           "  %s\n",
           json_string_value(json_object_get(d, "registration_expires_at")),
           json_string_value(json_object_get(d, "registration_token")),
           json_string_value(json_object_get(d, "install_command")));
}

static void human_server_add(struct cli *c, json_t *d)
{
    (void)c;
    printf("Added server %s (id %lld), status %s.\n\n",
           json_string_value(json_object_get(d, "name")),
           (long long)json_integer_value(json_object_get(d, "id")),
           json_string_value(json_object_get(d, "status")));
    print_install(d);
}

int cmd_server_add(struct cli *c)
{
    char path[600];
    json_t *body = json_pack("{s:s}", "name", c->args[0]), *d = NULL;
    int rc = -1;
    if (expires_body(c, body) < 0 || cli_org_path(c, "servers", NULL, path, sizeof path) < 0)
        goto done;
    rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_server_add);
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_server_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "NAME", "STATUS", "CONNECTED", "LAST_SEEN", "REASON",
                                    NULL};
    json_t *t = out_table_new(h), *s;
    size_t i;
    char id[32], x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, s) {
        const char *reason = out_str(s, "status_reason", x, sizeof x); /* "" when fine */
        out_table_row(t, out_str(s, "id", id, sizeof id), out_str(s, "name", x, sizeof x),
                      out_str(s, "status", x, sizeof x), out_str(s, "connected", x, sizeof x),
                      out_str(s, "last_seen_at", x, sizeof x), *reason ? reason : "-", NULL);
    }
    out_table_print(t);
}

/* Every server: the API's pages (500 a page, by id) followed to the end. */
int cmd_server_list(struct cli *c)
{
    char path[600];
    json_t *d = NULL;
    if (cli_org_path(c, "servers", NULL, path, sizeof path - 32) < 0)
        return -1;
    strcat(path, "?limit=500&sort=created");
    if (client_get_all(c, path, SERVER_PAGES_MAX, &d) < 0)
        return -1;
    out_ok(c, d, human_server_list);
    return 0;
}

static void print_metrics(json_t *m)
{
    char cpu[32], l1[32], l5[32], l15[32], a[32], b[32], x[32];
    printf("  cpu %s%%  load %s %s %s\n", num_text(json_object_get(m, "cpu_pct"), 1, cpu, sizeof cpu),
           num_text(json_object_get(m, "load1"), 2, l1, sizeof l1),
           num_text(json_object_get(m, "load5"), 2, l5, sizeof l5),
           num_text(json_object_get(m, "load15"), 2, l15, sizeof l15));
    printf("  memory %s of %s\n", bytes_text(json_object_get(m, "mem_used"), a, sizeof a),
           bytes_text(json_object_get(m, "mem_total"), b, sizeof b));
    printf("  disk   %s of %s\n", bytes_text(json_object_get(m, "disk_used"), a, sizeof a),
           bytes_text(json_object_get(m, "disk_total"), b, sizeof b));
    if (json_is_integer(json_object_get(m, "logs_bytes")))
        printf("  app logs %s on disk\n", bytes_text(json_object_get(m, "logs_bytes"), a, sizeof a));
    printf("  sample at %s\n", out_str(m, "at", x, sizeof x));
}

/* Listening ports: [{"proto", "addr", "port"}] as "tcp/22 udp/53 ...". */
static void print_ports(json_t *ports)
{
    json_t *p;
    size_t i;
    if (!json_array_size(ports))
        return;
    printf("  %-9s", "ports");
    json_array_foreach(ports, i, p) {
        const char *proto = json_string_value(json_object_get(p, "proto"));
        json_t *port = json_object_get(p, "port");
        if (json_is_integer(port))
            printf(" %s%s%lld", proto ? proto : "", proto ? "/" : "",
                   (long long)json_integer_value(port));
    }
    printf("\n");
}

static void print_precheck(json_t *pc)
{
    static const char *const h[] = {"  CHECK", "OK", "DETAIL", NULL};
    json_t *t = out_table_new(h), *k;
    size_t i;
    char name[128], x[4];
    json_array_foreach(json_object_get(pc, "checks"), i, k) {
        snprintf(name, sizeof name, "  %s", out_str(k, "name", x, sizeof x));
        out_table_row(t, name, out_str(k, "ok", x, sizeof x), out_str(k, "detail", x, sizeof x),
                      NULL);
    }
    out_table_print(t);
}

static void human_server_show(struct cli *c, json_t *d)
{
    static const char *const fp_keys[] = {"os", "kernel", "docker", "git", "curl", "firewall",
                                          NULL};
    char x[32];
    const char *reason = out_str(d, "status_reason", x, sizeof x);
    (void)c;
    if (strcmp(reason, "-") == 0)
        reason = "";
    printf("server      %s (id %s)\n", json_string_value(json_object_get(d, "name")),
           out_str(d, "id", x, sizeof x));
    printf("status      %s%s%s%s\n", out_str(d, "status", x, sizeof x), *reason ? " (" : "",
           reason, *reason ? ")" : "");
    printf("since       %s\n", out_str(d, "status_changed_at", x, sizeof x));
    printf("registered  %s\n", out_str(d, "registered", x, sizeof x));
    printf("connected   %s\n", out_str(d, "connected", x, sizeof x));
    printf("last seen   %s\n", out_str(d, "last_seen_at", x, sizeof x));
    printf("created     %s\n", out_str(d, "created_at", x, sizeof x));
    if (json_is_string(json_object_get(d, "decommissioned_at")))
        printf("decommissioned %s\n", out_str(d, "decommissioned_at", x, sizeof x));
    json_t *m = json_object_get(d, "metrics");
    printf("\nmetrics%s\n", json_is_object(m) ? ":" : ": none yet");
    if (json_is_object(m))
        print_metrics(m);
    json_t *fp = json_object_get(d, "fingerprint");
    printf("\nfingerprint%s\n", json_is_object(fp) ? ":" : ": none yet");
    for (int i = 0; json_is_object(fp) && fp_keys[i]; i++)
        printf("  %-9s %s\n", fp_keys[i], out_str(fp, fp_keys[i], x, sizeof x));
    print_ports(json_object_get(fp, "ports"));
    json_t *pc = json_object_get(d, "precheck");
    if (!json_is_object(pc)) {
        printf("\nprecheck: none yet\n");
        return;
    }
    printf("\nprecheck: %s\n", json_is_true(json_object_get(pc, "ok")) ? "passed" : "FAILED");
    print_precheck(pc);
}

int cmd_server_show(struct cli *c)
{
    char path[900];
    json_t *d = NULL;
    if (cli_org_path(c, "servers", c->args[0], path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_server_show);
    return 0;
}

static void human_server_decommission(struct cli *c, json_t *d)
{
    (void)c;
    printf("Decommissioned server %s (id %lld); its runner's credential is refused from now.\n",
           json_string_value(json_object_get(d, "name")),
           (long long)json_integer_value(json_object_get(d, "id")));
}

int cmd_server_decommission(struct cli *c)
{
    char path[900], what[200];
    json_t *d = NULL;
    if (cli_org_path(c, "servers", c->args[0], path, sizeof path) < 0)
        return -1;
    strncat(path, "/decommission", sizeof path - strlen(path) - 1);
    snprintf(what, sizeof what, "decommission server %.100s", c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "POST", path, NULL, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_server_decommission);
    return rc < 0 ? -1 : 0;
}

static void human_server_remove(struct cli *c, json_t *d)
{
    (void)c;
    printf("Removed server %s with its jobs and logs.\n",
           json_string_value(json_object_get(d, "server")));
}

int cmd_server_remove(struct cli *c)
{
    char path[900], what[200];
    if (cli_org_path(c, "servers", c->args[0], path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "remove server %.100s with its jobs and logs", c->args[0]);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "server", c->args[0], "removed", 1),
               human_server_remove);
    return rc < 0 ? -1 : 0;
}

static void human_server_token(struct cli *c, json_t *d)
{
    (void)c;
    printf("New registration token for server %lld.\n\n",
           (long long)json_integer_value(json_object_get(d, "server_id")));
    print_install(d);
}

int cmd_server_token(struct cli *c)
{
    char path[900];
    json_t *body = json_object(), *d = NULL;
    int rc = -1;
    if (expires_body(c, body) < 0 ||
        cli_org_path(c, "servers", c->args[0], path, sizeof path) < 0)
        goto done;
    strncat(path, "/registration-token", sizeof path - strlen(path) - 1);
    rc = client_mutate(c, "POST", path, json_object_size(body) ? body : NULL, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_server_token);
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_server_metrics(struct cli *c, json_t *d)
{
    static const char *const h[] = {"TIME", "STEP", "CPU%", "MEM%", "DISK%", "LOAD1", "RX_B/S",
                                    "TX_B/S", NULL};
    json_t *latest = json_object_get(d, "latest"), *p;
    size_t i;
    char x[4], st[16], cpu[16], mem[16], disk[16], load[16], rx[32], tx[32];
    (void)c;
    printf("latest%s\n", json_is_object(latest) ? ":" : ": none (not connected since berthd "
                                                        "started)");
    if (json_is_object(latest))
        print_metrics(latest);
    printf("\n");
    json_t *t = out_table_new(h);
    json_array_foreach(json_object_get(d, "points"), i, p) {
        json_t *tm = json_object_get(p, "t");
        char when[32];
        if (json_is_integer(tm))
            util_iso8601(json_integer_value(tm), when, sizeof when);
        else
            snprintf(when, sizeof when, "%s", out_str(p, "t", x, sizeof x));
        out_table_row(t, when, out_str(p, "step", st, sizeof st),
                      num_text(json_object_get(p, "cpu_pct"), 1, cpu, sizeof cpu),
                      num_text(json_object_get(p, "mem_pct"), 1, mem, sizeof mem),
                      num_text(json_object_get(p, "disk_pct"), 1, disk, sizeof disk),
                      num_text(json_object_get(p, "load1"), 2, load, sizeof load),
                      num_text(json_object_get(p, "rx_bps"), 0, rx, sizeof rx),
                      num_text(json_object_get(p, "tx_bps"), 0, tx, sizeof tx), NULL);
    }
    out_table_print(t);
}

int cmd_server_metrics(struct cli *c)
{
    char path[1000], since[32];
    json_t *d = NULL;
    if (cli_org_path(c, "servers", c->args[0], path, sizeof path) < 0)
        return -1;
    strncat(path, "/metrics", sizeof path - strlen(path) - 1);
    if (c->a.val[OPT_SINCE]) {
        char *esc = curl_easy_escape(NULL, args_time(c->a.val[OPT_SINCE], since, sizeof since), 0);
        if (!esc)
            return cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
        size_t l = strlen(path);
        int w = snprintf(path + l, sizeof path - l, "?since=%s", esc);
        curl_free(esc);
        if (w < 0 || (size_t)w >= sizeof path - l)
            return cli_usage(c, "--since is too long");
    }
    if (client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_server_metrics);
    return 0;
}
