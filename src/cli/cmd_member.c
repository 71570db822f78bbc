/* cmd_member.c - an organization's members: list, add (an invitation),
 * set-role and remove; and the caller's own invitations: list, accept,
 * decline. The organization is --org or the current one. An invite token
 * from `member add` is printed once, because handing it to the invitee is
 * the admin's job; it is never written anywhere else. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *const roles[] = {"admin", "manager", "developer", "viewer", NULL};

/* "/orgs/<org>/members" plus an optional "/<user>", each escaped. */
static int members_path(struct cli *c, const char *user, char *out, size_t n)
{
    char base[300];
    if (cli_need_org(c) < 0)
        return -1;
    if (client_path(c, base, sizeof base, "/orgs/%s/members", c->org) < 0)
        return -1;
    if (!user) {
        snprintf(out, n, "%s", base);
        return 0;
    }
    char fmt[320];
    snprintf(fmt, sizeof fmt, "%s/%%s", base);
    if (client_path(c, out, n, fmt, user) < 0)
        return -1;
    return 0;
}

/* The role: --role, or (set-role) a second positional argument. */
static int need_role(struct cli *c)
{
    if (c->nargs > 1) {
        if (c->a.val[OPT_ROLE] && strcmp(c->a.val[OPT_ROLE], c->args[1]) != 0)
            return cli_usage(c, "give the role once: as ROLE or as --role");
        c->a.val[OPT_ROLE] = c->args[1];
    }
    const char *r = c->a.val[OPT_ROLE];
    if (!r)
        return cli_usage(c, "--role is required (admin, manager, developer or viewer)");
    for (int i = 0; roles[i]; i++)
        if (strcmp(roles[i], r) == 0)
            return 0;
    return cli_usage(c, "--role must be admin, manager, developer or viewer (got '%s')", r);
}

static void human_member_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"USER_ID", "EMAIL", "ROLE", "STATUS", "JOINED", NULL};
    json_t *t = out_table_new(h), *m;
    size_t i;
    char id[32], x[4];
    json_array_foreach(json_object_get(d, "items"), i, m)
        out_table_row(t, out_str(m, "user_id", id, sizeof id), out_str(m, "email", x, sizeof x),
                      out_str(m, "role", x, sizeof x), out_str(m, "status", x, sizeof x),
                      out_str(m, "joined_at", x, sizeof x), NULL);
    out_table_print(t);
}

int cmd_member_list(struct cli *c)
{
    char path[600];
    json_t *d = NULL;
    if (members_path(c, NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_member_list);
    return 0;
}

static void human_member_add(struct cli *c, json_t *d)
{
    const char *email = json_string_value(json_object_get(d, "email"));
    printf("Invited %s to %s as %s. Invite token (shown once, valid until %s):\n\n  %s\n\n",
           email, c->org, json_string_value(json_object_get(d, "role")),
           json_string_value(json_object_get(d, "invite_expires_at")),
           json_string_value(json_object_get(d, "invite_token")));
    printf("Hand it over privately. Someone new accepts with:\n\n"
           "  berth accept-invite --url %s\n\n"
           "which asks for the token and a new password (or reads BERTH_INVITE_TOKEN and\n"
           "BERTH_PASSWORD). Someone who already has an account logs in and runs:\n\n"
           "  berth invite accept %s\n", c->url, c->org);
}

int cmd_member_add(struct cli *c)
{
    char path[600];
    json_t *body = NULL, *d = NULL;
    int rc = -1;
    if (need_role(c) < 0 || members_path(c, NULL, path, sizeof path) < 0)
        goto done;
    body = json_pack("{s:s, s:s}", "email", c->args[0], "role", c->a.val[OPT_ROLE]);
    rc = client_mutate(c, "POST", path, body, 1, NULL, &d);
    if (rc == 0) {
        json_object_set_new(d, "accept_command",
                            json_sprintf("berth accept-invite --url %s", c->url));
        json_object_set_new(d, "accept_command_existing",
                            json_sprintf("berth invite accept %s", c->org));
        out_ok(c, d, human_member_add);
    }
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_member_set_role(struct cli *c, json_t *d)
{
    printf("%s is now %s in %s.\n", json_string_value(json_object_get(d, "email")),
           json_string_value(json_object_get(d, "role")), c->org);
}

int cmd_member_set_role(struct cli *c)
{
    char path[600];
    json_t *body = NULL, *d = NULL;
    int rc = -1;
    if (need_role(c) < 0 || members_path(c, c->args[0], path, sizeof path) < 0)
        goto done;
    body = json_pack("{s:s}", "role", c->a.val[OPT_ROLE]);
    rc = client_mutate(c, "PATCH", path, body, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_member_set_role);
done:
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

static void human_member_remove(struct cli *c, json_t *d)
{
    printf("Removed %s from %s.\n", json_string_value(json_object_get(d, "user")), c->org);
}

int cmd_member_remove(struct cli *c)
{
    char path[600], what[400];
    if (members_path(c, c->args[0], path, sizeof path) < 0)
        return -1;
    snprintf(what, sizeof what, "remove %s from %s", c->args[0], c->org);
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:s, s:b}", "user", c->args[0], "org", c->org, "removed", 1),
               human_member_remove);
    return rc < 0 ? -1 : 0;
}

/* ---- the caller's invitations ---- */

static void human_invite_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "ORG", "ROLE", "INVITED_BY", "EXPIRES", NULL};
    json_t *t = out_table_new(h), *i;
    size_t k;
    char id[32], x[4];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), k, i)
        out_table_row(t, out_str(i, "id", id, sizeof id),
                      out_str(json_object_get(i, "org"), "name", x, sizeof x),
                      out_str(i, "role", x, sizeof x), out_str(i, "invited_by", x, sizeof x),
                      out_str(i, "expires_at", x, sizeof x), NULL);
    out_table_print(t);
}

