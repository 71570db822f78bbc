/* gitauth.c - clone credentials for a deploy job, added to the frame only
 * when the job is sent (like env, deploy.c): the app's registered
 * repository's SSH deploy key, or a GitHub App installation token minted
 * for that job (docs/webhooks.md, docs/protocol.md "deploy jobs").
 *
 * Minting: an RS256 JWT signed with the App's key (OpenSSL libcrypto),
 * exchanged at POST {api_url}/app/installations/{id}/access_tokens through
 * outbound.c (its own threads, its address policy); the loop never waits. Until the
 * token arrives the job is held back (gitauth_spec_add answers 1 and job.c
 * does not send it); the completion then sends it, or fails it with the
 * reason when no token can be had. Tokens live only in this module's
 * memory cache, keyed by job id, until they near expiry; they are never
 * stored or logged.
 */
#include "gitauth.h"
#include "giturl.h"
#include "job.h"
#include "log.h"
#include "outbound.h"
#include "proto.h"
#include "store.h"
#include "util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 512
#define CACHE_MAX 1024
#define TOKEN_MARGIN 300        /* seconds: a token this close to expiry is renewed */

void repos_secret_ad(int64_t repo_id, const char *what, char *out, size_t n)
{
    snprintf(out, n, "repo:%lld:%s", (long long)repo_id, what);
}

/* ---- the token cache (loop thread) ---- */

struct tok {
    int64_t job_id;
    char token[TOKEN_MAX];
    int64_t expires_at;         /* 0 while minting */
    int minting;
    struct tok *next;
};

static struct tok *cache;
static int ncache;

static void tok_free(struct tok *t)
{
    crypto_wipe(t->token, sizeof t->token);
    free(t);
}

static void cache_prune(int64_t now)
{
    for (struct tok **pp = &cache; *pp;) {
        struct tok *t = *pp;
        if (!t->minting && t->expires_at <= now + TOKEN_MARGIN) {
            *pp = t->next;
            tok_free(t);
            ncache--;
        } else {
            pp = &t->next;
        }
    }
}

static struct tok *cache_get(int64_t job_id)
{
    for (struct tok *t = cache; t; t = t->next)
        if (t->job_id == job_id)
            return t;
    return NULL;
}

void gitauth_clear(void)
{
    while (cache) {
        struct tok *t = cache;
        cache = t->next;
        tok_free(t);
    }
    ncache = 0;
}

/* ---- JWT (any thread) ---- */

