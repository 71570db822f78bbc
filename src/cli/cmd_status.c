/* cmd_status.c - fleet readiness: `status` (berthd reachable, server
 * totals by state) and `doctor` (that plus every server's checks: state,
 * link, heartbeat age, each precheck result; exit 1 when anything is not
 * ready). Round trips are measured here, by the CLI: /healthz and the
 * authenticated server list. berthd does not expose the runner link's own
 * latency, so a server's heartbeat is judged by its age. */
#include "cli.h"
#include "util.h"

#include <stdarg.h>
#include <string.h>

#define HEARTBEAT_STALE_S 30 /* berthd marks a link dead after 3 beats (15 s) */

static const char *const states[] = {"ACTIVE", "UNREACHABLE", "PROVISIONING", "DECOMMISSIONED",
                                     NULL};
static const char *const state_keys[] = {"active", "unreachable", "provisioning",
                                         "decommissioned", NULL};

/* Milliseconds to 0.1 ms. */
static json_t *ms_json(double ms) { return json_real((double)(long long)(ms * 10.0 + 0.5) / 10.0); }

/* Seconds since an ISO time field; -1 when absent. */
static int64_t age_of(json_t *obj, const char *key, int64_t now)
{
    int64_t t;
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v || util_parse_time(v, &t) < 0)
        return -1;
    return now > t ? now - t : 0;
}

static json_t *totals_of(json_t *items)
{
    json_t *t = json_pack("{s:I}", "total", (json_int_t)json_array_size(items)), *s;
    size_t i;
    for (int k = 0; states[k]; k++) {
        int64_t n = 0;
        json_array_foreach(items, i, s) {
            const char *st = json_string_value(json_object_get(s, "status"));
            n += st && strcmp(st, states[k]) == 0;
        }
        json_object_set_new(t, state_keys[k], json_integer(n));
    }
    return t;
}

/* The server list, timed; hz is /healthz's round trip, measured before. */
static int fleet_fetch(struct cli *c, double hz, json_t **berthd, json_t **items)
{
    char path[600];
    json_t *d = NULL;
    *berthd = NULL;
    *items = NULL;
    if (cli_org_path(c, "servers", NULL, path, sizeof path - 32) < 0)
        return -1;
    strcat(path, "?limit=500&sort=created"); /* every page, as the list was */
    uint64_t t0 = util_mono_us();
    if (client_get_all(c, path, SERVER_PAGES_MAX, &d) < 0)
        return -1;
    double api = (double)(util_mono_us() - t0) / 1000.0;
    *items = json_incref(json_object_get(d, "items"));
    json_decref(d);
    if (!json_is_array(*items)) {
        json_decref(*items);
        *items = NULL;
        return cli_fail(c, CLI_EXIT_OTHER, "bad_response", "berthd's server list has no items");
    }
    *berthd = json_pack("{s:s, s:b, s:o, s:o}", "url", c->url, "reachable", 1, "healthz_ms",
                        ms_json(hz), "api_ms", ms_json(api));
    return 0;
}

static void print_berthd(json_t *b)
{
    if (!json_is_true(json_object_get(b, "reachable"))) {
        printf("berthd  %s UNREACHABLE: %s\n", json_string_value(json_object_get(b, "url")),
               json_string_value(json_object_get(b, "error")));
        return;
    }
    printf("berthd  %s reachable (healthz %.1f ms, API %.1f ms)\n",
           json_string_value(json_object_get(b, "url")),
           json_number_value(json_object_get(b, "healthz_ms")),
           json_number_value(json_object_get(b, "api_ms")));
}

static void print_totals(json_t *t)
{
    static const char *const h[] = {"TOTAL", "ACTIVE", "UNREACHABLE", "PROVISIONING",
                                    "DECOMMISSIONED", NULL};
    static const char *const keys[] = {"total", "active", "unreachable", "provisioning",
                                       "decommissioned"};
    char v[5][24], x[4];
    for (int i = 0; i < 5; i++)
        snprintf(v[i], sizeof v[i], "%s", out_str(t, keys[i], x, sizeof x));
    json_t *tab = out_table_new(h);
    out_table_row(tab, v[0], v[1], v[2], v[3], v[4], NULL);
    out_table_print(tab);
}

