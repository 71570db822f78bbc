/* api_auth.c - login/logout sessions, invitation acceptance, the caller's
 * identity, and the service endpoints (/healthz, /metrics).
 *
 * Password work (argon2id) runs on the worker pool: the handler looks the
 * account up on the loop, hands the verify/hash to a worker with its own
 * copy of the password, and finishes on the loop in the completion. */
#include "access.h"
#include "acme.h"
#include "api.h"
#include "guard.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "ratelimit.h"
#include "util.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024


/* Lower-cases an email into out; -1 if it does not fit. */
static int norm_email(const char *in, char *out, size_t n)
{
    if (util_strlcpy(out, in, n) < 0)
        return -1;
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* ---- login ---- */

struct pw_job {
    struct req *r;
    char hash[CRYPTO_PWHASH_MAX];
    char password[PASSWORD_MAX + 1];
    char email[256];
    char ip[64];       /* login: the address whose attempt is reserved */
    int64_t user_id;   /* login: 0 when no such active account */
    struct invite inv; /* accept-invite */
    int ok;
    int cookie;        /* login: the dashboard's cookie session */
};

static void pw_job_free(struct pw_job *j)
{
    crypto_wipe(j, sizeof *j);
    free(j);
}

static void login_work(void *arg)
{
    struct pw_job *j = arg;
    j->ok = crypto_password_verify(j->hash, j->password) == 0 && j->user_id;
    crypto_wipe(j->password, sizeof j->password);
}

/* Ends the attempts reserved for j (exactly once per login job). */
static void login_settle(struct srv *s, struct pw_job *j, int failed)
{
    int64_t now = util_now();
    ratelimit_settle(s->rl_account, j->email, failed, now);
    ratelimit_settle(s->rl_address, j->ip, failed, now);
    if (!failed && j->ok)
        ratelimit_reset(s->rl_account, j->email);
}

/* The dashboard's session (docs/dashboard.md): the token goes only into
 * an HttpOnly, SameSite=Strict cookie (Secure under TLS) that the page's
 * script cannot read; the CSRF token derived from it goes into a readable
 * cookie and the answer, for the page to send back as X-CSRF-Token. */
static void set_cookies(struct req *r, const char *session, const char *csrf, int max_age)
{
    char c[400];
    const char *secure = r->srv->cfg.tls_cert[0] ? "; Secure" : "";
    snprintf(c, sizeof c, GUARD_SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; "
             "SameSite=Strict%s", session, max_age, secure);
    http_add_header(r, "set-cookie", c);
    snprintf(c, sizeof c, GUARD_CSRF_COOKIE "=%s; Path=/; Max-Age=%d; SameSite=Strict%s", csrf,
             max_age, secure);
    http_add_header(r, "set-cookie", c);
    crypto_wipe(c, sizeof c);
}

static void login_cookie_answer(struct req *r, const char *token, const struct pw_job *j,
                                int64_t exp)
{
    char csrf[CRYPTO_HASH_HEX];
    guard_csrf_token(r->srv, token, csrf);
    int64_t age = exp - util_now();
    set_cookies(r, token, csrf, age > 0 && age < INT32_MAX ? (int)age : 0);
    http_reply_json(r, 200, json_pack("{s:o, s:s, s:{s:I, s:s}}", "expires_at", api_time(exp),
                                      "csrf", csrf, "user", "id", (json_int_t)j->user_id,
                                      "email", j->email));
}

static void login_done(void *arg)
{
    struct pw_job *j = arg;
    struct req *r = j->r;
    struct srv *s = r->srv;
    login_settle(s, j, !j->ok); /* a checked password counts, answered or not */
    if (http_gone(r)) {
        pw_job_free(j);
        return;
    }
    if (!j->ok) {
        http_reply_error(r, 401, "invalid_credentials", "invalid email or password");
        http_complete(r);
        pw_job_free(j);
        return;
    }
    char token[CRYPTO_TOKEN_MAX];
    int64_t id, now = util_now(), exp = now + s->cfg.session_ttl;
    int rc = api_issue_token(r, j->user_id, "session", "login", SC_ALL, 0, 0, now, exp, token,
                             &id);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "session");
    } else {
        r->authed = 1;
        r->who.user_id = j->user_id;
        r->who.token_id = id;
        util_strlcpy(r->who.email, j->email, sizeof r->who.email);
        snprintf(r->audit_target, sizeof r->audit_target, "user:%lld", (long long)j->user_id);
        if (j->cookie)
            login_cookie_answer(r, token, j, exp);
        else
            http_reply_json(r, 200, json_pack("{s:s, s:o, s:{s:I, s:s}}", "token", token,
                                              "expires_at", api_time(exp), "user", "id",
                                              (json_int_t)j->user_id, "email", j->email));
    }
    crypto_wipe(token, sizeof token);
    http_complete(r);
    pw_job_free(j);
}

