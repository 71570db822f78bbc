/* hooks.c - git push webhooks (docs/webhooks.md): POST
 * /hooks/{github,gitea,gitlab,generic}/{id}, one URL per registered
 * repository, and the retired shared URLs /hooks/{provider} (410).
 *
 * A request's life: the event header must be there (400); the body is
 * parsed by hooks_parse (hooks_parse.c: a pure function of the provider,
 * the event and the body; not JSON or no repository URL -> 400; body cap 413
 * in http.c); the repository is the one the URL names, of that provider,
 * and the signature (or GitLab's token) is checked against its secret
 * alone: one HMAC per request. An unknown id, another provider's
 * repository and a bad signature answer the same 401 (recorded as a
 * rejected delivery and audited when the repository exists). Verified:
 * a delivery id it already took -> "duplicate"; a payload for another
 * repository -> 202; `ping` -> 200; tags, deleted branches and other
 * events -> 202; a push to branch B at commit C goes through the order
 * rule (hooks_order, docs/webhooks.md "Replays and order"): C already the
 * branch's last commit -> 200 duplicate; C or the push's `before` already
 * seen and older -> 409 stale; else the push is taken and one deployment
 * at C is created per app of the organization with auto_deploy, branch B
 * and the repository's URL. Every request for an existing repository
 * leaves one delivery row and one audit entry in its organization.
 *
 * Loop thread; a handful of indexed statements per request. The secret is
 * opened only to verify and wiped at once. */
#include "api.h"
#include "audit.h"
#include "deploy.h"
#include "giturl.h"
#include "hooks.h"
#include "jsonx.h"
#include "log.h"
#include "repos.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct hook {
    struct req *r;
    const struct hooks_provider_info *p;
    struct hooks_push push;
    struct repo rp;
    int have_repo;
    char delivery[128];
    char sig[256];
    int has_sig;
    json_t *deps;               /* deployment ids created */
    char reason[HOOKS_REASON_MAX];
};

