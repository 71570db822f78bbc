/* main.c - berth's entry point: the command table, help texts, dispatch
 * from argv to a command, and the exit code. Commands live in cmd_*.c;
 * this file knows their names, arguments and options, nothing more. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int cmd_version(struct cli *c);

#define ORGO OPTB(OPT_ORG)
#define MUT OPTS_MUTATE

static const struct cli_cmd cmds[] = {
    {NULL, "login", "", 0, 0, OPTB(OPT_EMAIL) | MUT, "log in and store a session token",
     "The password comes from BERTH_PASSWORD, else the terminal (not echoed), else one\n"
     "line of stdin. The email comes from --email, BERTH_EMAIL or a prompt. --url sets\n"
     "the berthd the config remembers.\n", cmd_login},
    {NULL, "logout", "", 0, 0, MUT, "end the session and forget its token", NULL, cmd_logout},
    {NULL, "whoami", "", 0, 0, 0, "show the account, token and organizations in use", NULL,
     cmd_whoami},
    {NULL, "accept-invite", "", 0, 0, MUT, "accept an invitation: set a password and log in",
     "The invite token comes from BERTH_INVITE_TOKEN, else the terminal (not echoed), else\n"
     "the first line of stdin; the new password from BERTH_PASSWORD, else the terminal, else\n"
     "the next line of stdin. On success the new session is stored like `berth login`.\n",
     cmd_accept_invite},
    {"org", "list", "", 0, 0, 0, "list your organizations (* marks the current one)", NULL,
     cmd_org_list},
    {"org", "create", "NAME", 1, 1, MUT, "create an organization (you become its admin)",
     "NAME: 1-63 of a-z, 0-9 and '-'.\n", cmd_org_create},
    {"org", "use", "NAME", 1, 1, MUT, "make NAME the current organization (checked first)",
     NULL, cmd_org_use},
    {"member", "list", "", 0, 0, ORGO, "list the organization's members", NULL,
     cmd_member_list},
    {"member", "add", "EMAIL", 1, 1, ORGO | OPTB(OPT_ROLE) | MUT,
     "add a member (invites the address if it has no account)",
     "When the address has no account yet, berthd answers with a one-time invite token;\n"
     "it is printed once: hand it to the person, who runs `berth accept-invite`.\n",
     cmd_member_add},
    {"member", "set-role", "USER [ROLE]", 1, 2, ORGO | OPTB(OPT_ROLE) | MUT,
     "change a member's role (USER: email or user id)",
     "The role is the second argument or --role: admin, manager, developer, viewer.\n"
     "berthd refuses (exit 5) to demote an organization's last admin.\n",
     cmd_member_set_role},
    {"member", "remove", "USER", 1, 1, ORGO | MUT,
     "remove a member (USER: email or user id); asks first", NULL, cmd_member_remove},
    {"token", "create", "", 0, 0,
     OPTB(OPT_NAME) | OPTB(OPT_SCOPE) | ORGO | OPTB(OPT_EXPIRES_IN) | MUT,
     "create an API token and print it once",
     "Scopes: server:read server:write app:read app:write deploy:read deploy:write\n"
     "env:write script:run terminal:open token:write user:write org:write audit:read.\n"
     "A token never holds more than your role grants. --org binds it to one organization\n"
     "(without it the token works in every organization you belong to). Default lifetime\n"
     "30 days. The secret is shown only here; berth token list shows its prefix.\n",
     cmd_token_create},
    {"token", "list", "", 0, 0, 0, "list your API tokens (prefix only, never the secret)", NULL,
     cmd_token_list},
    {"token", "revoke", "ID", 1, 1, MUT, "revoke an API token; asks first", NULL,
     cmd_token_revoke},
    {"audit", "list", "", 0, 0,
     ORGO | OPTB(OPT_ACTOR) | OPTB(OPT_ACTION) | OPTB(OPT_SINCE) | OPTB(OPT_UNTIL) |
         OPTB(OPT_LIMIT) | OPTB(OPT_CURSOR) | OPTB(OPT_ALL),
     "read the organization's audit trail, newest first",
     "Needs the audit:read scope (admins and managers). Without --all one page is shown\n"
     "and its next_cursor (if any) continues it.\n",
     cmd_audit_list},
    {NULL, "version", "", 0, 0, 0, "print the CLI's version", NULL, cmd_version},
};

#define NCMDS ((int)(sizeof cmds / sizeof cmds[0]))

static void human_version(struct cli *c, json_t *d)
{
    printf("berth %s\n", json_string_value(json_object_get(d, "version")));
}

static int cmd_version(struct cli *c)
{
    out_ok(c, json_pack("{s:s}", "version", CLI_VERSION), human_version);
    return 0;
}

static void cmd_title(const struct cli_cmd *k, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", k->group ? k->group : "", k->group ? " " : "", k->name);
}

static void help_top(FILE *f)
{
    fprintf(f, "usage: berth COMMAND [options]\n\nberth talks to a berthd control plane.\n\n"
               "commands:\n");
    for (int i = 0; i < NCMDS; i++) {
        char t[64];
        cmd_title(&cmds[i], t, sizeof t);
        fprintf(f, "  %-20s %s\n", t, cmds[i].summary);
    }
    fprintf(f, "\ncommon options:\n");
    args_help(f, OPTS_COMMON);
    fprintf(f, "\n`berth COMMAND --help` describes a command.\n"
               "environment: BERTH_URL BERTH_TOKEN BERTH_ORG BERTH_CACERT BERTH_CONFIG\n"
               "             BERTH_EMAIL BERTH_PASSWORD BERTH_INVITE_TOKEN\n"
               "exit codes: 0 ok, 1 other error, 2 usage, 3 auth/permission, 4 not found,\n"
               "            5 conflict. Docs: docs/cli.md\n");
}

static void help_group(FILE *f, const char *group)
{
    fprintf(f, "usage: berth %s SUBCOMMAND [options]\n\nsubcommands:\n", group);
    for (int i = 0; i < NCMDS; i++)
        if (cmds[i].group && strcmp(cmds[i].group, group) == 0)
            fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
}

static void help_cmd(FILE *f, const struct cli_cmd *k)
{
    char t[64];
    cmd_title(k, t, sizeof t);
    fprintf(f, "usage: berth %s%s%s [options]\n\n%s.\n", t, k->args[0] ? " " : "", k->args,
            k->summary);
    if (k->help)
        fprintf(f, "\n%s", k->help);
    if (k->opts) {
        fprintf(f, "\noptions:\n");
        args_help(f, k->opts);
    }
    fprintf(f, "\ncommon options:\n");
    args_help(f, OPTS_COMMON);
}

/* Prints help: plain text, or {"ok":true,"data":{"usage":...}} under --json. */
static int show_help(struct cli *c, FILE *dest, const char *group, const struct cli_cmd *k)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = c->json ? open_memstream(&text, &len) : dest;
    if (!f)
        return cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
    if (k)
        help_cmd(f, k);
    else if (group)
        help_group(f, group);
    else
        help_top(f);
    if (c->json) {
        fclose(f);
        out_ok(c, json_pack("{s:s}", "usage", text), NULL);
        free(text);
    }
    return 0;
}

