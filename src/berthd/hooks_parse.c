/* hooks_parse.c - the pure parts of the push webhooks (hooks.h): each
 * provider's headers and payload fields, the parser from (provider, event
 * header, body) to a push, and the order rule. No store, no request, no
 * secret: the fuzzer (tests/fuzz/fuzz_webhook.c) and the unit tests call
 * these directly; hooks.c does the rest. */
#include "hooks.h"

#include "jsonx.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const struct hooks_provider_info providers[] = {
    [HOOKS_GITHUB] = {HOOKS_GITHUB, "github", "X-GitHub-Event", "X-GitHub-Delivery",
                      "X-Hub-Signature-256", "repository",
                      {"clone_url", "ssh_url", "git_url", "html_url", "url"}},
    [HOOKS_GITEA] = {HOOKS_GITEA, "gitea", "X-Gitea-Event", "X-Gitea-Delivery",
                     "X-Gitea-Signature", "repository",
                     {"clone_url", "ssh_url", "html_url", NULL, NULL}},
    [HOOKS_GITLAB] = {HOOKS_GITLAB, "gitlab", "X-Gitlab-Event", "X-Gitlab-Event-UUID",
                      "X-Gitlab-Token", "project",
                      {"git_http_url", "git_ssh_url", "web_url", NULL, NULL}},
    [HOOKS_GENERIC] = {HOOKS_GENERIC, "generic", "X-GitHub-Event", "X-GitHub-Delivery",
                       "X-Hub-Signature-256", "repository",
                       {"clone_url", "ssh_url", "git_url", "html_url", "url"}},
};

const struct hooks_provider_info *hooks_provider(enum hooks_provider kind)
{
    return &providers[kind];
}

/* ---- parsing (pure) ---- */

static int commit_ok(const char *s)
{
    return s && (util_lower_hex(s, 40, 40) || util_lower_hex(s, 64, 64));
}

static int all_zero(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s != '0')
            return 0;
    return 1;
}

static void add_url(struct hooks_push *p, const char *u)
{
    char norm[GITURL_MAX];
    if (!u || strlen(u) > 1024 || giturl_normalize(u, norm, sizeof norm) < 0)
        return;
    for (int k = 0; k < p->nurls; k++)
        if (strcmp(p->urls[k], norm) == 0)
            return;
    if (p->nurls < HOOKS_MAX_URLS)
        util_strlcpy(p->urls[p->nurls++], norm, GITURL_MAX);
}

static void parse_urls(const struct hooks_provider_info *pv, json_t *body, struct hooks_push *p)
{
    static const char *const gl_alt[] = {"git_http_url", "git_ssh_url", "homepage", "url", NULL};
    json_t *o = json_object_get(body, pv->repo_obj);
    for (int i = 0; json_is_object(o) && i < 5 && pv->url_fields[i]; i++)
        add_url(p, json_string_value(json_object_get(o, pv->url_fields[i])));
    json_t *alt = pv->kind == HOOKS_GITLAB ? json_object_get(body, "repository") : NULL;
    for (int i = 0; json_is_object(alt) && gl_alt[i]; i++)
        add_url(p, json_string_value(json_object_get(alt, gl_alt[i])));
}

/* What the event is, and the branch and commits of a push. */
static void classify(const struct hooks_provider_info *pv, json_t *body, struct hooks_push *p)
{
    const char *ref = json_string_value(json_object_get(body, "ref"));
    const char *after = json_string_value(json_object_get(body, "after"));
    const char *before = json_string_value(json_object_get(body, "before"));
    int deleted = json_is_true(json_object_get(body, "deleted")) || all_zero(after);
    int is_push = pv->kind == HOOKS_GITLAB ? strcmp(p->event, "Push Hook") == 0
                                           : strcmp(p->event, "push") == 0;
    p->what = HOOKS_IGNORE;
    if (ref && strlen(ref) < sizeof p->ref)
        util_strlcpy(p->ref, ref, sizeof p->ref);
    if (commit_ok(after))
        util_strlcpy(p->after, after, sizeof p->after);
    if (commit_ok(before) && !all_zero(before))
        util_strlcpy(p->before, before, sizeof p->before);
    if (pv->kind != HOOKS_GITLAB && strcmp(p->event, "ping") == 0) {
        p->what = HOOKS_PING;
        snprintf(p->why, sizeof p->why, "ping: the webhook is set up");
    } else if (!is_push) {
        snprintf(p->why, sizeof p->why, "event '%.60s' is not handled (only pushes deploy)",
                 p->event);
    } else if (!p->ref[0] || strncmp(p->ref, "refs/heads/", 11) != 0 || !p->ref[11]) {
        snprintf(p->why, sizeof p->why, "'%.200s' is not a branch (tags do not deploy)",
                 ref ? ref : "(no ref)");
    } else if (deleted) {
        snprintf(p->why, sizeof p->why, "branch %.200s was deleted", p->ref + 11);
    } else if (!p->after[0]) {
        snprintf(p->why, sizeof p->why, "the push names no commit ('after')");
    } else {
        p->what = HOOKS_DEPLOY;
        p->branch = p->ref + 11;
    }
}

int hooks_parse(enum hooks_provider provider, const char *event, const void *body, size_t len,
                struct hooks_push *p, char *err, size_t errlen)
{
    const struct hooks_provider_info *pv = &providers[provider];
    memset(p, 0, sizeof *p);
    util_strlcpy(p->event, event ? event : "", sizeof p->event);
    json_t *o = jx_parse_object(body ? body : "", len, err, errlen);
    if (!o)
        return HOOKS_EJSON;
    parse_urls(pv, o, p);
    if (!p->nurls) {
        snprintf(err, errlen, "the payload names no repository URL (%s.%s)", pv->repo_obj,
                 pv->url_fields[0]);
        json_decref(o);
        return HOOKS_EPAYLOAD;
    }
    classify(pv, o, p);
    json_decref(o);
    return 0;
}

/* ---- the order rule ---- */

int hooks_order(const char *head, int after_seen, int before_seen, const char *before,
                const char *after)
{
    if (head && *head && strcmp(head, after) == 0)
        return HOOKS_ORDER_DUPLICATE;
    if (after_seen)
        return HOOKS_ORDER_STALE;
    if (before && *before && before_seen && !(head && strcmp(head, before) == 0))
        return HOOKS_ORDER_STALE;
    return HOOKS_ORDER_TAKE;
}