static int read_password(struct req *r, json_t *b, const char **pw)
{
    if (req_str(r, b, "password", 1, pw) < 0)
        return -1;
    if (strlen(*pw) > PASSWORD_MAX) {
        http_reply_error(r, 422, "invalid_field", "field 'password' is longer than %d bytes",
                         PASSWORD_MAX);
        return -1;
    }
    return 0;
}

/* Reserves one attempt for the account and one for the address before the
 * password is checked, so attempts in flight count against the limits
 * (docs/access.md). -1 when refused (429 answered, nothing reserved). */
static int login_reserve(struct req *r, struct pw_job *j)
{
    struct srv *s = r->srv;
    int64_t now = util_now();
    int retry = 0;
    if (ratelimit_reserve(s->rl_address, j->ip, now, &retry) == 0) {
        if (ratelimit_reserve(s->rl_account, j->email, now, &retry) == 0)
            return 0;
        ratelimit_settle(s->rl_address, j->ip, 0, now);
    }
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry);
    http_add_header(r, "retry-after", ra);
    http_reply_error(r, 429, "rate_limited", "too many failed logins; retry in %d s", retry);
    return -1;
}

void api_login(struct req *r)
{
    static const char *const fields[] = {"email", "password", "cookie", NULL};
    struct srv *s = r->srv;
    json_t *b = req_json(r);
    const char *email, *password;
    int cookie = 0;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "email", 1, &email) < 0 ||
        read_password(r, b, &password) < 0 || req_bool(r, b, "cookie", 0, &cookie) < 0)
        return;
    /* A cookie login from another site would sign the browser in to
     * someone else's account (login CSRF): the browser must say it is ours. */
    if (cookie && guard_same_origin(r) < 0)
        return;
    struct pw_job *j = calloc(1, sizeof *j);
    if (!j || norm_email(email, j->email, sizeof j->email) < 0) {
        free(j);
        http_reply_error(r, 422, "invalid_field", "field 'email' is too long");
        return;
    }
    util_strlcpy(r->audit_actor, j->email, sizeof r->audit_actor);
    util_strlcpy(j->ip, req_ip(r), sizeof j->ip);
    if (login_reserve(r, j) < 0) {
        pw_job_free(j);
        return;
    }
    struct user u;
    int rc = store_user_by_email(s->store, j->email, &u);
    if (rc == STORE_OK && strcmp(u.status, "active") == 0 && u.pwhash[0]) {
        j->user_id = u.id;
        util_strlcpy(j->hash, u.pwhash, sizeof j->hash);
    } else if (rc == STORE_OK || rc == STORE_NOTFOUND) {
        /* Same work whether or not the account exists. */
        util_strlcpy(j->hash, s->dummy_pwhash, sizeof j->hash);
    } else {
        login_settle(s, j, 0);
        pw_job_free(j);
        api_store_error(r, rc, "user");
        return;
    }
    util_strlcpy(j->password, password, sizeof j->password);
    j->cookie = cookie;
    j->r = r;
    http_defer(r);
    if (pool_submit(s->pool, login_work, login_done, j) < 0) {
        r->pending = 0;
        login_settle(s, j, 0);
        pw_job_free(j);
        http_reply_error(r, 503, "unavailable", "server busy");
    }
}