static int is_group(const char *w)
{
    for (int i = 0; i < NCMDS; i++)
        if (cmds[i].group && strcmp(cmds[i].group, w) == 0)
            return 1;
    return 0;
}

static const struct cli_cmd *find_cmd(const char *group, const char *name)
{
    for (int i = 0; i < NCMDS; i++) {
        const struct cli_cmd *k = &cmds[i];
        if ((group == NULL) != (k->group == NULL))
            continue;
        if ((!group || strcmp(k->group, group) == 0) && strcmp(k->name, name) == 0)
            return k;
    }
    return NULL;
}

/* Resolves the words in argv to a command; 1 when help was shown instead. */
static int resolve(struct cli *c)
{
    struct cli_args *a = &c->a;
    int help = a->set[OPT_HELP] > 0, skip = 0;
    if (a->npos && strcmp(a->pos[0], "help") == 0) {
        help = 1;
        skip = 1;
    }
    if (a->npos <= skip) {
        if (help)
            return show_help(c, stdout, NULL, NULL) < 0 ? -1 : 1;
        help_top(stderr);
        return cli_usage(c, "missing command");
    }
    const char *w = a->pos[skip];
    if (is_group(w)) {
        const char *sub = a->npos > skip + 1 ? a->pos[skip + 1] : NULL;
        c->cmd = sub ? find_cmd(w, sub) : NULL;
        if (!c->cmd && help && !sub)
            return show_help(c, stdout, w, NULL) < 0 ? -1 : 1;
        if (!c->cmd)
            return cli_usage(c, "%s 'berth %s%s%s': see berth %s --help",
                             sub ? "unknown command" : "missing subcommand for", w,
                             sub ? " " : "", sub ? sub : "", w);
        skip += 2;
    } else {
        c->cmd = find_cmd(NULL, w);
        if (!c->cmd)
            return cli_usage(c, "unknown command '%s': see berth --help", w);
        skip += 1;
    }
    if (help)
        return show_help(c, stdout, NULL, c->cmd) < 0 ? -1 : 1;
    c->args = a->pos + skip;
    c->nargs = a->npos - skip;
    return 0;
}

static int check_cmd(struct cli *c)
{
    const struct cli_cmd *k = c->cmd;
    char t[64];
    cmd_title(k, t, sizeof t);
    if (args_check(c, k->opts, t) < 0)
        return -1;
    if (c->nargs < k->min_pos || c->nargs > k->max_pos)
        return cli_usage(c, "usage: berth %s%s%s (see berth %s --help)", t,
                         k->args[0] ? " " : "", k->args, t);
    c->dry_run = c->a.set[OPT_DRY_RUN] > 0;
    c->yes = c->a.set[OPT_YES] > 0;
    c->verbose = c->a.set[OPT_VERBOSE] > 0;
    return 0;
}

int cli_need_token(struct cli *c)
{
    if (c->token && *c->token)
        return 0;
    return cli_fail(c, CLI_EXIT_AUTH, "unauthenticated",
                    "not logged in: run `berth login` (or set BERTH_TOKEN)");
}

int cli_need_org(struct cli *c)
{
    if (c->org && *c->org)
        return 0;
    return cli_usage(c, "no organization: pass --org NAME or run `berth org use NAME`");
}

static int run(struct cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            c->json = 1; /* known before parsing, so parse errors are JSON too */
    if (args_parse(c, argc, argv) < 0)
        return -1;
    int r = resolve(c);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (check_cmd(c) < 0)
        return -1;
    if (c->cmd->run != cmd_version && config_load(c) < 0)
        return -1;
    config_resolve(c);
    return c->cmd->run(c);
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    client_global_init();
    int rc = run(&c, argc, argv) < 0 || c.failed ? out_error(&c) : CLI_EXIT_OK;
    config_release(&c.cfg);
    client_global_release();
    fflush(stdout);
    return rc;
}
