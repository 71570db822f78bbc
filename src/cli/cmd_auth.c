/* cmd_auth.c - sessions and identity: login, logout, whoami and
 * accept-invite. Passwords and invite tokens come from the environment or
 * stdin (prompt.c), never argv; they are wiped from memory after use. The
 * session token goes to the config file only, never to stdout. */
#include "cli.h"
#include "crypto.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_MAX 1100

static const char *const redact_login[] = {"password", NULL};
static const char *const redact_invite[] = {"token", "password", NULL};

/* Runs f without letting its failure become the command's failure. */
static void soft(struct cli *c, int (*f)(struct cli *))
{
    struct cli_err saved = c->err;
    int failed = c->failed;
    f(c);
    c->err = saved;
    c->failed = failed;
}

/* After login: keep the current org if the account still has it, else
 * pick the account's first organization. */
static int pick_org(struct cli *c)
{
    json_t *me = NULL, *o;
    size_t i;
    if (client_request(c, "GET", "/me", NULL, 1, &me) < 0)
        return -1;
    json_t *orgs = json_object_get(me, "orgs");
    json_array_foreach(orgs, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        if (name && c->cfg.org && strcmp(name, c->cfg.org) == 0)
            goto done;
    }
    config_set(&c->cfg.org, json_string_value(json_object_get(json_array_get(orgs, 0), "name")));
done:
    json_decref(me);
    return 0;
}

/* POST /auth/login and remember the session (url, token, org). 1 under
 * --dry-run, 0 when stored, -1 on failure. */
static int session_start(struct cli *c, const char *email, const char *password, json_t **out)
{
    json_t *body = json_pack("{s:s, s:s}", "email", email, "password", password);
    int rc = client_mutate(c, "POST", "/auth/login", body, 0, redact_login, out);
    json_decref(body);
    if (rc != 0)
        return rc;
    const char *token = json_string_value(json_object_get(*out, "token"));
    if (!token)
        return cli_fail(c, CLI_EXIT_OTHER, "bad_response", "berthd sent no session token");
    if (!c->cfg.url || strcmp(c->cfg.url, c->url) != 0)
        config_set(&c->cfg.org, NULL); /* another berthd: its orgs differ */
    config_set(&c->cfg.url, c->url);
    config_set(&c->cfg.token, token);
    json_object_del(*out, "token");
    c->token = c->cfg.token;
    soft(c, pick_org);
    c->org = c->cfg.org;
    return config_save(c);
}

static int read_email(struct cli *c, char *out, size_t n)
{
    const char *e = c->a.val[OPT_EMAIL] ? c->a.val[OPT_EMAIL] : getenv("BERTH_EMAIL");
    if (e && *e) {
        if (util_strlcpy(out, e, n) < 0)
            return cli_usage(c, "the email address is too long");
        return 0;
    }
    if (!isatty(0))
        return cli_usage(c, "pass --email (or BERTH_EMAIL); stdin carries the password");
    if (prompt_line(NULL, "Email", 0, out, n) < 0 || !*out)
        return cli_usage(c, "no email given");
    return 0;
}

static void human_session(struct cli *c, json_t *d)
{
    printf("Logged in to %s as %s", c->url,
           json_string_value(json_object_get(json_object_get(d, "user"), "email")));
    if (c->org)
        printf(" (current organization: %s)", c->org);
    printf(".\n");
}

static json_t *session_data(struct cli *c, json_t *login)
{
    json_object_set_new(login, "url", json_string(c->url));
    json_object_set_new(login, "org", c->org ? json_string(c->org) : json_null());
    return login;
}

int cmd_login(struct cli *c)
{
    char email[256], password[SECRET_MAX];
    json_t *resp = NULL;
    int rc = -1;
    password[0] = '\0';
    if (read_email(c, email, sizeof email) < 0)
        goto done;
    if (prompt_line("BERTH_PASSWORD", "Password", 1, password, sizeof password) < 0 ||
        !password[0]) {
        cli_usage(c, "no password: type it, pipe it on stdin, or set BERTH_PASSWORD");
        goto done;
    }
    rc = session_start(c, email, password, &resp);
    if (rc == 0)
        out_ok(c, session_data(c, json_incref(resp)), human_session);
done:
    crypto_wipe(password, sizeof password);
    json_decref(resp);
    return rc < 0 ? -1 : 0;
}

static void human_logout(struct cli *c, json_t *d)
{
    printf("Logged out of %s.\n", c->url);
}

