/* hooks.c - git push webhooks (docs/webhooks.md): POST /hooks/github,
 * /hooks/gitea, /hooks/gitlab and /hooks/generic (GitHub's format).
 *
 * A request's life: the event header must be there (400) and the body
 * parse as JSON (400; over the body cap 413 in http.c); the payload's
 * repository URLs are normalised (giturl.c) and every organization's
 * repository registered under this provider with the same URL is a
 * candidate; the signature (or GitLab's token) is checked in constant time
 * against each candidate's secret. None verifies -> 401, recorded as a
 * rejected delivery and audited in the candidates' organizations, nothing
 * scheduled. For each repository that verifies: a delivery id it already
 * took -> "duplicate"; `ping` -> 200; a push to branch B at commit C ->
 * one deployment at C per app of that organization with auto_deploy,
 * branch B and the same repository URL; tags, deleted branches and other
 * events -> 202 with a reason. Every verified or rejected request leaves
 * one delivery row per candidate repository.
 *
 * Loop thread; a handful of indexed statements per request. Secrets are
 * opened only to verify and wiped at once. */
#include "api.h"
#include "audit.h"
#include "deploy.h"
#include "giturl.h"
#include "jsonx.h"
#include "log.h"
#include "repos.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URLS 8
#define MAX_CANDIDATES 32
#define REASON_MAX 512

enum hook_kind { HK_GITHUB, HK_GITEA, HK_GITLAB, HK_GENERIC };

struct provider {
    enum hook_kind kind;
    const char *name;           /* repos.provider */
    const char *event_header;
    const char *delivery_header;
    const char *sig_header;
    const char *repo_obj;       /* payload object holding the URLs */
    const char *url_fields[5];
};

static const struct provider github = {
    HK_GITHUB, "github", "X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256",
    "repository", {"clone_url", "ssh_url", "git_url", "html_url", "url"}};
static const struct provider generic = {
    HK_GENERIC, "generic", "X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256",
    "repository", {"clone_url", "ssh_url", "git_url", "html_url", "url"}};
static const struct provider gitea = {
    HK_GITEA, "gitea", "X-Gitea-Event", "X-Gitea-Delivery", "X-Gitea-Signature",
    "repository", {"clone_url", "ssh_url", "html_url", NULL, NULL}};
static const struct provider gitlab = {
    HK_GITLAB, "gitlab", "X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token",
    "project", {"git_http_url", "git_ssh_url", "web_url", NULL, NULL}};

/* ---- verification ---- */

