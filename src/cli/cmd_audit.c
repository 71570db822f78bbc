/* cmd_audit.c - reading an organization's audit trail: filters map to the
 * API's query string; --all follows next_cursor up to a page cap and
 * prints everything as one document. */
#include "cli.h"
#include "buf.h"
#include "util.h"

#include <curl/curl.h>
#include <string.h>

#define AUDIT_PAGES_MAX 1000

static int add_query(struct buf *b, const char *key, const char *val)
{
    if (!val)
        return 0;
    char *esc = curl_easy_escape(NULL, val, 0);
    if (!esc)
        return -1;
    int rc = buf_printf(b, "%c%s=%s", strchr(b->data, '?') ? '&' : '?', key, esc);
    curl_free(esc);
    return rc;
}

static int audit_path(struct cli *c, const char *cursor, struct buf *b)
{
    char since[32], until[32];
    const char *s = c->a.val[OPT_SINCE], *u = c->a.val[OPT_UNTIL];
    char org[400];
    if (client_path(c, org, sizeof org, "/orgs/%s/audit", c->org) < 0)
        return -1;
    int rc = buf_printf(b, "%s", org);
    if (rc == 0)
        rc = add_query(b, "actor", c->a.val[OPT_ACTOR]);
    if (rc == 0)
        rc = add_query(b, "action", c->a.val[OPT_ACTION]);
    if (rc == 0)
        rc = add_query(b, "since", s ? args_time(s, since, sizeof since) : NULL);
    if (rc == 0)
        rc = add_query(b, "until", u ? args_time(u, until, sizeof until) : NULL);
    if (rc == 0)
        rc = add_query(b, "limit", c->a.val[OPT_LIMIT]);
    if (rc == 0)
        rc = add_query(b, "cursor", cursor);
    return rc < 0 ? cli_usage(c, "the audit query is too long") : 0;
}

static int fetch_page(struct cli *c, const char *cursor, json_t **page)
{
    struct buf b;
    buf_init(&b, 4096);
    int rc = audit_path(c, cursor, &b);
    if (rc == 0)
        rc = client_request(c, "GET", b.data, NULL, 1, page);
    buf_release(&b);
    return rc;
}

/* Appends each following page's items to all; next_cursor ends null. */
static int fetch_rest(struct cli *c, json_t *all)
{
    for (int n = 1; n < AUDIT_PAGES_MAX; n++) {
        json_t *next = json_object_get(all, "next_cursor"), *page = NULL;
        if (!json_is_string(next))
            return 0;
        if (fetch_page(c, json_string_value(next), &page) < 0)
            return -1;
        json_array_extend(json_object_get(all, "items"), json_object_get(page, "items"));
        json_object_set(all, "next_cursor", json_object_get(page, "next_cursor"));
        json_decref(page);
    }
    return cli_fail(c, CLI_EXIT_OTHER, "too_many_pages", "more than %d pages; narrow the "
                    "query with --since/--until/--actor/--action", AUDIT_PAGES_MAX);
}

static void human_audit(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME",
                                    "STATUS", NULL};
    json_t *t = out_table_new(h), *e;
    size_t i;
    char id[32], st[32], x[4];
    json_array_foreach(json_object_get(d, "items"), i, e) {
        json_t *actor = json_object_get(e, "actor");
        out_table_row(t, out_str(e, "id", id, sizeof id), out_str(e, "at", x, sizeof x),
                      actor && !json_is_null(actor) ? out_str(actor, "email", x, sizeof x)
                                                    : "-",
                      out_str(e, "action", x, sizeof x), out_str(e, "target", x, sizeof x),
                      out_str(e, "outcome", x, sizeof x), out_str(e, "status", st, sizeof st),
                      NULL);
    }
    out_table_print(t);
    json_t *next = json_object_get(d, "next_cursor");
    if (json_is_string(next))
        fprintf(stderr, "more: add --cursor %s (or --all)\n", json_string_value(next));
}

int cmd_audit_list(struct cli *c)
{
    json_t *d = NULL;
    int64_t lim;
    if (cli_need_org(c) < 0)
        return -1;
    if (c->a.val[OPT_LIMIT] && (util_parse_i64(c->a.val[OPT_LIMIT], &lim) < 0 || lim < 1 ||
                                lim > 500))
        return cli_usage(c, "--limit must be 1-500");
    if (fetch_page(c, c->a.val[OPT_CURSOR], &d) < 0)
        return -1;
    if (c->a.set[OPT_ALL] && fetch_rest(c, d) < 0) {
        json_decref(d);
        return -1;
    }
    out_ok(c, d, human_audit);
    return 0;
}