static void human_status(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "NAME", "STATUS", "CONNECTED", "LAST_SEEN", "REASON",
                                    NULL};
    json_t *t = out_table_new(h), *s;
    size_t i;
    char id[32], x[4];
    print_berthd(json_object_get(d, "berthd"));
    printf("org     %s\n\n", c->org);
    print_totals(json_object_get(d, "totals"));
    if (!json_array_size(json_object_get(d, "servers"))) {
        json_decref(t);
        printf("\nno servers yet: berth server add NAME\n");
        return;
    }
    printf("\n");
    json_array_foreach(json_object_get(d, "servers"), i, s) {
        const char *reason = out_str(s, "status_reason", x, sizeof x);
        out_table_row(t, out_str(s, "id", id, sizeof id), out_str(s, "name", x, sizeof x),
                      out_str(s, "status", x, sizeof x), out_str(s, "connected", x, sizeof x),
                      out_str(s, "last_seen_at", x, sizeof x), *reason ? reason : "-", NULL);
    }
    out_table_print(t);
}

int cmd_status(struct cli *c)
{
    json_t *berthd = NULL, *items = NULL;
    double hz;
    if (cli_need_org(c) < 0 || cli_need_token(c) < 0 || client_ping(c, &hz) < 0 ||
        fleet_fetch(c, hz, &berthd, &items) < 0)
        return -1;
    out_ok(c, json_pack("{s:s, s:o, s:o, s:o}", "org", c->org, "berthd", berthd, "totals",
                        totals_of(items), "servers", items),
           human_status);
    return 0;
}

/* ---- doctor ---- */

static void check(json_t *checks, const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void check(json_t *checks, const char *name, int ok, const char *fmt, ...)
{
    char detail[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "name", name, "ok", ok, "detail",
                                            detail));
}

static void precheck_checks(json_t *checks, json_t *pc)
{
    json_t *k;
    size_t i;
    if (!json_is_object(pc)) {
        check(checks, "precheck", 0, "no precheck received yet (has the runner registered?)");
        return;
    }
    check(checks, "precheck", json_is_true(json_object_get(pc, "ok")), "%s",
          json_is_true(json_object_get(pc, "ok")) ? "passed" : "failed");
    json_array_foreach(json_object_get(pc, "checks"), i, k) {
        char name[128];
        const char *detail = json_string_value(json_object_get(k, "detail"));
        const char *n = json_string_value(json_object_get(k, "name"));
        snprintf(name, sizeof name, "precheck:%s", n ? n : "?");
        check(checks, name, json_is_true(json_object_get(k, "ok")), "%s", detail ? detail : "");
    }
}

/* One server's checks from its full record (GET servers/{id}). */
static json_t *server_doctor(json_t *s, int64_t now)
{
    json_t *checks = json_array(), *k;
    const char *st = json_string_value(json_object_get(s, "status"));
    const char *reason = json_string_value(json_object_get(s, "status_reason"));
    int active = st && strcmp(st, "ACTIVE") == 0;
    check(checks, "status", active, "%s%s%s%s", st ? st : "?", reason && *reason ? " (" : "",
          reason && *reason ? reason : "", reason && *reason ? ")" : "");
    int conn = json_is_true(json_object_get(s, "connected"));
    check(checks, "connected", conn, "%s", conn ? "runner link open" : "no runner link");
    int64_t seen = age_of(s, "last_seen_at", now);
    int64_t beat = age_of(json_object_get(s, "metrics"), "at", now);
    if (seen < 0)
        check(checks, "heartbeat", 0, "never seen");
    else
        check(checks, "heartbeat", seen <= HEARTBEAT_STALE_S, "last seen %lld s ago%s",
              (long long)seen, seen <= HEARTBEAT_STALE_S ? "" : " (stale)");
    precheck_checks(checks, json_object_get(s, "precheck"));
    int ready = 1;
    size_t i;
    json_array_foreach(checks, i, k)
        ready &= json_is_true(json_object_get(k, "ok"));
    return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:b, s:o}", "id",
                     json_object_get(s, "id"), "name", json_object_get(s, "name"), "status",
                     json_object_get(s, "status"), "connected", json_object_get(s, "connected"),
                     "last_seen_at", json_object_get(s, "last_seen_at"),
                     "last_seen_age_s", seen < 0 ? json_null() : json_integer(seen),
                     "heartbeat_age_s", beat < 0 ? json_null() : json_integer(beat), "ready",
                     ready, "checks", checks);
}

