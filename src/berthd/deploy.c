/* deploy.c - deployments as jobs: the per-application queue, the `deploy`
 * job spec, env added at send time, and the runner's step reports and
 * result mapped back onto the deployment (docs/deploy.md, the "deploy
 * jobs" section of docs/protocol.md).
 *
 * Owns nothing long-lived: every call reads what it needs from the store
 * and frees it before returning. Env plaintext exists only inside
 * the kind's at_send hook, on its way into the frame sent to the runner;
 * the stored job spec never holds it.
 */
#include "deploy.h"
#include "certificates.h"
#include "events.h"
#include "gitauth.h"
#include "job.h"
#include "jsonx.h"
#include "proto.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void deploy_env_ad(int64_t app_id, const char *key, char *out, size_t n)
{
    snprintf(out, n, "app:%lld:env:%s", (long long)app_id, key);
}

/* HMAC of a fixed text under the master key: names the installation
 * without telling anything of the key. */
static void install_id(const struct srv *s, char out[9])
{
    static const char what[] = "berth docker names";
    char hex[65];
    crypto_hmac_sha256_hex(s->secret_key, sizeof s->secret_key, what, sizeof what - 1, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

void deploy_image_name(const struct srv *s, int64_t app_id, int64_t deployment_id, char *out,
                       size_t n)
{
    char iid[9];
    install_id(s, iid);
    snprintf(out, n, "berth-%s-%lld:%lld", iid, (long long)app_id, (long long)deployment_id);
}

void deploy_container_name(const struct srv *s, int64_t app_id, int64_t deployment_id, char *out,
                           size_t n)
{
    char iid[9];
    install_id(s, iid);
    snprintf(out, n, "berth-%s-%lld-%lld", iid, (long long)app_id, (long long)deployment_id);
}

/* The stored spec: everything the runner needs except env and git, built
 * by src/core/proto.c (the runner parses it with the same rules). NULL
 * when the app's settings break a rule or memory ran out. */
static json_t *build_spec(struct srv *s, const struct app *a, const struct deployment *d,
                          const char *image)
{
    char container[96], prev_container[96], dep[24], app_id[24], prev_dep[24];
    const char *domains[PROTO_DEPLOY_DOMAINS_MAX];
    struct deployment cur;
    struct proto_deploy_spec p;
    memset(&p, 0, sizeof p);
    deploy_container_name(s, a->id, d->id, container, sizeof container);
    snprintf(dep, sizeof dep, "%lld", (long long)d->id);
    snprintf(app_id, sizeof app_id, "%lld", (long long)a->id);
    json_t *dj = json_loads(a->domains_json ? a->domains_json : "[]", 0, NULL);
    size_t nd = 0, i;
    json_t *v;
    json_array_foreach(dj, i, v)
        if (json_is_string(v) && nd < PROTO_DEPLOY_DOMAINS_MAX)
            domains[nd++] = json_string_value(v);
    int rollback = strcmp(d->kind, "rollback") == 0;
    p.deployment = dep;
    p.kind = d->kind;
    p.app_id = app_id;
    p.app_name = a->name;
    p.repo_url = a->repo_url;
    p.branch = a->branch;
    p.commit = d->commit[0] ? d->commit : NULL;
    p.dockerfile = a->dockerfile;
    p.context = a->context;
    p.image = image;
    p.rollback_image = rollback ? image : NULL;
    p.container_name = container;
    p.container_port = a->container_port;
    p.restart_policy = a->restart_policy[0] ? a->restart_policy : NULL;
    p.memory = a->memory;
    p.cpus = a->cpus > 0 ? a->cpus : 0;
    p.health_path = a->health_path;
    p.health_tries = DEPLOY_HEALTH_TRIES;
    p.health_backoff_ms = DEPLOY_HEALTH_BACKOFF_MS;
    p.health_timeout_s = a->health_timeout;
    p.public_port = a->public_port;
    p.domains = domains;
    p.ndomains = nd;
    p.keep_images = a->keep_images;
    p.drain_seconds = a->drain_seconds;
    p.clone_s = a->clone_timeout;
    p.build_s = a->build_timeout;
    p.health_s = a->health_timeout;
    if (a->current_deployment_id &&
        store_deployment_get(s->store, 0, a->current_deployment_id, &cur) == STORE_OK &&
        cur.image[0]) {
        deploy_container_name(s, a->id, cur.id, prev_container, sizeof prev_container);
        snprintf(prev_dep, sizeof prev_dep, "%lld", (long long)cur.id);
        p.prev_deployment = prev_dep;
        p.prev_image = cur.image;
        p.prev_container = prev_container;
        p.prev_commit = cur.resolved_commit[0] ? cur.resolved_commit : NULL;
    }
    json_t *spec = proto_deploy_spec(&p);
    json_decref(dj);
    return spec;
}

/* What the organization's event stream says of d (events.h). */
static void dep_event(struct srv *s, const struct deployment *d, const char *status,
                      const char *step, const char *step_status)
{
    if (!events_wanted(s, d->org_id))
        return;
    events_publish(s, d->org_id, SC_DEPLOY_READ, "deployment",
                   json_pack("{s:I, s:I, s:I, s:s, s:s?, s:s?}", "id", (json_int_t)d->id,
                             "app_id", (json_int_t)d->app_id, "server_id",
                             (json_int_t)d->server_id, "status", status, "step",
                             step && *step ? step : NULL, "step_status", step_status));
}

static void finish(struct srv *s, const struct deployment *d, const char *status,
                   const char *step, const char *reason, int64_t rolled_back_to)
{
    if (store_deployment_finish(s->store, d->id, status, step && *step ? step : NULL,
                                reason && *reason ? reason : NULL, rolled_back_to,
                                util_now()) == STORE_OK) {
        log_info("deploy", "deployment %lld (app %lld): %s%s%s", (long long)d->id,
                 (long long)d->app_id, status, reason && *reason ? ": " : "",
                 reason && *reason ? reason : "");
        dep_event(s, d, status, step, NULL);
    }
}

/* Creates d's job and marks d dispatched, in one transaction. */
static int dispatch(struct srv *s, const struct app *a, const struct deployment *d)
{
    char image[256];
    if (strcmp(d->kind, "rollback") == 0 && d->image[0])
        util_strlcpy(image, d->image, sizeof image);
    else
        deploy_image_name(s, a->id, d->id, image, sizeof image);
    json_t *spec = build_spec(s, a, d, image);
    if (!spec) {
        log_error("deploy", "deployment %lld (app %s): its spec breaks the protocol's rules",
                  (long long)d->id, a->name);
        finish(s, d, "FAILED", NULL, "the app's settings cannot be sent to the runner (a value "
               "is out of the protocol's bounds; see docs/protocol.md)", 0);
        return 1;
    }
    struct job j;
    memset(&j, 0, sizeof j);
    j.org_id = d->org_id;
    j.server_id = a->server_id;
    util_strlcpy(j.kind, DEPLOY_JOB_KIND, sizeof j.kind);
    j.spec_json = spec ? jx_dump(spec, NULL) : NULL;
    json_decref(spec);
    j.created_at = util_now();
    j.created_by = d->created_by;
    int rc = STORE_ERR;
    if (!j.spec_json || store_begin(s->store) != STORE_OK)
        goto done;
    rc = job_insert(s, &j);
    if (rc == STORE_OK)
        rc = store_deployment_dispatch(s->store, d->id, j.id, image);
    if (rc == STORE_OK)
        rc = store_commit(s->store);
    if (rc != STORE_OK) {
        store_rollback(s->store);
        goto done;
    }
    log_info("deploy", "deployment %lld (app %s): job %lld on server %lld", (long long)d->id,
             a->name, (long long)j.id, (long long)j.server_id);
    job_submitted(s, &j);
done:
    free(j.spec_json);
    return rc == STORE_OK ? 0 : -1;
}

void deploy_pump(struct srv *s, int64_t app_id)
{
    struct deployment d;
    if (store_deployment_active(s->store, app_id, &d) != STORE_NOTFOUND)
        return; /* the slot is taken (or the store failed: try next time) */
    char ref[24];
    snprintf(ref, sizeof ref, "%lld", (long long)app_id);
    /* Bounded: each pass ends one queued deployment or returns. */
    for (int guard = 0; guard < 1000; guard++) {
        if (store_deployment_next(s->store, app_id, &d) != STORE_OK)
            return;
        struct app a;
        if (store_app_find(s->store, 0, ref, &a) != STORE_OK)
            return;
        struct server sv;
        int rc = store_server_get(s->store, a.server_id, &sv);
        if (rc == STORE_OK && !sv.decommissioned_at && sv.id == d.server_id) {
            int ok = dispatch(s, &a, &d);
            store_app_release(&a);
            if (ok > 0)
                continue; /* failed before it started: the next one may go */
            if (ok < 0)
                log_error("deploy", "deployment %lld: cannot create its job; it stays queued",
                          (long long)d.id);
            return;
        }
        store_app_release(&a);
        if (rc != STORE_OK && rc != STORE_NOTFOUND)
            return;
        finish(s, &d, "FAILED", NULL,
               rc == STORE_OK && sv.id == d.server_id
                   ? "the server was decommissioned before the deployment started"
                   : "the application moved to another server before the deployment started",
               0);
    }
}

int deploy_create(struct srv *s, const struct app *a, struct deployment *d, int64_t *id)
{
    d->org_id = a->org_id;
    d->app_id = a->id;
    d->server_id = a->server_id;
    d->created_at = util_now();
    int rc = store_deployment_create(s->store, d, id);
    if (rc != STORE_OK)
        return rc;
    deploy_pump(s, a->id);
    return STORE_OK;
}

static void boot_one(void *arg, int64_t app_id) { deploy_pump(arg, app_id); }

void deploy_boot(struct srv *s)
{
    if (store_apps_with_queue(s->store, boot_one, s) != STORE_OK)
        log_error("deploy", "cannot read the deployment queues");
}

int deploy_cancel(struct srv *s, const struct deployment *d)
{
    if (!d->job_id) { /* still queued: nothing ran */
        finish(s, d, "CANCELLED", NULL, "cancelled before it started", 0);
        deploy_pump(s, d->app_id);
        return 0;
    }
    /* Marked first: if the job never reached the runner it ends now, and
     * its end (job_finished, below) reads the mark. */
    if (store_deployment_set_cancel(s->store, d->id) != STORE_OK)
        return -1;
    int rc = job_cancel(s, d->job_id);
    return rc < 0 ? -1 : rc;
}

/* ---- the `deploy` job kind (job.c calls these) ---- */

struct env_ctx {
    struct srv *s;
    int64_t app_id;
    struct proto_env_var vars[PROTO_DEPLOY_ENV_MAX];
    size_t n;
    size_t lens[PROTO_DEPLOY_ENV_MAX];
};

static void env_add(void *arg, const char *name, const char *sealed)
{
    struct env_ctx *x = arg;
    char ad[160];
    size_t len = 0;
    deploy_env_ad(x->app_id, name, ad, sizeof ad);
    char *plain = crypto_open(x->s->secret_key, ad, sealed, &len);
    if (!plain) {
        log_error("deploy", "app %lld: env %s cannot be opened (another master key?); "
                  "sent without it", (long long)x->app_id, name);
        return;
    }
    char *n = x->n < PROTO_DEPLOY_ENV_MAX ? strdup(name) : NULL;
    if (!n) {
        crypto_wipe(plain, len);
        free(plain);
        return;
    }
    x->vars[x->n] = (struct proto_env_var){n, plain};
    x->lens[x->n++] = len;
}

/* The app's env, opened into the frame only (proto.c puts it there);
 * the plaintext is wiped as soon as the frame holds it. */
static void spec_add_env(struct srv *s, int64_t app_id, json_t *spec)
{
    struct env_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return;
    x->s = s;
    x->app_id = app_id;
    if (store_app_env_each(s->store, app_id, env_add, x) != STORE_OK)
        log_error("deploy", "app %lld: cannot read its env", (long long)app_id);
    if (proto_deploy_spec_add_secrets(spec, x->vars, x->n, NULL) < 0)
        log_error("deploy", "app %lld: its env cannot go in the frame", (long long)app_id);
    for (size_t i = 0; i < x->n; i++) {
        crypto_wipe((char *)x->vars[i].value, x->lens[i]);
        free((char *)x->vars[i].value);
        free((char *)x->vars[i].name);
    }
    free(x);
}

static void job_started(struct srv *s, int64_t job_id)
{
    struct deployment d;
    if (store_deployment_by_job(s->store, job_id, &d) == STORE_OK &&
        store_deployment_start(s->store, d.id, util_now()) == STORE_OK)
        dep_event(s, &d, "RUNNING", NULL, NULL);
}

/* One report line (src/core/proto.c's rules: a bad optional field is
 * ignored). Returns 1 when it says the new container serves. */
static int step_report(struct srv *s, const struct deployment *d, int64_t ts_ms,
                       const char *line, size_t len)
{
    json_t *hold = NULL;
    struct proto_deploy_step st;
    char err[128];
    int serving = 0;
    if (proto_parse_deploy_step(line, len, &hold, &st, err, sizeof err) == 0) {
        char dbuf[PROTO_STEP_DETAIL_MAX + 1];
        if (st.detail)
            util_strlcpy(dbuf, st.detail, sizeof dbuf);
        store_deploy_step(s->store, d->id, st.step, proto_deploy_step_index(st.step),
                          st.status, st.detail ? dbuf : NULL,
                          ts_ms > 0 ? ts_ms : (int64_t)(util_now() * 1000));
        if (st.commit && strlen(st.commit) > 63) /* a sha256 repository's id: no room yet */
            st.commit = NULL;
        if (st.commit || st.image || st.image_id)
            store_deployment_set_result(s->store, d->id, st.commit, st.image, st.image_id);
        serving = st.serving;
        dep_event(s, d, "RUNNING", st.step, st.status);
    }
    json_decref(hold);
    return serving;
}

/* The new container serves: SUCCEEDED, the app's current deployment, and
 * the app's next queued deployment may go (the runner holds its container
 * back until this one's cleanup ends). */
static void succeeded(struct srv *s, const struct deployment *d)
{
    if (strcmp(d->status, "PENDING") && strcmp(d->status, "RUNNING"))
        return;
    finish(s, d, "SUCCEEDED", NULL, NULL, 0);
    if (store_app_set_current(s->store, d->app_id, d->id) != STORE_OK)
        log_error("deploy", "app %lld: cannot record deployment %lld as current",
                  (long long)d->app_id, (long long)d->id);
    deploy_pump(s, d->app_id);
}

void deploy_tail_merge(json_t *kept, json_t *add)
{
    size_t i, n, first, total = 0;
    json_t *v;
    json_array_foreach(add, i, v)
        json_array_append(kept, v);
    n = first = json_array_size(kept);
    while (first > 0 && n - first < PROTO_TAIL_LINES) {
        size_t l = json_string_length(json_object_get(json_array_get(kept, first - 1), "text"));
        if (total + l > PROTO_TAIL_BYTES)
            break;
        total += l;
        first--;
    }
    for (i = 0; i < first; i++)
        json_array_remove(kept, 0);
}

/* A container line: collected into *tail ({ts, stream, text, cut?}).
 * 1 if it was one. */
static int tail_line(json_t **tail, const char *line, size_t len)
{
    json_t *hold = NULL;
    struct proto_tail_line tl;
    int rc = proto_parse_tail_line(line, len, &hold, &tl) == 0;
    if (rc && (*tail || (*tail = json_array()))) {
        json_t *o = json_pack("{s:I, s:s, s:s%}", "ts", (json_int_t)tl.ts, "stream",
                              tl.err ? "stderr" : "stdout", "text", tl.text, tl.len);
        if (o && tl.cut)
            json_object_set_new(o, "cut", json_true());
        if (o)
            json_array_append_new(*tail, o);
    }
    json_decref(hold);
    return rc;
}

/* Adds a chunk's container lines to the deployment record. They are the
 * app's output: never in berthd's log. */
static void tail_keep(struct srv *s, const struct deployment *d, json_t *add)
{
    char *text = NULL;
    json_t *kept = NULL;
    if (store_deployment_tail_get(s->store, d->id, &text) == STORE_OK && text)
        kept = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_array(kept)) {
        json_decref(kept);
        kept = json_array();
    }
    deploy_tail_merge(kept, add);
    text = kept ? json_dumps(kept, JSON_COMPACT) : NULL;
    if (!text || store_deployment_tail_set(s->store, d->id, text) != STORE_OK)
        log_error("deploy", "deployment %lld: cannot keep its container's last lines",
                  (long long)d->id);
    free(text);
    json_decref(kept);
}

static void job_system_line(struct srv *s, int64_t job_id, int64_t ts_ms, const char *data,
                            size_t len)
{
    struct deployment d;
    if (store_deployment_by_job(s->store, job_id, &d) != STORE_OK)
        return;
    /* Each line that is a JSON object is a container line or a step
     * report; other system lines are plain notes. */
    const char *p = data, *end = data + len;
    int serving = 0;
    json_t *tail = NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p < e && *p == '{' && !tail_line(&tail, p, (size_t)(e - p)))
            serving |= step_report(s, &d, ts_ms, p, (size_t)(e - p));
        p = nl ? nl + 1 : end;
    }
    if (tail)
        tail_keep(s, &d, tail);
    json_decref(tail);
    if (serving)
        succeeded(s, &d);
}