static int verify(struct hook *h)
{
    char ad[96];
    size_t len = 0;
    repos_secret_ad(h->rp.id, "webhook", ad, sizeof ad);
    char *secret = h->rp.secret_sealed
                       ? crypto_open(h->r->srv->secret_key, ad, h->rp.secret_sealed, &len)
                       : NULL;
    if (!secret) {
        log_error("hooks", "repo %lld: its webhook secret does not open (another master key?)",
                  (long long)h->rp.id);
        return 0;
    }
    const struct buf *b = &h->r->body;
    int ok;
    if (!h->has_sig)
        ok = 0;
    else if (h->p->kind == HOOKS_GITLAB)
        ok = hooks_token_ok(secret, h->sig);
    else
        ok = hooks_signature_ok(secret, b->data, b->len, h->sig, h->p->kind != HOOKS_GITEA);
    crypto_wipe(secret, len);
    free(secret);
    return ok;
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

/* ---- deploying the apps of the repository ---- */

struct deploy_ctx {
    struct srv *s;
    struct hook *h;
    int matched;
};

static void note(struct hook *h, const char *fmt, const char *a)
{
    size_t l = strlen(h->reason);
    if (l + 4 < sizeof h->reason)
        snprintf(h->reason + l, sizeof h->reason - l, fmt, l ? "; " : "", a);
}

static void deploy_app(void *arg, const struct app *a)
{
    struct deploy_ctx *x = arg;
    struct hook *h = x->h;
    char norm[GITURL_MAX];
    if (!a->auto_deploy || strcmp(a->branch, h->push.branch) != 0 ||
        giturl_normalize(a->repo_url, norm, sizeof norm) < 0 ||
        strcmp(norm, h->rp.url_norm) != 0)
        return;
    x->matched++;
    struct server sv;
    if (store_server_get(x->s->store, a->server_id, &sv) != STORE_OK || sv.decommissioned_at ||
        strcmp(sv.status, "ACTIVE") != 0) {
        note(h, "%sapp %s: its server is not ACTIVE, not deployed", a->name);
        return;
    }
    struct deployment d;
    int64_t id = 0;
    memset(&d, 0, sizeof d);
    util_strlcpy(d.kind, "deploy", sizeof d.kind);
    util_strlcpy(d.commit, h->push.after, sizeof d.commit);
    if (deploy_create(x->s, a, &d, &id) != STORE_OK) {
        note(h, "%sapp %s: cannot store the deployment", a->name);
        return;
    }
    json_array_append_new(h->deps, json_integer(id));
    log_info("hooks", "repo %lld: push to %s at %.12s -> deployment %lld of app %s",
             (long long)h->rp.id, h->push.branch, h->push.after, (long long)id, a->name);
}

/* ---- the order rule ---- */

/* Applies the order rule to a verified push; the verdict with h->reason
 * set when the push is not taken, or -1 (store). */
static int order_check(struct hook *h)
{
    struct store *st = h->r->srv->store;
    const struct hooks_push *p = &h->push;
    char head[72] = "";
    int after_seen = 0, before_seen = 0;
    if (store_hook_head(st, h->rp.id, p->branch, head, sizeof head) != STORE_OK ||
        store_hook_seen(st, h->rp.id, p->branch, p->after, &after_seen) != STORE_OK ||
        (p->before[0] &&
         store_hook_seen(st, h->rp.id, p->branch, p->before, &before_seen) != STORE_OK))
        return -1;
    int v = hooks_order(head, after_seen, before_seen, p->before, p->after);
    if (v == HOOKS_ORDER_DUPLICATE)
        snprintf(h->reason, sizeof h->reason, "commit %.12s is already the last push taken "
                 "for branch %.200s", p->after, p->branch);
    else if (v == HOOKS_ORDER_STALE && after_seen)
        snprintf(h->reason, sizeof h->reason, "stale push: commit %.12s was already taken "
                 "for branch %.200s, which is now at %.12s; a webhook never deploys an older "
                 "commit", p->after, p->branch, head);
    else if (v == HOOKS_ORDER_STALE)
        snprintf(h->reason, sizeof h->reason, "stale push: it starts from %.12s, an older "
                 "commit of branch %.200s, which is now at %.12s; a webhook never deploys an "
                 "older commit", p->before, p->branch, head);
    return v;
}

/* ---- the answer ---- */

static void record(struct hook *h, const char *outcome, int status)
{
    const struct hooks_push *p = &h->push;
    char *deps = h->deps ? jx_dump(h->deps, NULL) : NULL;
    int verified = strcmp(outcome, "rejected") != 0;
    struct hook_delivery d = {
        .repo_id = h->rp.id, .at = util_now(), .event = p->event[0] ? p->event : NULL,
        .delivery_id = h->delivery, .outcome = outcome,
        .reason = h->reason[0] ? h->reason : NULL, .status = status,
        .ref = verified && p->ref[0] ? p->ref : NULL,
        .commit = verified && p->after[0] ? p->after : NULL, .deployments_json = deps,
    };
    if (store_delivery_add(h->r->srv->store, &d) != STORE_OK)
        log_error("hooks", "repo %lld: cannot record delivery %s", (long long)h->rp.id,
                  h->delivery);
    free(deps);
}

/* Records the delivery, sets the audit entry and answers. */
static void answer(struct hook *h, int status, const char *outcome, const char *recorded)
{
    struct req *r = h->r;
    record(h, recorded, status);
    r->audit_detail = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:O?}", "event", h->push.event,
                                "delivery", h->delivery, "outcome", outcome, "commit",
                                h->push.after[0] ? h->push.after : NULL, "reason",
                                h->reason[0] ? h->reason : NULL, "deployments", h->deps);
    json_t *o = json_pack("{s:s, s:s, s:O}", "outcome", outcome, "delivery", h->delivery,
                          "deployments", h->deps);
    if (o && h->reason[0])
        json_object_set_new(o, "reason", json_string(h->reason));
    if (o && status >= 400)
        json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", "stale_push",
                                                  "message", h->reason));
    if (!o) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    http_reply_json(r, status, o);
}

static int repo_named(const struct hooks_push *p, const char *norm)
{
    for (int i = 0; i < p->nurls; i++)
        if (strcmp(p->urls[i], norm) == 0)
            return 1;
    return 0;
}