void api_logout(struct req *r)
{
    snprintf(r->audit_target, sizeof r->audit_target, "token:%lld", (long long)r->who.token_id);
    int rc = store_token_revoke(r->srv->store, r->who.token_id, r->who.user_id, util_now());
    if (rc != STORE_OK) {
        api_store_error(r, rc, "token");
        return;
    }
    if (r->by_cookie) /* the browser forgets the session too */
        set_cookies(r, "", "", 0);
    http_reply_empty(r, 204);
}

/* ---- invitations ----
 * An invite token sets the password of an account that never activated,
 * once. Everything is checked again in one transaction after the hash is
 * made (the account may have activated meanwhile, through another of its
 * invitations): the invitation is used, the account goes from invited to
 * active (else nothing happens), the membership is made, and the account's
 * other invitations are voided. An active account accepts invitations
 * while logged in (api_invite_accept). */

/* The one answer for every invitation that cannot set a password, so an
 * admin holding a token learns nothing about the account behind it. */
static void invalid_invite(struct req *r)
{
    http_reply_error(r, 401, "invalid_invite",
                     "the invitation is invalid or already used; if you already have an "
                     "account, log in and accept it with `berth invite accept`");
}

static void invite_work(void *arg)
{
    struct pw_job *j = arg;
    j->ok = crypto_password_hash(j->password, j->hash) == 0;
    crypto_wipe(j->password, sizeof j->password);
}

/* The transaction of an acceptance; answers and returns -1 on failure. */
static int invite_apply(struct req *r, struct pw_job *j)
{
    struct store *st = r->srv->store;
    const struct invite *inv = &j->inv;
    int64_t now = util_now();
    if (store_begin(st) != STORE_OK) {
        api_store_error(r, STORE_ERR, "invite");
        return -1;
    }
    int rc = store_invite_use(st, inv->id, now);
    if (rc == STORE_OK)
        rc = store_user_activate(st, inv->user_id, j->hash, now);
    if (rc == STORE_OK)
        rc = store_member_add(st, inv->org_id, inv->user_id, inv->role, now);
    if (rc == STORE_OK)
        rc = store_invites_void_others(st, inv->user_id, inv->id, now);
    if (rc == STORE_OK)
        rc = store_commit(st);
    if (rc == STORE_OK)
        return 0;
    store_rollback(st);
    if (rc == STORE_NOTFOUND)
        invalid_invite(r);
    else
        api_store_error(r, STORE_ERR, "invite");
    return -1;
}

static void invite_done(void *arg)
{
    struct pw_job *j = arg;
    struct req *r = j->r;
    struct user u;
    if (http_gone(r)) {
        pw_job_free(j);
        return;
    }
    if (!j->ok) {
        http_reply_error(r, 500, "internal", "cannot hash the password");
        goto done;
    }
    if (invite_apply(r, j) < 0)
        goto done;
    if (store_user_get(r->srv->store, j->inv.user_id, &u) != STORE_OK) {
        api_store_error(r, STORE_ERR, "user");
        goto done;
    }
    r->authed = 1;
    r->who.user_id = u.id;
    util_strlcpy(r->who.email, u.email, sizeof r->who.email);
    http_reply_json(r, 200, json_pack("{s:{s:I, s:s, s:s}}", "user", "id", (json_int_t)u.id,
                                      "email", u.email, "status", u.status));
done:
    http_complete(r);
    pw_job_free(j);
}