void deploy_parse_error(const char *error, char *step, size_t stepn, char *reason,
                        size_t reasonn, int64_t *rolled_back_to)
{
    static const char mark[] = "rolled back to deployment ";
    *rolled_back_to = 0;
    step[0] = '\0';
    util_strlcpy(reason, error ? error : "", reasonn);
    /* "...; rolled back to deployment N" (or the whole text). */
    char *m = strstr(reason, mark);
    if (m) {
        int64_t n;
        char num[24];
        size_t k = strspn(m + sizeof mark - 1, "0123456789");
        if (k > 0 && k < sizeof num) {
            memcpy(num, m + sizeof mark - 1, k);
            num[k] = '\0';
            if (util_parse_i64(num, &n) == 0)
                *rolled_back_to = n;
        }
        while (m > reason && (m[-1] == ' ' || m[-1] == ';'))
            m--;
        *m = '\0';
    }
    /* "step: reason" */
    char *colon = strchr(reason, ':');
    if (colon) {
        size_t l = (size_t)(colon - reason);
        char name[16];
        if (l < sizeof name) {
            memcpy(name, reason, l);
            name[l] = '\0';
            if (proto_deploy_step_index(name) >= 0) {
                util_strlcpy(step, name, stepn);
                const char *rest = colon + 1;
                while (*rest == ' ')
                    rest++;
                memmove(reason, rest, strlen(rest) + 1);
            }
        }
    }
}