int cmd_invite_list(struct cli *c)
{
    json_t *d = NULL;
    if (client_request(c, "GET", "/invites", NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_invite_list);
    return 0;
}

/* The id of the caller's pending invitation to ORG (its name or id). */
static int invite_for(struct cli *c, const char *org, int64_t *id)
{
    json_t *d = NULL, *i;
    size_t k;
    int rc = -1;
    if (client_request(c, "GET", "/invites", NULL, 1, &d) < 0)
        return -1;
    json_array_foreach(json_object_get(d, "items"), k, i) {
        json_t *o = json_object_get(i, "org");
        char oid[32];
        snprintf(oid, sizeof oid, "%lld", (long long)json_integer_value(json_object_get(o, "id")));
        const char *name = json_string_value(json_object_get(o, "name"));
        if ((name && strcmp(name, org) == 0) || strcmp(oid, org) == 0) {
            *id = json_integer_value(json_object_get(i, "id"));
            rc = 0;
        }
    }
    json_decref(d);
    if (rc < 0)
        return cli_fail(c, CLI_EXIT_NOTFOUND, "not_found",
                        "no pending invitation to %s (berth invite list shows yours)", org);
    return 0;
}

static void human_invite_accept(struct cli *c, json_t *d)
{
    (void)c;
    printf("You joined %s as %s.\n",
           json_string_value(json_object_get(json_object_get(d, "org"), "name")),
           json_string_value(json_object_get(d, "role")));
}

int cmd_invite_accept(struct cli *c)
{
    char path[64];
    int64_t id;
    json_t *d = NULL;
    if (cli_need_token(c) < 0 || invite_for(c, c->args[0], &id) < 0)
        return -1;
    snprintf(path, sizeof path, "/invites/%lld/accept", (long long)id);
    int rc = client_mutate(c, "POST", path, NULL, 1, NULL, &d);
    if (rc == 0)
        out_ok(c, d, human_invite_accept);
    return rc < 0 ? -1 : 0;
}

static void human_invite_decline(struct cli *c, json_t *d)
{
    (void)c;
    printf("Declined the invitation to %s.\n", json_string_value(json_object_get(d, "org")));
}

int cmd_invite_decline(struct cli *c)
{
    char path[64];
    int64_t id;
    if (cli_need_token(c) < 0 || invite_for(c, c->args[0], &id) < 0)
        return -1;
    snprintf(path, sizeof path, "/invites/%lld", (long long)id);
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "org", c->args[0], "declined", 1),
               human_invite_decline);
    return rc < 0 ? -1 : 0;
}