static char *b64url(const void *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    if (out)
        sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static EVP_PKEY *read_key(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (k && EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

int gitauth_rsa_key_ok(const char *pem, size_t len)
{
    EVP_PKEY *k = read_key(pem, len);
    EVP_PKEY_free(k);
    return k != NULL;
}

int gitauth_jwt(const char *pem, size_t pem_len, int64_t app_id, int64_t now, char **out,
                char *err, size_t errlen)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    int rc = -1;
    char claims[160];
    char *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *key = read_key(pem, pem_len);
    *out = NULL;
    if (!key) {
        snprintf(err, errlen, "the GitHub App key is not a readable RSA private key");
        goto done;
    }
    snprintf(claims, sizeof claims, "{\"iat\":%lld,\"exp\":%lld,\"iss\":\"%lld\"}",
             (long long)(now - 60), (long long)(now + 540), (long long)app_id);
    h64 = b64url(header, sizeof header - 1);
    c64 = b64url(claims, strlen(claims));
    if (!h64 || !c64 || !(input = malloc(strlen(h64) + strlen(c64) + 2)))
        goto oom;
    sprintf(input, "%s.%s", h64, c64);
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
        !(sig = malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        snprintf(err, errlen, "signing the GitHub App JWT failed");
        goto done;
    }
    if (!(s64 = b64url(sig, siglen)) || !(*out = malloc(strlen(input) + strlen(s64) + 2)))
        goto oom;
    sprintf(*out, "%s.%s", input, s64);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    free(h64);
    free(c64);
    free(s64);
    free(input);
    free(sig);
    return rc;
}

/* ---- the exchange (worker thread) ---- */

struct mint {
    struct srv *srv;
    int64_t job_id;
    int64_t app_id, installation_id;
    char api_url[512];
    char *pem;                  /* plaintext key; wiped and freed by the worker */
    size_t pem_len;
    /* results */
    int ok;
    char token[TOKEN_MAX];
    int64_t expires_at;
    char error[1024];
};

static void mint_work(struct outbound *ob, void *arg)
{
    struct mint *m = arg;
    char *jwt = NULL, url[700], auth[4096], err[512];
    struct outbound_resp rs = {0, NULL, 0};
    json_t *o = NULL;
    int rc = gitauth_jwt(m->pem, m->pem_len, m->app_id, util_now(), &jwt, m->error,
                         sizeof m->error);
    crypto_wipe(m->pem, m->pem_len);
    free(m->pem);
    m->pem = NULL;
    if (rc < 0)
        goto done;
    snprintf(url, sizeof url, "%s/app/installations/%lld/access_tokens", m->api_url,
             (long long)m->installation_id);
    if ((size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", jwt) >= sizeof auth) {
        snprintf(m->error, sizeof m->error, "the GitHub App JWT is too long");
        goto done;
    }
    const char *const hdrs[] = {auth, "Accept: application/vnd.github+json",
                                "X-GitHub-Api-Version: 2022-11-28", NULL};
    struct outbound_req rq = {"POST", url, hdrs, NULL, 0};
    if (outbound_fetch(ob, &rq, &rs, err, sizeof err) < 0) {
        snprintf(m->error, sizeof m->error, "%.500s: %.500s", m->api_url, err);
        goto done;
    }
    o = rs.body ? json_loads(rs.body, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(o, "token"));
    if (rs.status != 201 && rs.status != 200) {
        const char *msg = json_string_value(json_object_get(o, "message"));
        snprintf(m->error, sizeof m->error, "%s answered %ld%s%.200s", m->api_url, rs.status,
                 msg ? ": " : "", msg ? msg : "");
        goto done;
    }
    if (!tok || !*tok || strlen(tok) >= sizeof m->token) {
        snprintf(m->error, sizeof m->error, "%s answered without a token", m->api_url);
        goto done;
    }
    util_strlcpy(m->token, tok, sizeof m->token);
    const char *exp = json_string_value(json_object_get(o, "expires_at"));
    if (!exp || util_parse_time(exp, &m->expires_at) < 0)
        m->expires_at = util_now() + 3600;
    m->ok = 1;
done:
    if (o) {
        json_t *t = json_object_get(o, "token");
        if (json_is_string(t)) /* wipe jansson's copy too */
            crypto_wipe((char *)json_string_value(t), strlen(json_string_value(t)));
    }
    json_decref(o);
    outbound_resp_release(&rs);
    if (jwt) {
        crypto_wipe(jwt, strlen(jwt));
        free(jwt);
    }
    crypto_wipe(auth, sizeof auth);
}

/* Back on the loop: cache the token and send the held job, or fail it. */
static void mint_done(void *arg, int ran)
{
    struct mint *m = arg;
    if (!ran) {
        snprintf(m->error, sizeof m->error, "berthd's outbound queue is full or berthd is "
                 "stopping; deploy again");
        if (m->pem) {
            crypto_wipe(m->pem, m->pem_len);
            free(m->pem);
            m->pem = NULL;
        }
    }
    struct srv *s = m->srv;
    struct tok *t = cache_get(m->job_id);
    struct job j;
    int have_job = store_job_get(s->store, 0, m->job_id, &j) == STORE_OK;
    int pending = have_job && strcmp(j.status, "PENDING") == 0;
    if (m->ok && t) {
        util_strlcpy(t->token, m->token, sizeof t->token);
        t->expires_at = m->expires_at;
        t->minting = 0;
        if (pending && !s->stopping)
            job_send(s, &j);
    } else {
        if (t) {
            t->minting = 0;
            t->expires_at = 0; /* pruned next time */
        }
        char reason[1200];
        snprintf(reason, sizeof reason, "clone: no GitHub App installation token: %s",
                 m->ok ? "the request was forgotten" : m->error);
        log_error("gitauth", "job %lld: %s", (long long)m->job_id, reason);
        /* Stopping aborts the exchanges in flight: the job stays PENDING
         * and is sent (and its token minted) again after the restart. */
        if (pending && !s->stopping)
            job_fail_pending(s, m->job_id, reason); /* ends its followers too */
    }
    if (have_job)
        store_job_release(&j);
    crypto_wipe(m->token, sizeof m->token);
    free(m);
}

/* ---- at send time (loop) ---- */

static int ssh_url(const char *u)
{
    if (strncmp(u, "ssh://", 6) == 0 || strncmp(u, "git+ssh://", 10) == 0 ||
        strncmp(u, "ssh+git://", 10) == 0)
        return 1;
    return !strstr(u, "://"); /* scp-like user@host:path */
}

static void add_ssh_key(struct srv *s, const struct repo *rp, json_t *spec)
{
    char ad[96];
    size_t len = 0;
    repos_secret_ad(rp->id, "deploy_key", ad, sizeof ad);
    char *key = crypto_open(s->secret_key, ad, rp->deploy_key_sealed, &len);
    if (!key) {
        log_error("gitauth", "repo %lld: the deploy key cannot be opened (another master "
                  "key?); sent without it", (long long)rp->id);
        return;
    }
    struct proto_git_auth g = {.auth = "ssh_key", .ssh_key = key};
    if (proto_deploy_spec_add_secrets(spec, NULL, 0, &g) < 0)
        log_error("gitauth", "repo %lld: the deploy key cannot go in the frame", (long long)rp->id);
    crypto_wipe(key, len);
    free(key);
}

static void add_token(json_t *spec, const char *token)
{
    struct proto_git_auth g = {.auth = "token", .token = token, .username = "x-access-token"};
    proto_deploy_spec_add_secrets(spec, NULL, 0, &g);
}

/* Starts minting for job_id; 1 (held) or 0 (could not start: sent without). */
static int start_mint(struct srv *s, const struct repo *rp, int64_t job_id)
{
    char ad[96];
    size_t len = 0;
    repos_secret_ad(rp->id, "github_app_key", ad, sizeof ad);
    char *pem = crypto_open(s->secret_key, ad, rp->gh_key_sealed, &len);
    if (!pem) {
        log_error("gitauth", "repo %lld: the GitHub App key cannot be opened (another master "
                  "key?); sent without a token", (long long)rp->id);
        return 0;
    }
    struct mint *m = calloc(1, sizeof *m);
    struct tok *t = calloc(1, sizeof *t);
    if (!m || !t)
        goto fail;
    m->srv = s;
    m->job_id = job_id;
    m->app_id = rp->gh_app_id;
    m->installation_id = rp->gh_installation_id;
    util_strlcpy(m->api_url, rp->gh_api_url[0] ? rp->gh_api_url : REPOS_GITHUB_API,
                 sizeof m->api_url);
    m->pem = pem;
    m->pem_len = len;
    t->job_id = job_id;
    t->minting = 1;
    t->next = cache;
    cache = t;
    ncache++;
    if (outbound_submit(s->outbound, mint_work, mint_done, m) < 0) {
        cache = t->next;
        ncache--;
        goto fail; /* out of memory: nothing will run */
    }
    return 1;
fail:
    crypto_wipe(pem, len);
    free(pem);
    free(m);
    free(t);
    return 0;
}

int gitauth_spec_add(struct srv *s, int64_t job_id, int64_t app_id, int rollback,
                     json_t *spec)
{
    char ref[24], norm[GITURL_MAX];
    struct app a;
    struct repo rp;
    int rc = 0;
    if (rollback)
        return 0; /* no clone: no credential (and no token to wait for) */
    snprintf(ref, sizeof ref, "%lld", (long long)app_id);
    if (store_app_find(s->store, 0, ref, &a) != STORE_OK)
        return 0;
    int found = giturl_normalize(a.repo_url, norm, sizeof norm) == 0 &&
                store_repo_by_norm(s->store, a.org_id, norm, &rp) == STORE_OK;
    int ssh = ssh_url(a.repo_url);
    store_app_release(&a);
    if (!found)
        return 0;
    int has_key = rp.deploy_key_sealed != NULL, has_app = rp.gh_app_id && rp.gh_key_sealed;
    if (has_key && (ssh || !has_app)) {
        add_ssh_key(s, &rp, spec);
    } else if (has_app) {
        int64_t now = util_now();
        cache_prune(now);
        struct tok *t = cache_get(job_id);
        if (t && t->minting)
            rc = 1;
        else if (t)
            add_token(spec, t->token);
        else if (ncache < CACHE_MAX)
            rc = start_mint(s, &rp, job_id);
        else
            log_error("gitauth", "job %lld: too many tokens in flight; sent without one",
                      (long long)job_id);
    }
    store_repo_release(&rp);
    return rc;
}