static void job_finished(struct srv *s, int64_t job_id, int failed, const char *error)
{
    struct deployment d;
    if (store_deployment_by_job(s->store, job_id, &d) != STORE_OK)
        return;
    if (strcmp(d.status, "PENDING") == 0 || strcmp(d.status, "RUNNING") == 0) {
        if (!failed) {
            succeeded(s, &d);
            return;
        } else {
            char step[16], reason[512];
            int64_t back = 0;
            deploy_parse_error(error ? error : "the runner reported a failure", step,
                               sizeof step, reason, sizeof reason, &back);
            if (d.cancel_requested && strcmp(d.status, "PENDING") == 0)
                finish(s, &d, "CANCELLED", NULL, "cancelled before the runner started it", 0);
            else if (d.cancel_requested)
                finish(s, &d, "CANCELLED", step, reason[0] ? reason : "cancelled", back);
            else
                finish(s, &d, "FAILED", step, reason, back);
        }
    } else if (failed && strcmp(d.status, "SUCCEEDED") == 0) {
        /* a runner restarted during cleanup and found the new container
         * gone; the deployment had served and stays SUCCEEDED */
        log_warn("deploy", "deployment %lld: its job failed after it served: %s", (long long)d.id,
                 error ? error : "no reason given");
    }
    deploy_pump(s, d.app_id);
}