/* A verified request for h->rp. */
static void run_verified(struct hook *h)
{
    struct req *r = h->r;
    struct hooks_push *p = &h->push;
    int seen = 0;
    if (store_delivery_seen(r->srv->store, h->rp.id, h->delivery, &seen) == STORE_OK && seen) {
        util_strlcpy(h->reason, "duplicate delivery (already received)", sizeof h->reason);
        answer(h, 200, "duplicate", "ignored");
        return;
    }
    if (!repo_named(p, h->rp.url_norm)) {
        snprintf(h->reason, sizeof h->reason, "the payload is for %.200s, not for this "
                 "hook's repository %.200s", p->urls[0], h->rp.url_norm);
        answer(h, 202, "ignored", "ignored");
        return;
    }
    if (p->what != HOOKS_DEPLOY) {
        util_strlcpy(h->reason, p->why, sizeof h->reason);
        answer(h, p->what == HOOKS_PING ? 200 : 202, "ignored", "ignored");
        return;
    }
    int v = order_check(h);
    if (v < 0) {
        http_reply_error(r, 500, "internal", "store unavailable");
        return;
    }
    if (v == HOOKS_ORDER_DUPLICATE) {
        answer(h, 200, "duplicate", "ignored");
        return;
    }
    if (v == HOOKS_ORDER_STALE) {
        log_warn("hooks", "repo %lld: %s", (long long)h->rp.id, h->reason);
        answer(h, 409, "stale", "stale");
        return;
    }
    if (store_hook_take(r->srv->store, h->rp.id, p->branch, p->before, p->after,
                        util_now()) != STORE_OK) {
        http_reply_error(r, 500, "internal", "store unavailable");
        return;
    }
    struct deploy_ctx x = {r->srv, h, 0};
    if (store_apps_each(r->srv->store, h->rp.org_id, deploy_app, &x) != STORE_OK)
        note(h, "%scannot read the applications%s", "");
    if (!x.matched)
        note(h, "%sno application with auto_deploy follows branch %s", p->branch);
    if (json_array_size(h->deps)) {
        h->reason[0] = '\0';
        answer(h, 200, "accepted", "accepted");
    } else {
        answer(h, 202, "ignored", "ignored");
    }
}

static void hook_run(struct req *r, enum hooks_provider kind)
{
    struct hook *h = calloc(1, sizeof *h);
    char err[256], event[64];
    int64_t id = 0;
    if (!h) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    h->r = r;
    h->p = hooks_provider(kind);
    h->deps = json_array();
    util_strlcpy(r->audit_target, "hook", sizeof r->audit_target);
    if (!req_header(r, h->p->event_header, event, sizeof event) || !event[0]) {
        http_reply_error(r, 400, "missing_header", "the %s header is required",
                         h->p->event_header);
        goto done;
    }
    int rc = hooks_parse(kind, event, r->body.data, r->body.len, &h->push, err, sizeof err);
    if (rc < 0) {
        http_reply_error(r, 400, rc == HOOKS_EJSON ? "invalid_json" : "invalid_payload", "%s",
                         err);
        goto done;
    }
    delivery_id(h);
    h->has_sig = req_header(r, h->p->sig_header, h->sig, sizeof h->sig) != NULL;
    h->have_repo = util_parse_i64(r->params[0], &id) == 0 && id > 0 &&
                   store_repo_get(r->srv->store, 0, id, &h->rp) == STORE_OK;
    if (h->have_repo && strcmp(h->rp.provider, h->p->name) != 0) {
        store_repo_release(&h->rp);
        h->have_repo = 0;
    }
    if (!h->have_repo || !verify(h)) {
        /* One answer whether the id exists or the signature is wrong. */
        if (h->have_repo) {
            r->audit_org = h->rp.org_id;
            snprintf(r->audit_target, sizeof r->audit_target, "repo:%lld", (long long)id);
            util_strlcpy(h->reason, h->has_sig ? "signature does not verify"
                                               : "no signature header", sizeof h->reason);
            record(h, "rejected", 401);
        }
        r->audit_detail = json_pack("{s:s, s:s, s:s}", "event", event, "delivery",
                                    h->delivery, "reason", h->has_sig ? "bad signature"
                                                                      : "no signature");
        http_reply_error(r, 401, "unauthorized", "the webhook %s does not verify",
                         kind == HOOKS_GITLAB ? "token" : "signature");
        goto done;
    }
    r->audit_org = h->rp.org_id;
    snprintf(r->audit_target, sizeof r->audit_target, "repo:%lld", (long long)h->rp.id);
    run_verified(h);
done:
    if (h->have_repo)
        store_repo_release(&h->rp);
    json_decref(h->deps);
    free(h);
}

void api_hook_github(struct req *r) { hook_run(r, HOOKS_GITHUB); }
void api_hook_gitea(struct req *r) { hook_run(r, HOOKS_GITEA); }
void api_hook_gitlab(struct req *r) { hook_run(r, HOOKS_GITLAB); }
void api_hook_generic(struct req *r) { hook_run(r, HOOKS_GENERIC); }

/* The shared URLs /hooks/{provider} matched a payload against every
 * organization's registrations, which let others crowd a repository out;
 * each repository now has its own URL. */
void api_hook_retired(struct req *r)
{
    http_reply_error(r, 410, "gone", "this shared hook URL is retired: each repository has its "
                     "own hook URL, /hooks/<provider>/<repository id> (field hook_url, "
                     "`berth repo list`); change the webhook's URL on the git host");
}