static int lower_hex_eq(const char *given, const char *want_hex)
{
    char g[65];
    if (strlen(given) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        g[i] = (char)((given[i] >= 'A' && given[i] <= 'F') ? given[i] + 32 : given[i]);
    g[64] = '\0';
    return crypto_ct_eq(g, want_hex, 64);
}

int hooks_signature_ok(const char *secret, const void *body, size_t len, const char *header,
                       int prefixed)
{
    if (!secret || !header)
        return 0;
    if (prefixed) {
        if (strncmp(header, "sha256=", 7) != 0)
            return 0;
        header += 7;
    }
    char want[65];
    crypto_hmac_sha256_hex(secret, strlen(secret), body ? body : "", len, want);
    int ok = lower_hex_eq(header, want);
    crypto_wipe(want, sizeof want);
    return ok;
}

int hooks_token_ok(const char *secret, const char *given)
{
    /* Compare keyed digests, so neither length nor content leaks timing. */
    static const char k[] = "berth-gitlab-token";
    char a[65], b[65];
    if (!secret || !given)
        return 0;
    crypto_hmac_sha256_hex(k, sizeof k - 1, secret, strlen(secret), a);
    crypto_hmac_sha256_hex(k, sizeof k - 1, given, strlen(given), b);
    int ok = crypto_ct_eq(a, b, 64);
    crypto_wipe(a, sizeof a);
    crypto_wipe(b, sizeof b);
    return ok;
}

/* ---- one request ---- */

struct cand {
    struct repo rp;
    int verified, duplicate;
    json_t *deps;               /* deployment ids created for it */
    char reason[REASON_MAX];
    const char *outcome;
};

struct hook {
    struct req *r;
    const struct provider *p;
    char event[64];
    char delivery[128];
    char sig[256];
    int has_sig;
    struct cand c[MAX_CANDIDATES];
    int n;
};

static void add_cand(void *arg, const struct repo *rp)
{
    struct hook *h = arg;
    for (int i = 0; i < h->n; i++)
        if (h->c[i].rp.id == rp->id)
            return;
    if (h->n >= MAX_CANDIDATES)
        return;
    struct cand *c = &h->c[h->n++];
    memset(c, 0, sizeof *c);
    c->rp = *rp; /* take its malloc'ed fields */
    c->rp.secret_sealed = rp->secret_sealed ? strdup(rp->secret_sealed) : NULL;
    c->rp.deploy_key_sealed = NULL;
    c->rp.gh_key_sealed = NULL;
}

/* The payload's repository URLs, normalised, into the candidates. */
static int find_candidates(struct hook *h, json_t *body)
{
    json_t *o = json_object_get(body, h->p->repo_obj);
    json_t *alt = h->p->kind == HK_GITLAB ? json_object_get(body, "repository") : NULL;
    char seen[MAX_URLS][GITURL_MAX];
    int ns = 0;
    for (int pass = 0; pass < 2; pass++) {
        json_t *src = pass ? alt : o;
        if (!json_is_object(src))
            continue;
        static const char *const gl_alt[] = {"git_http_url", "git_ssh_url", "homepage", "url",
                                             NULL};
        for (int i = 0; i < 5; i++) {
            const char *f = pass ? gl_alt[i] : h->p->url_fields[i];
            if (!f)
                break;
            const char *u = json_string_value(json_object_get(src, f));
            char norm[GITURL_MAX];
            if (!u || strlen(u) > 1024 || giturl_normalize(u, norm, sizeof norm) < 0)
                continue;
            int dup = 0;
            for (int k = 0; k < ns; k++)
                dup |= strcmp(seen[k], norm) == 0;
            if (dup || ns >= MAX_URLS)
                continue;
            util_strlcpy(seen[ns++], norm, GITURL_MAX);
            if (store_repos_each_norm(h->r->srv->store, h->p->name, norm, add_cand, h) !=
                STORE_OK)
                return -1;
        }
    }
    return ns;
}

static void verify(struct hook *h, struct cand *c)
{
    char ad[96];
    size_t len = 0;
    repos_secret_ad(c->rp.id, "webhook", ad, sizeof ad);
    char *secret = c->rp.secret_sealed
                       ? crypto_open(h->r->srv->secret_key, ad, c->rp.secret_sealed, &len)
                       : NULL;
    if (!secret) {
        log_error("hooks", "repo %lld: its webhook secret does not open (another master key?)",
                  (long long)c->rp.id);
        return;
    }
    const struct buf *b = &h->r->body;
    if (!h->has_sig)
        c->verified = 0;
    else if (h->p->kind == HK_GITLAB)
        c->verified = hooks_token_ok(secret, h->sig);
    else
        c->verified = hooks_signature_ok(secret, b->data, b->len, h->sig,
                                         h->p->kind != HK_GITEA);
    crypto_wipe(secret, len);
    free(secret);
}

/* Delivery id: the provider's header when sane, else "body:" + a digest. */
static void delivery_id(struct hook *h)
{
    char v[128];
    const char *d = req_header(h->r, h->p->delivery_header, v, sizeof v);
    int ok = d && *d && strlen(d) <= 100;
    for (const char *p = d; ok && *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            ok = 0;
    if (ok) {
        util_strlcpy(h->delivery, d, sizeof h->delivery);
        return;
    }
    char hex[65];
    static const char k[] = "berth-delivery";
    crypto_hmac_sha256_hex(k, sizeof k - 1, h->r->body.data ? h->r->body.data : "",
                           h->r->body.len, hex);
    snprintf(h->delivery, sizeof h->delivery, "body:%.32s", hex);
}

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

/* ---- deploying the apps of one verified repository ---- */

struct deploy_ctx {
    struct srv *s;
    struct cand *c;
    const char *branch, *commit;
    int matched;
    size_t rlen;
};

static void note(struct cand *c, const char *fmt, const char *a, const char *b)
{
    size_t l = strlen(c->reason);
    if (l + 4 < sizeof c->reason)
        snprintf(c->reason + l, sizeof c->reason - l, fmt, a, b);
}

static void deploy_app(void *arg, const struct app *a)
{
    struct deploy_ctx *x = arg;
    char norm[GITURL_MAX];
    if (!a->auto_deploy || strcmp(a->branch, x->branch) != 0 ||
        giturl_normalize(a->repo_url, norm, sizeof norm) < 0 ||
        strcmp(norm, x->c->rp.url_norm) != 0)
        return;
    x->matched++;
    struct server sv;
    if (store_server_get(x->s->store, a->server_id, &sv) != STORE_OK || sv.decommissioned_at ||
        strcmp(sv.status, "ACTIVE") != 0) {
        note(x->c, "%sapp %s: its server is not ACTIVE, not deployed",
             x->c->reason[0] ? "; " : "", a->name);
        return;
    }
    struct deployment d;
    int64_t id = 0;
    memset(&d, 0, sizeof d);
    util_strlcpy(d.kind, "deploy", sizeof d.kind);
    util_strlcpy(d.commit, x->commit, sizeof d.commit);
    if (deploy_create(x->s, a, &d, &id) != STORE_OK) {
        note(x->c, "%sapp %s: cannot store the deployment", x->c->reason[0] ? "; " : "",
             a->name);
        return;
    }
    json_array_append_new(x->c->deps, json_integer(id));
    log_info("hooks", "repo %lld: push to %s at %.12s -> deployment %lld of app %s",
             (long long)x->c->rp.id, x->branch, x->commit, (long long)id, a->name);
}

/* ---- the answer ---- */

static void record(struct hook *h, struct cand *c, int status, const char *ref,
                   const char *commit)
{
    char *deps = c->deps ? jx_dump(c->deps, NULL) : NULL;
    struct hook_delivery d = {
        .repo_id = c->rp.id, .at = util_now(), .event = h->event[0] ? h->event : NULL,
        .delivery_id = h->delivery, .outcome = c->outcome,
        .reason = c->reason[0] ? c->reason : NULL, .status = status, .ref = ref,
        .commit = commit, .deployments_json = deps,
    };
    if (store_delivery_add(h->r->srv->store, &d) != STORE_OK)
        log_error("hooks", "repo %lld: cannot record delivery %s", (long long)c->rp.id,
                  h->delivery);
    free(deps);
}

/* Audit rows for the organizations beyond the request's own (audit.c
 * writes that one from the req). */
static void audit_others(struct hook *h, int64_t first_org, int status, int verified_only)
{
    const char *outcome = status == 401 ? "denied" : "success";
    for (int i = 0; i < h->n; i++) {
        struct cand *c = &h->c[i];
        if (c->rp.org_id == first_org || (verified_only && !c->verified))
            continue;
        int dup = 0;
        for (int k = 0; k < i; k++)
            dup |= h->c[k].rp.org_id == c->rp.org_id && (!verified_only || h->c[k].verified);
        if (dup)
            continue;
        char target[64], detail[256];
        snprintf(target, sizeof target, "repo:%lld", (long long)c->rp.id);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "provider", h->p->name, "event",
                              h->event, "delivery", h->delivery, "outcome", c->outcome);
        char *t = o ? jx_dump(o, NULL) : NULL;
        util_strlcpy(detail, t ? t : "{}", sizeof detail);
        free(t);
        json_decref(o);
        char action[32];
        snprintf(action, sizeof action, "hook.%s", h->p->name);
        audit_event(h->r->srv, c->rp.org_id, 0, NULL, action, target, outcome, detail);
    }
}

static void reply(struct hook *h, int status, const char *outcome, const char *reason,
                  json_t *deps)
{
    json_t *o = json_pack("{s:s, s:s, s:o}", "outcome", outcome, "delivery", h->delivery,
                          "deployments", deps ? deps : json_array());
    if (reason && *reason)
        json_object_set_new(o, "reason", json_string(reason));
    http_reply_json(h->r, status, o);
}

static void hook_run(struct req *r, const struct provider *p)
{
    struct hook *h = calloc(1, sizeof *h);
    if (!h) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    h->r = r;
    h->p = p;
    util_strlcpy(r->audit_target, "hook", sizeof r->audit_target);
    if (!req_header(r, p->event_header, h->event, sizeof h->event) || !h->event[0]) {
        http_reply_error(r, 400, "missing_header", "the %s header is required", p->event_header);
        goto done;
    }
    json_t *body = req_json(r);
    if (!body)
        goto done;
    delivery_id(h);
    h->has_sig = req_header(r, p->sig_header, h->sig, sizeof h->sig) != NULL;
    int urls = find_candidates(h, body);
    if (urls < 0) {
        http_reply_error(r, 500, "internal", "store unavailable");
        goto done;
    }
    if (urls == 0) {
        http_reply_error(r, 400, "invalid_payload", "the payload names no repository URL "
                         "(%s.%s)", p->repo_obj, p->url_fields[0]);
        goto done;
    }
    int nverified = 0;
    for (int i = 0; i < h->n; i++) {
        verify(h, &h->c[i]);
        nverified += h->c[i].verified;
    }

    /* --- refused: nothing verifies (or nothing is registered) --- */
    if (!nverified) {
        for (int i = 0; i < h->n; i++) {
            h->c[i].outcome = "rejected";
            util_strlcpy(h->c[i].reason, h->has_sig ? "signature does not verify"
                                                    : "no signature header", REASON_MAX);
            record(h, &h->c[i], 401, NULL, NULL);
        }
        if (h->n) {
            r->audit_org = h->c[0].rp.org_id;
            snprintf(r->audit_target, sizeof r->audit_target, "repo:%lld",
                     (long long)h->c[0].rp.id);
            audit_others(h, h->c[0].rp.org_id, 401, 0);
        }
        r->audit_detail = json_pack("{s:s, s:s, s:s}", "event", h->event, "delivery",
                                    h->delivery, "reason", h->has_sig ? "bad signature"
                                                                      : "no signature");
        http_reply_error(r, 401, "unauthorized", "the webhook %s does not verify",
                         p->kind == HK_GITLAB ? "token" : "signature");
        goto done;
    }

    /* --- verified: what is it? --- */
    const char *ref = json_string_value(json_object_get(body, "ref"));
    const char *after = json_string_value(json_object_get(body, "after"));
    int deleted = json_is_true(json_object_get(body, "deleted")) || all_zero(after);
    int is_push = p->kind == HK_GITLAB ? strcmp(h->event, "Push Hook") == 0
                                       : strcmp(h->event, "push") == 0;
    int is_ping = p->kind != HK_GITLAB && strcmp(h->event, "ping") == 0;
    char why[REASON_MAX] = "";
    int status = 202;
    const char *branch = NULL;
    if (is_ping) {
        status = 200;
        snprintf(why, sizeof why, "ping: the webhook is set up");
    } else if (!is_push) {
        snprintf(why, sizeof why, "event '%.60s' is not handled (only pushes deploy)", h->event);
    } else if (!ref || strncmp(ref, "refs/heads/", 11) != 0 || !ref[11]) {
        snprintf(why, sizeof why, "'%.200s' is not a branch (tags do not deploy)",
                 ref ? ref : "(no ref)");
    } else if (deleted) {
        snprintf(why, sizeof why, "branch %.200s was deleted", ref + 11);
    } else if (!commit_ok(after)) {
        snprintf(why, sizeof why, "the push names no commit ('after')");
    } else {
        branch = ref + 11;
    }

    json_t *all = json_array();
    int ndup = 0, first = -1;
    for (int i = 0; i < h->n; i++) {
        struct cand *c = &h->c[i];
        if (!c->verified)
            continue;
        if (first < 0)
            first = i;
        int seen = 0;
        if (store_delivery_seen(r->srv->store, c->rp.id, h->delivery, &seen) == STORE_OK &&
            seen) {
            c->duplicate = 1;
            ndup++;
            c->outcome = "ignored";
            util_strlcpy(c->reason, "duplicate delivery (already received)", REASON_MAX);
            record(h, c, 200, ref, after);
            continue;
        }
        c->deps = json_array();
        if (!branch) {
            c->outcome = "ignored";
            util_strlcpy(c->reason, why, REASON_MAX);
            record(h, c, status, ref, commit_ok(after) ? after : NULL);
            continue;
        }
        struct deploy_ctx x = {r->srv, c, branch, after, 0, 0};
        if (store_apps_each(r->srv->store, c->rp.org_id, deploy_app, &x) != STORE_OK)
            note(c, "%scannot read the applications%s", c->reason[0] ? "; " : "", "");
        if (!x.matched)
            note(c, "no application with auto_deploy follows branch %s%s", branch, "");
        c->outcome = json_array_size(c->deps) ? "accepted" : "ignored";
        size_t k;
        json_t *v;
        json_array_foreach(c->deps, k, v) json_array_append(all, v);
        record(h, c, json_array_size(c->deps) ? 200 : 202, ref, after);
    }
    r->audit_org = h->c[first].rp.org_id;
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%lld", (long long)h->c[first].rp.id);
    if (ndup == nverified) {
        r->audit_detail = json_pack("{s:s, s:s, s:s}", "event", h->event, "delivery",
                                    h->delivery, "outcome", "duplicate");
        reply(h, 200, "duplicate", "this delivery was already received", all);
        goto done;
    }
    const char *outcome = json_array_size(all) ? "accepted" : "ignored";
    if (branch) {
        status = json_array_size(all) ? 200 : 202;
        if (!json_array_size(all))
            util_strlcpy(why, h->c[first].reason, sizeof why);
    }
    r->audit_detail = json_pack("{s:s, s:s, s:s, s:s?, s:O}", "event", h->event, "delivery",
                                h->delivery, "outcome", outcome, "commit",
                                branch ? after : NULL, "deployments", all);
    audit_others(h, r->audit_org, status, 1);
    reply(h, status, outcome, json_array_size(all) ? NULL : why, all);
done:
    for (int i = 0; i < h->n; i++) {
        store_repo_release(&h->c[i].rp);
        json_decref(h->c[i].deps);
    }
    free(h);
}

void api_hook_github(struct req *r) { hook_run(r, &github); }
void api_hook_gitea(struct req *r) { hook_run(r, &gitea); }
void api_hook_gitlab(struct req *r) { hook_run(r, &gitlab); }
void api_hook_generic(struct req *r) { hook_run(r, &generic); }