/* Every (re)delivery: the env, decrypted into the frame only, and the git
 * credentials (gitauth.c); a GitHub App token still being minted holds
 * the job back (gitauth sends it with job_send once the token is there). */
/* The app's domains as they are now, not as they were when the
 * deployment was dispatched: a name moved to another app meanwhile must
 * not come back with this deploy's swap. */
static void spec_set_domains(struct srv *s, int64_t app_id, json_t *spec)
{
    struct app a;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)app_id);
    if (store_app_find(s->store, 0, id, &a) != STORE_OK)
        return;
    json_t *d = json_loads(a.domains_json ? a.domains_json : "[]", 0, NULL);
    if (json_is_array(d) && json_array_size(d) <= PROTO_DEPLOY_DOMAINS_MAX)
        json_object_set_new(spec, "domains", d);
    else
        json_decref(d);
    certificates_spec_https(s, &a, spec);
    store_app_release(&a);
}

static int job_at_send(struct srv *s, const struct job *j, json_t *spec)
{
    struct proto_deploy_spec p;
    char err[160];
    int64_t app_id = 0;
    if (proto_parse_deploy_spec(spec, &p, err, sizeof err) < 0 || !p.app_id ||
        util_parse_i64(p.app_id, &app_id) < 0) {
        /* sent as stored: the runner refuses it with the same reason */
        log_error("deploy", "job %lld: its stored spec breaks a rule: %s", (long long)j->id, err);
        proto_deploy_spec_release(&p);
        return 0;
    }
    int rollback = strcmp(p.kind, "rollback") == 0;
    proto_deploy_spec_release(&p);
    spec_set_domains(s, app_id, spec);
    certificates_spec_add(s, j->org_id, spec); /* frame only, like env */
    spec_add_env(s, app_id, spec);
    return gitauth_spec_add(s, j->id, app_id, rollback, spec) > 0 ? 1 : 0;
}

const struct job_kind deploy_job_kind = {
    .name = DEPLOY_JOB_KIND,
    .at_send = job_at_send,
    .started = job_started,
    .system_line = job_system_line,
    .finished = job_finished,
};