int cmd_logout(struct cli *c)
{
    if (cli_need_token(c) < 0)
        return -1;
    int rc = client_mutate(c, "POST", "/auth/logout", NULL, 1, NULL, NULL);
    if (rc == 1)
        return 0;
    int stale = rc < 0 && c->err.exit == CLI_EXIT_AUTH; /* already revoked or expired */
    if (rc < 0 && !stale)
        return -1;
    c->failed = 0;
    if (c->token == c->cfg.token) {
        config_set(&c->cfg.token, NULL);
        c->token = NULL;
        if (config_save(c) < 0)
            return -1;
    }
    out_ok(c, json_pack("{s:s, s:b}", "url", c->url, "was_valid", !stale), human_logout);
    return 0;
}

static void human_whoami(struct cli *c, json_t *d)
{
    json_t *u = json_object_get(d, "user"), *t = json_object_get(d, "token"), *o, *s;
    size_t i;
    char tmp[32];
    printf("email:   %s (user %s)\n", json_string_value(json_object_get(u, "email")),
           out_str(u, "id", tmp, sizeof tmp));
    printf("berthd:  %s\n", c->url);
    printf("token:   %s #%s\n", out_str(t, "kind", tmp, sizeof tmp),
           out_str(t, "id", tmp + 16, 16));
    printf("orgs:    (* current; scopes are what this token may do there)\n");
    json_array_foreach(json_object_get(d, "orgs"), i, o) {
        const char *n = json_string_value(json_object_get(o, "name"));
        size_t k;
        printf("  %s%s (%s):", c->org && strcmp(n, c->org) == 0 ? "*" : "", n,
               json_string_value(json_object_get(o, "role")));
        json_array_foreach(json_object_get(o, "scopes"), k, s)
            printf(" %s", json_string_value(s));
        printf("\n");
    }
}

int cmd_whoami(struct cli *c)
{
    json_t *me = NULL;
    if (client_request(c, "GET", "/me", NULL, 1, &me) < 0)
        return -1;
    json_object_set_new(me, "url", json_string(c->url));
    json_object_set_new(me, "current_org", c->org ? json_string(c->org) : json_null());
    out_ok(c, me, human_whoami);
    return 0;
}

/* The new password: env, or typed twice on a terminal, or a stdin line. */
static int read_new_password(struct cli *c, char *pw, size_t n)
{
    char again[SECRET_MAX];
    int rc = 0;
    if (prompt_line("BERTH_PASSWORD", "New password", 1, pw, n) < 0 || !*pw)
        return cli_usage(c, "no password: type it, pipe it on stdin, or set BERTH_PASSWORD");
    const char *env = getenv("BERTH_PASSWORD");
    if (isatty(0) && !(env && *env)) {
        if (prompt_line(NULL, "Repeat password", 1, again, sizeof again) < 0 ||
            strcmp(again, pw) != 0)
            rc = cli_usage(c, "the passwords differ");
        crypto_wipe(again, sizeof again);
    }
    return rc;
}

static void human_accept(struct cli *c, json_t *d)
{
    printf("Invitation accepted for %s.\n",
           json_string_value(json_object_get(json_object_get(d, "user"), "email")));
    if (json_is_true(json_object_get(d, "logged_in")))
        human_session(c, d);
    else
        printf("Log in with: berth login --url %s\n", c->url);
}

static int accept_and_login(struct cli *c, const char *token, const char *password)
{
    json_t *body = json_pack("{s:s, s:s}", "token", token, "password", password);
    json_t *acc = NULL, *login = NULL;
    int rc = client_mutate(c, "POST", "/auth/accept-invite", body, 0, redact_invite, &acc);
    json_decref(body);
    if (rc != 0)
        goto done;
    const char *email = json_string_value(json_object_get(json_object_get(acc, "user"), "email"));
    struct cli_err saved = c->err;
    int in = email && session_start(c, email, password, &login) == 0;
    if (!in) { /* accepted all the same: say so, do not fail */
        c->err = saved;
        c->failed = 0;
    }
    json_object_set_new(acc, "logged_in", json_boolean(in));
    out_ok(c, session_data(c, json_incref(acc)), human_accept);
done:
    json_decref(acc);
    json_decref(login);
    return rc;
}

int cmd_accept_invite(struct cli *c)
{
    char token[256], password[SECRET_MAX];
    int rc = -1;
    token[0] = password[0] = '\0';
    if (prompt_line("BERTH_INVITE_TOKEN", "Invite token", 1, token, sizeof token) < 0 ||
        !token[0]) {
        cli_usage(c, "no invite token: type it, pipe it on stdin, or set BERTH_INVITE_TOKEN");
        goto done;
    }
    if (read_new_password(c, password, sizeof password) < 0)
        goto done;
    rc = accept_and_login(c, token, password);
done:
    crypto_wipe(token, sizeof token);
    crypto_wipe(password, sizeof password);
    return rc < 0 ? -1 : 0;
}