void api_accept_invite(struct req *r)
{
    static const char *const fields[] = {"token", "password", NULL};
    struct srv *s = r->srv;
    json_t *b = req_json(r);
    const char *token, *password;
    if (!b || req_only_fields(r, b, fields) < 0 || req_str(r, b, "token", 1, &token) < 0 ||
        read_password(r, b, &password) < 0)
        return;
    if (strlen(password) < PASSWORD_MIN) {
        http_reply_error(r, 422, "invalid_field", "field 'password' must be at least %d "
                         "characters", PASSWORD_MIN);
        return;
    }
    char hash[CRYPTO_HASH_HEX];
    crypto_token_hash(s->token_key, token, hash);
    struct invite inv;
    struct user u;
    int rc = store_invite_by_hash(s->store, hash, &inv);
    if (rc == STORE_OK)
        rc = store_user_get(s->store, inv.user_id, &u);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && (inv.used_at || inv.voided_at ||
                                                    strcmp(u.status, "invited") != 0))) {
        invalid_invite(r);
        return;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "invite");
        return;
    }
    snprintf(r->audit_target, sizeof r->audit_target, "user:%lld", (long long)inv.user_id);
    r->audit_org = inv.org_id;
    if (inv.expires_at <= util_now()) {
        http_reply_error(r, 401, "invalid_invite", "the invitation has expired; ask for a new one");
        return;
    }
    struct pw_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    j->r = r;
    j->inv = inv;
    util_strlcpy(j->password, password, sizeof j->password);
    http_defer(r);
    if (pool_submit(s->pool, invite_work, invite_done, j) < 0) {
        r->pending = 0;
        pw_job_free(j);
        http_reply_error(r, 503, "unavailable", "server busy");
    }
}

/* ---- the caller ---- */

/* One of the caller's organizations in GET /me: the role and what the
 * caller may do there with this token (role scopes & token scopes). */
static int me_org(void *arg, const struct org *o, const char *role)
{
    struct req *r = arg;
    struct jw *w = http_json(r);
    uint32_t eff = access_role_scopes(access_role_parse(role)) & r->who.token_scopes;
    if (r->who.token_org_id && o->id != r->who.token_org_id)
        eff = 0;
    char t[32];
    util_iso8601(o->created_at, t, sizeof t);
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, o->id);
    jw_key(w, "name");
    jw_str(w, o->name);
    jw_key(w, "role");
    jw_str(w, role);
    jw_key(w, "created_at");
    jw_str(w, t);
    jw_key(w, "scopes");
    api_scopes_write(w, eff);
    jw_obj_end(w);
    return 0;
}

void api_me(struct req *r)
{
    struct store *st = r->srv->store;
    struct user u;
    int rc = store_user_get(st, r->who.user_id, &u);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "user");
        return;
    }
    struct jw *w = http_json(r);
    jw_obj(w);
    jw_key(w, "user");
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, u.id);
    jw_key(w, "email");
    jw_str(w, u.email);
    jw_key(w, "created_at");
    api_time_write(w, u.created_at);
    jw_obj_end(w);
    jw_key(w, "orgs");
    jw_arr(w);
    rc = store_orgs_of_user(st, u.id, me_org, r);
    if (rc != STORE_OK) {
        api_store_error(r, rc, "user");
        return;
    }
    jw_arr_end(w);
    jw_key(w, "token");
    jw_obj(w);
    jw_key(w, "id");
    jw_int(w, r->who.token_id);
    jw_key(w, "kind");
    jw_str(w, r->who.token_kind);
    jw_key(w, "scopes");
    api_scopes_write(w, r->who.token_scopes);
    jw_key(w, "org");
    if (r->who.token_org_id)
        jw_int(w, r->who.token_org_id);
    else
        jw_null(w);
    jw_obj_end(w);
    jw_obj_end(w);
    http_reply_jw(r, 200);
}

void api_healthz(struct req *r)
{
    json_t *o = json_pack("{s:s}", "status", "ok");
    int issued = 0;
    int64_t na = acme_not_after(r->srv->acme, &issued);
    if (o && r->srv->acme) { /* the certificate is public: anyone sees it in the handshake */
        char when[32] = "";
        if (na)
            util_iso8601(na, when, sizeof when);
        json_object_set_new(o, "certificate",
                            json_pack("{s:s, s:s?, s:I}", "source", issued ? "acme" : "placeholder",
                                      "not_after", na ? when : NULL, "not_after_unix",
                                      (json_int_t)na));
    }
    http_reply_json(r, 200, o);
}

void api_metrics(struct req *r)
{
    struct buf b;
    buf_init(&b, 4 * 1024 * 1024);
    if (metrics_render(r->srv->metrics, &b) < 0) {
        buf_release(&b);
        http_reply_error(r, 500, "internal", "metrics too large");
        return;
    }
    size_t len;
    char *data = buf_steal(&b, &len);
    http_reply_raw(r, 200, "text/plain; version=0.0.4", data, len);
}