static int doctor_servers(struct cli *c, json_t *items, json_t *out, json_t *problems)
{
    json_t *s, *k;
    size_t i, j;
    int64_t now = util_now();
    json_array_foreach(items, i, s) {
        const char *st = json_string_value(json_object_get(s, "status"));
        if (st && strcmp(st, "DECOMMISSIONED") == 0)
            continue; /* soft-deleted: takes no work, not part of readiness */
        char ref[32], path[600];
        json_t *full = NULL;
        snprintf(ref, sizeof ref, "%lld", (long long)json_integer_value(json_object_get(s, "id")));
        if (cli_org_path(c, "servers", ref, path, sizeof path) < 0 ||
            client_request(c, "GET", path, NULL, 1, &full) < 0)
            return -1;
        json_t *d = server_doctor(full, now);
        json_decref(full);
        json_array_foreach(json_object_get(d, "checks"), j, k)
            if (!json_is_true(json_object_get(k, "ok")))
                json_array_append_new(problems, json_sprintf(
                    "%s: %s: %s", json_string_value(json_object_get(d, "name")),
                    json_string_value(json_object_get(k, "name")),
                    json_string_value(json_object_get(k, "detail"))));
        json_array_append_new(out, d);
    }
    return 0;
}

static void human_doctor(struct cli *c, json_t *d)
{
    static const char *const h[] = {"SERVER", "CHECK", "OK", "DETAIL", NULL};
    json_t *s, *k, *p;
    size_t i, j;
    char x[4];
    (void)c;
    print_berthd(json_object_get(d, "berthd"));
    json_t *totals = json_object_get(d, "totals");
    if (json_is_object(totals)) {
        printf("\n");
        print_totals(totals);
    }
    if (json_array_size(json_object_get(d, "servers"))) {
        json_t *t = out_table_new(h);
        printf("\n");
        json_array_foreach(json_object_get(d, "servers"), i, s)
            json_array_foreach(json_object_get(s, "checks"), j, k)
                out_table_row(t, out_str(s, "name", x, sizeof x), out_str(k, "name", x, sizeof x),
                              out_str(k, "ok", x, sizeof x), out_str(k, "detail", x, sizeof x),
                              NULL);
        out_table_print(t);
    }
    json_array_foreach(json_object_get(d, "warnings"), i, p)
        printf("\nwarning: %s\n", json_string_value(p));
    if (json_is_true(json_object_get(d, "ready"))) {
        printf("\nready\n");
        return;
    }
    printf("\nNOT READY:\n");
    json_array_foreach(json_object_get(d, "problems"), i, p)
        printf("  %s\n", json_string_value(p));
}

/* berthd did not answer /healthz: that is the finding, not a failure. */
static int doctor_unreachable(struct cli *c)
{
    json_t *b = json_pack("{s:s, s:b, s:s, s:s}", "url", c->url, "reachable", 0, "error",
                          c->err.message, "code", c->err.code);
    json_t *problems = json_pack("[s]", c->err.message);
    c->failed = 0;
    memset(&c->err, 0, sizeof c->err);
    c->exit_code = CLI_EXIT_OTHER;
    out_ok(c, json_pack("{s:b, s:o, s:n, s:[], s:o, s:[]}", "ready", 0, "berthd", b, "totals",
                        "servers", "problems", problems, "warnings"),
           human_doctor);
    return 0;
}

int cmd_doctor(struct cli *c)
{
    json_t *berthd = NULL, *items = NULL, *servers = json_array(), *problems = json_array();
    json_t *warnings = json_array();
    double hz;
    int rc = -1;
    if (cli_need_org(c) < 0 || cli_need_token(c) < 0)
        goto done;
    if (client_ping(c, &hz) < 0) {
        rc = strcmp(c->err.code, "usage") == 0 ? -1 : doctor_unreachable(c);
        goto done;
    }
    if (fleet_fetch(c, hz, &berthd, &items) < 0 || doctor_servers(c, items, servers, problems) < 0)
        goto done;
    if (!json_array_size(servers))
        json_array_append_new(warnings, json_string("no servers to deploy to: add one with "
                                                    "berth server add NAME"));
    int ready = json_array_size(problems) == 0;
    c->exit_code = ready ? CLI_EXIT_OK : CLI_EXIT_OTHER;
    out_ok(c, json_pack("{s:b, s:o, s:o, s:O, s:O, s:O}", "ready", ready, "berthd", berthd,
                        "totals", totals_of(items), "servers", servers, "problems", problems,
                        "warnings", warnings),
           human_doctor);
    berthd = NULL;
    rc = 0;
done:
    json_decref(berthd);
    json_decref(items);
    json_decref(servers);
    json_decref(problems);
    json_decref(warnings);
    return rc;
}
