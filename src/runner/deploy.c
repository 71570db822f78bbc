/* deploy.c - the `deploy` job kind: the deploy pipeline on this server.
 *
 * precheck -> clone -> build -> start -> health -> swap -> cleanup, or
 * rollback on any failure, timeout or cancel before the swap completed.
 * A `rollback` deployment (spec.rollback_image) skips clone and build.
 * Every step is reported as one JSON object on a `system` job.log line
 * (docs/protocol.md, "Deploy jobs"); git and docker build output go to
 * stdout/stderr lines. Everything runs on the lws loop: git, docker build
 * and the health probes (curl) are child.c children, the Engine API is
 * docker.c, the edge (HAProxy runtime API) is edge.c.
 *
 * Secrets: spec.env values live in memory only (the container create
 * body, wiped by docker.c) and are wiped here when the deploy ends; git
 * credentials live only in the git child's environment (token via the
 * askpass helper) or in a 0600 key file under work/ removed as soon as
 * git exits. Nothing of the spec is written to disk except the crash
 * marker work/JOB.deploy (ids, names, the current step: no env, no
 * credential).
 *
 * Crash safety: the marker lets the next start (deploy_recover) report
 * the job FAILED "interrupted", kill a leftover git/build, remove the new
 * container and route the edge back to the old one.
 *
 * Owns: struct deploy (one per running deploy job, freed when it ends),
 * the runner's struct edge (r->edge).
 */
#include "runner.h"

#include "beneath.h"

#include "buf.h"
#include "child.h"
#include "docker.h"
#include "edge.h"
#include "acme.h"
#include "log.h"
#include "logparse.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define C "deploy"
#define STOP_TIMEOUT_S 10
#define PROBE_TIMEOUT_S 5
#define LAST_MAX 240
#define TAIL_TIMEOUT_S 10    /* reading the failed container's last lines */

enum phase { P_PRECHECK, P_CLONE, P_BUILD, P_START, P_HEALTH, P_SWAP, P_CLEANUP, P_ROLLBACK, P_DONE };
static const char *const phase_name[] = {"precheck", "clone", "build", "start", "health",
                                         "swap", "cleanup", "rollback", "done"};

struct deploy {
    struct deploy *next;
    struct runner *r;
    struct job *job;
    char id[PROTO_JOB_ID_MAX + 1];
    int recovering;                /* deploy_recover: no pipeline, just undo */

    /* the spec (env and git credentials only in memory, wiped at the end) */
    char deployment[32], app_id[32], app_name[136], repo_url[1024], branch[256], commit[72];
    char dockerfile[256], context[256], image[256], rollback_image[256], cname[128], restart[32];
    char image_id[80];             /* "sha256:...": what the new container runs */
    int port;
    int64_t memory;
    double cpus;
    char hpath[256];
    int htries, hbackoff_ms, htimeout_s;
    int public_port;
    char *domains[PROTO_DEPLOY_DOMAINS_MAX];
    size_t ndomains;
    int https_redirect, hsts;          /* the app's HTTPS options (acme.c) */
    int keep_images, drain_s, clone_s, build_s;
    char prev_dep[32], prev_image[256], prev_container[128];
    char **env;                    /* "NAME=value" */
    size_t nenv;
    char *git_user, *git_pass, *git_key;

    /* run state */
    enum phase phase;
    struct docker *dk;
    struct child *child;
    int cancelled, timed_out, swap_started, swapped, created;
    int waiting;                   /* start() waits for this app's previous cleanup */
    char srcdir[PATH_MAX], keyfile[PATH_MAX], marker[PATH_MAX];
    char resolved[72];
    char new_id[80], new_addr[80], color[8], slug[48], server[48], prev_server[48], prev_addr[80];
    char fail_step[16], fail_reason[400];
    struct buf out;                /* a child's stdout (clone's commit, curl's status) */
    char last[LAST_MAX];           /* a child's last output line, for the reason */
    struct proto_utf8_carry carry[2]; /* stdout, stderr of the running child */
    int tries, delay_ms, last_code;
    uint64_t step_t0;
    lws_sorted_usec_list_t sul_deadline, sul_retry, sul_free;
    json_t *victims;               /* cleanup: container ids to stop + remove */
    size_t victim_at, removed, pruned, prune_left;
    int recover_step;              /* deploy_recover: the step it died in */
    struct tail *tail;             /* fail(): the new container's last lines, being read */
};

/* The last PROTO_TAIL_LINES lines of the failed container, a ring. */
struct tail_line {
    int64_t ts;
    int err, cut;
    size_t len;
    char text[PROTO_TAIL_LINE_MAX];
};
struct tail {
    struct logparse lp;
    size_t head, count;            /* oldest at head */
    struct tail_line ring[PROTO_TAIL_LINES];
};

static struct deploy *deploys;

/* --- small helpers --- */

static void wipe_str(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

static const char *owner(struct runner *r)
{
    return r->state_dir;  /* label berth.runner: which runner's containers/images */
}

static void copy(char *dst, size_t n, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    util_strlcpy(dst, v ? v : "", n);
}

static int ival(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static int cname_ok(const char *s)
{
    if (!*s || strlen(s) > 120 || !isalnum((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return 0;
    return 1;
}

static void emit_text(struct deploy *d, const char *stream, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit_text(struct deploy *d, const char *stream, const char *fmt, ...)
{
    char line[1024];
    size_t outlen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || !d->job)
        return;
    size_t len = (size_t)n >= sizeof line - 1 ? sizeof line - 2 : (size_t)n;
    if (len && line[len - 1] != '\n')
        line[len++] = '\n';
    proto_utf8_sanitize(line, len, 1, line, &outlen);
    jobs_emit(d->job, stream, line, outlen);
}

/* One step report (proto_deploy_step_line): {"step","status","detail"?,
 * "commit"?, "image"?, "image_id"?, "serving"?}. */
static void report(struct deploy *d, enum phase p, const char *status, const char *extra_key,
                   const char *extra_val, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void report(struct deploy *d, enum phase p, const char *status, const char *extra_key,
                   const char *extra_val, const char *fmt, ...)
{
    char detail[512] = "";
    size_t n;
    int ok = strcmp(status, "ok") == 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    if (!d->job)
        return;
    struct proto_deploy_step st = {.step = phase_name[p], .status = status, .detail = detail};
    if (extra_key && extra_val && !strcmp(extra_key, "commit"))
        st.commit = extra_val;
    if ((extra_key && extra_val && !strcmp(extra_key, "image")) || (ok && p == P_BUILD))
        st.image = extra_key && !strcmp(extra_key, "image") ? extra_val : d->image;
    if (ok && p == P_START && d->image_id[0])
        st.image_id = d->image_id;
    /* cleanup starts once the new container serves (swapped, or healthy
     * when there is no edge): berthd marks the deployment SUCCEEDED here,
     * the old container's removal is not on its path */
    st.serving = strcmp(status, "started") == 0 && p == P_CLEANUP && !d->recovering;
    char *line = proto_deploy_step_line(&st, &n);
    if (line)
        jobs_emit(d->job, "system", line, n);
    free(line);
}

/* The crash marker: what the next start needs to undo this deploy. */
static void marker_write(struct deploy *d, pid_t pgid)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "app", d->app_id,
                          "deployment", d->deployment, "container", d->cname, "slug", d->slug,
                          "server", d->server, "previous", d->prev_dep, "previous_container",
                          d->prev_container, "step", phase_name[d->phase], "pgid", (int)pgid,
                          "public_port", d->public_port);
    if (m)
        json_object_set_new(m, "port", json_integer(d->port));
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (text && util_write_file_atomic(d->marker, text, strlen(text), 0600) < 0)
        log_warn(C, "job %s: cannot write %s: %s", d->id, d->marker, strerror(errno));
    free(text);
    json_decref(m);
}

static void set_phase(struct deploy *d, enum phase p)
{
    d->phase = p;
    d->step_t0 = util_mono_us();
    if (!d->recovering)
        marker_write(d, 0);
}

/* Removes a directory tree without blocking the loop: `rm -rf` child. */
static void remove_tree(struct runner *r, const char *dir)
{
    char err[128];
    struct stat st;
    if (!dir[0] || lstat(dir, &st) < 0)
        return;
    char *argv[] = {"rm", "-rf", "--", (char *)dir, NULL};
    struct child_spec s = {.argv = argv, .out_fd = -1};
    if (child_start(r->ctx, r->vh, &s, NULL, NULL, NULL, NULL, err, sizeof err) < 0)
        log_warn(C, "cannot remove %s: %s", dir, err);
}

static int deadline_of(struct deploy *d)
{
    switch (d->phase) {
    case P_CLONE: return d->clone_s;
    case P_BUILD: return d->build_s;
    case P_HEALTH: return d->htimeout_s;
    default: return 0;
    }
}

/* --- the end --- */

static void start_container(struct deploy *d);

static void deploy_free(struct deploy *d)
{
    for (struct deploy **pp = &deploys; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    lws_sul_cancel(&d->sul_deadline);
    lws_sul_cancel(&d->sul_retry);
    lws_sul_cancel(&d->sul_free);
    if (d->child)
        child_forget(d->child);
    docker_free(d->dk);
    for (size_t k = 0; k < d->nenv; k++)
        wipe_str(&d->env[k]);
    free(d->env);
    wipe_str(&d->git_user);
    wipe_str(&d->git_pass);
    wipe_str(&d->git_key);
    if (d->keyfile[0])
        unlink(d->keyfile);
    for (size_t k = 0; k < d->ndomains; k++)
        free(d->domains[k]);
    json_decref(d->victims);
    buf_release(&d->out);
    if (d->tail) {
        logparse_release(&d->tail->lp);
        free(d->tail);
    }
    free(d);
}

/* Freed on the next loop turn: end() runs inside docker/child/edge
 * callbacks, whose callers still use their request after we return. */
static void free_tick(lws_sorted_usec_list_t *sul)
{
    deploy_free(lws_container_of(sul, struct deploy, sul_free));
}

static void end(struct deploy *d, const char *error)
{
    struct job *j = d->job;
    d->phase = P_DONE;
    remove_tree(d->r, d->srcdir);
    unlink(d->marker);
    if (j) {
        jobs_set_deploy(j, NULL);
        jobs_finish(j, error ? 1 : 0, error);
    }
    log_info(C, "job %s (deployment %s): %s", d->id, d->deployment, error ? error : "succeeded");
    d->job = NULL;
    lws_sul_cancel(&d->sul_deadline);
    lws_sul_cancel(&d->sul_retry);
    lws_sul_schedule(d->r->ctx, 0, &d->sul_free, free_tick, 1);
    /* the app's next deployment may wait for this one's cleanup */
    for (struct deploy *o = deploys; o; o = o->next)
        if (o != d && o->waiting && strcmp(o->app_id, d->app_id) == 0) {
            o->waiting = 0;
            start_container(o);
            break;
        }
}

static void rollback(struct deploy *d);

/* --- a failed container's last lines (docs/deploy.md, "Container output") ---
 * Read from Docker (tail, with a deadline) before the rollback removes
 * the container, sent as container lines on the system stream, berthd
 * keeps them in the deployment record. They are the app's output: never
 * in the runner's own log. */

static void tail_piece(void *arg, int64_t ts, int err, int partial, const char *text, size_t len)
{
    struct tail *t = arg;
    struct tail_line *l;
    if (t->count < PROTO_TAIL_LINES) {
        l = &t->ring[(t->head + t->count++) % PROTO_TAIL_LINES];
    } else {
        l = &t->ring[t->head];
        t->head = (t->head + 1) % PROTO_TAIL_LINES;
    }
    l->ts = ts;
    l->err = err;
    l->cut = partial || len > PROTO_TAIL_LINE_MAX;
    l->len = len > PROTO_TAIL_LINE_MAX ? PROTO_TAIL_LINE_MAX : len;
    memcpy(l->text, text, l->len);
}

static void tail_data(void *arg, const char *data, size_t len)
{
    struct deploy *d = arg;
    logparse_feed(&d->tail->lp, (const unsigned char *)data, len);
}

/* The newest lines within PROTO_TAIL_BYTES, oldest first, in chunks of
 * whole lines. */
static void tail_send(struct deploy *d)
{
    struct tail *t = d->tail;
    size_t first = t->count, bytes = 0, n = 0;
    struct buf b;
    while (first > 0) {
        size_t l = t->ring[(t->head + first - 1) % PROTO_TAIL_LINES].len;
        if (bytes + l > PROTO_TAIL_BYTES)
            break;
        bytes += l;
        first--;
    }
    buf_init(&b, PROTO_CHUNK_MAX);
    for (size_t k = first; k < t->count && d->job; k++) {
        struct tail_line *l = &t->ring[(t->head + k) % PROTO_TAIL_LINES];
        struct proto_tail_line pl = {l->ts, l->err, l->text, l->len, l->cut};
        size_t ll;
        char *line = proto_tail_line(&pl, &ll);
        if (!line)
            break;
        if (b.len + ll > PROTO_CHUNK_MAX) {
            jobs_emit(d->job, "system", b.data, b.len);
            buf_clear(&b);
        }
        if (ll <= PROTO_CHUNK_MAX && buf_append(&b, line, ll) == 0)
            n++;
        free(line);
    }
    if (b.len && d->job)
        jobs_emit(d->job, "system", b.data, b.len);
    buf_release(&b);
    if (n)
        emit_text(d, "system", "the new container's last %zu line%s (kept with the deployment)", n,
                  n == 1 ? "" : "s");
    else
        emit_text(d, "system", "the new container printed nothing");
}

static void tail_done(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    (void)status;
    (void)body;
    logparse_end(&d->tail->lp);
    if (err)
        emit_text(d, "system", "reading the new container's output: %s", err);
    if (!err || d->tail->count)
        tail_send(d);
    logparse_release(&d->tail->lp);
    free(d->tail);
    d->tail = NULL;
    rollback(d);
}

/* 0: reading (tail_done rolls back), -1: nothing to read. */
static int tail_read(struct deploy *d)
{
    if (!d->created || !d->new_id[0] || d->tail || !(d->tail = calloc(1, sizeof *d->tail)))
        return -1;
    logparse_init(&d->tail->lp, tail_piece, d->tail);
    if (docker_container_logs_tail(d->dk, d->new_id, PROTO_TAIL_LINES, TAIL_TIMEOUT_S, tail_data,
                                   tail_done, d) == 0)
        return 0;
    logparse_release(&d->tail->lp);
    free(d->tail);
    d->tail = NULL;
    return -1;
}

/* A step failed: report it and roll back. */
static void fail(struct deploy *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct deploy *d, const char *fmt, ...)
{
    va_list ap;
    if (d->tail)
        return;  /* failing already: reading the container's last lines */
    lws_sul_cancel(&d->sul_deadline);
    lws_sul_cancel(&d->sul_retry);
    util_strlcpy(d->fail_step, phase_name[d->phase], sizeof d->fail_step);
    va_start(ap, fmt);
    vsnprintf(d->fail_reason, sizeof d->fail_reason, fmt, ap);
    va_end(ap);
    for (char *p = d->fail_reason; *p; p++)  /* one line */
        if (*p == '\n' || *p == '\r' || *p == ';')
            *p = *p == ';' ? ',' : ' ';
    report(d, d->phase, "failed", NULL, NULL, "%s", d->fail_reason);
    if (!d->cancelled && tail_read(d) == 0)
        return;  /* rollback once the container's last lines are in */
    rollback(d);
}

/* A safe point: did a cancel or a step deadline come? 1: handled (failed). */
static int interrupted(struct deploy *d)
{
    if (d->cancelled) {
        fail(d, "cancelled");
        return 1;
    }
    if (d->timed_out) {
        fail(d, "timed out after %d s", deadline_of(d));
        return 1;
    }
    return 0;
}

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    struct deploy *d = lws_container_of(sul, struct deploy, sul_deadline);
    d->timed_out = 1;
    log_warn(C, "job %s: %s timed out after %d s", d->id, phase_name[d->phase], deadline_of(d));
    if (d->child) {
        child_kill(d->child, SIGKILL);  /* its exit callback fails the step */
    } else if (d->phase == P_HEALTH) {
        interrupted(d);  /* waiting between probes */
    }
}

static void arm_deadline(struct deploy *d)
{
    int s = deadline_of(d);
    d->timed_out = 0;
    if (s > 0)
        lws_sul_schedule(d->r->ctx, 0, &d->sul_deadline, on_deadline, (lws_usec_t)s * LWS_USEC_PER_SEC);
}

/* --- children: output to the job log --- */

struct child_stream {
    struct deploy *d;
    const char *name;
};

/* A piece of whole characters: to the job log, and its last non-empty
 * line kept for the failure reason. */
static void child_piece(void *arg, const char *b, size_t n)
{
    struct child_stream *cs = arg;
    struct deploy *d = cs->d;
    if (d->job)
        jobs_emit(d->job, cs->name, b, n);
    size_t e = n;
    while (e && (b[e - 1] == '\n' || b[e - 1] == '\r'))
        e--;
    if (e) {
        size_t s = e;
        while (s && b[s - 1] != '\n')
            s--;
        size_t l = e - s < LAST_MAX - 1 ? e - s : LAST_MAX - 1;
        memcpy(d->last, b + s, l);
        d->last[l] = '\0';
    }
}

static void child_out(void *arg, int stream, const char *data, size_t len)
{
    struct deploy *d = arg;
    struct child_stream cs = {d, stream == 2 ? "stderr" : "stdout"};
    if (stream == 1 && (d->phase == P_CLONE || d->phase == P_HEALTH) && d->out.len + len < 65536)
        buf_append(&d->out, data, len);
    if (d->phase == P_HEALTH)
        return;  /* curl's status code: not log material */
    proto_utf8_stream(&d->carry[stream == 2], data, len, 0, 8192, child_piece, &cs);
}

/* Before a child starts: fresh output buffers. */
static void child_prep(struct deploy *d)
{
    buf_release(&d->out);
    buf_init(&d->out, 1 << 16);
    d->last[0] = '\0';
    d->carry[0].len = d->carry[1].len = 0;
}

/* After a child in its own session started: the marker names its group. */
static void child_started(struct deploy *d)
{
    if (!d->recovering)
        marker_write(d, child_pid(d->child));
}

/* --- 7. rollback --- */

static void rollback_done(struct deploy *d, const char *what)
{
    char error[600];
    report(d, P_ROLLBACK, "ok", NULL, NULL, "%s", what);
    if (d->prev_dep[0])
        snprintf(error, sizeof error, "%s: %s; rolled back to deployment %s", d->fail_step, d->fail_reason,
                 d->prev_dep);
    else
        snprintf(error, sizeof error, "%s: %s", d->fail_step, d->fail_reason);
    end(d, error);
}

static void rb_removed(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    char what[300];
    if (err && status != 404)
        emit_text(d, "system", "could not remove container %s: %s", d->cname, err);
    if (d->prev_dep[0])
        snprintf(what, sizeof what, "removed the new container; deployment %s keeps serving", d->prev_dep);
    else
        snprintf(what, sizeof what, "removed the new container");
    rollback_done(d, what);
}

static void rollback(struct deploy *d)
{
    d->phase = P_ROLLBACK;
    marker_write(d, 0);
    report(d, P_ROLLBACK, "started", NULL, NULL, NULL);
    if (d->created) {
        if (docker_container_remove(d->dk, d->new_id[0] ? d->new_id : d->cname, 1, rb_removed, d) == 0)
            return;
        emit_text(d, "system", "could not remove container %s", d->cname);
    }
    rollback_done(d, d->prev_dep[0] ? "nothing new was started; the old deployment keeps serving"
                                    : "nothing new was started");
}

/* --- 6b. cleanup: old containers, then images beyond keep_images --- */

static void cleanup_finish(struct deploy *d)
{
    report(d, P_CLEANUP, "ok", NULL, NULL, "removed %zu old container(s), pruned %zu image(s)", d->removed,
           d->pruned);
    end(d, NULL);
}

static void prune_removed(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    if (!err)
        d->pruned++;
    if (--d->prune_left == 0)
        cleanup_finish(d);
}

static void prune_listed(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    const char *ids[128];
    size_t i, n = 0;
    if (err || !json_is_array(body)) {
        emit_text(d, "system", "cannot list images: %s", err ? err : "bad answer");
        cleanup_finish(d);
        return;
    }
    /* the app's repository holds only its deployments' images: the name
     * is berthd's (installation + app), so nothing else is listed here */
    n = docker_images_to_prune(body, (size_t)(d->keep_images > 0 ? d->keep_images : 5), d->image, ids, 128);
    d->prune_left = 0;
    for (i = 0; i < n; i++)
        if (docker_image_remove(d->dk, ids[i], 0, prune_removed, d) == 0)  /* not forced: in use stays (409) */
            d->prune_left++;
    if (!d->prune_left)
        cleanup_finish(d);
}

static void cleanup_next(struct deploy *d);

static void victim_removed(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    if (!err || status == 404)
        d->removed++;
    else
        emit_text(d, "system", "cannot remove an old container: %s", err);
    d->victim_at++;
    cleanup_next(d);
}

static void victim_stopped(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    const char *id = json_string_value(json_array_get(d->victims, d->victim_at));
    if (docker_container_remove(d->dk, id, 1, victim_removed, d) < 0) {
        d->victim_at++;
        cleanup_next(d);
    }
}

static void cleanup_next(struct deploy *d)
{
    const char *id = json_string_value(json_array_get(d->victims, d->victim_at));
    if (id) {
        /* SIGTERM, SIGKILL after the stop timeout (the engine's stop) */
        if (docker_container_stop(d->dk, id, STOP_TIMEOUT_S, victim_stopped, d) == 0)
            return;
        d->victim_at++;
        cleanup_next(d);
        return;
    }
    /* the image's repository: the name up to the tag */
    char repo[sizeof d->image];
    util_strlcpy(repo, d->image, sizeof repo);
    char *colon = strrchr(repo, ':');
    if (colon && !strchr(colon, '/'))
        *colon = '\0';
    if (docker_image_list_repo(d->dk, repo, prune_listed, d) < 0)
        cleanup_finish(d);
}

static void cleanup_listed(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    json_t *c;
    size_t i;
    d->victims = json_array();
    if (err || !json_is_array(body))
        emit_text(d, "system", "cannot list containers: %s", err ? err : "bad answer");
    json_array_foreach(body, i, c) {
        json_t *labels = json_object_get(c, "Labels");
        const char *o = json_string_value(json_object_get(labels, "berth.runner"));
        const char *id = json_string_value(json_object_get(c, "Id"));
        if (id && o && strcmp(o, owner(d->r)) == 0 && strcmp(id, d->new_id) != 0)
            json_array_append_new(d->victims, json_string(id));
    }
    d->victim_at = 0;
    cleanup_next(d);
}

static void cleanup(struct deploy *d)
{
    char label[80];
    set_phase(d, P_CLEANUP);
    report(d, P_CLEANUP, "started", NULL, NULL, NULL);
    snprintf(label, sizeof label, "berth.app=%s", d->app_id);
    if (docker_container_list(d->dk, label, 1, cleanup_listed, d) < 0)
        cleanup_finish(d);
}

/* --- 6. swap --- */

static void swapped(void *arg, int rc, const struct edge_swap_report *rep, const char *msg)
{
    struct deploy *d = arg;
    if (rc < 0) {
        d->swap_started = 0;
        fail(d, "%s", msg ? msg : "the edge refused the swap");
        return;
    }
    d->swapped = 1;
    edge_app_tls_apply(d->r->edge, d->slug, d->https_redirect, d->hsts);  /* a new app's, too */
    acme_want(d->r, d->app_id, (const char *const *)d->domains, d->ndomains);
    char where[48];
    if (d->public_port > 0)
        snprintf(where, sizeof where, "port %d", d->public_port);
    else
        snprintf(where, sizeof where, "%zu domain(s)", d->ndomains);
    report(d, P_SWAP, "ok", NULL, NULL, "%s routes to %s; old server drained in %lld ms%s", where, d->server, rep ? (long long)rep->drain_ms : 0LL, rep && !rep->drained ? " (drain time ran out)" : "");
    if (d->cancelled)
        emit_text(d, "system", "cancel came during the swap: too late, the new deployment serves");
    cleanup(d);
}

static void app_set(void *arg, int rc, const char *msg)
{
    struct deploy *d = arg;
    if (rc < 0) {
        fail(d, "edge: %s", msg ? msg : "cannot set the app");
        return;
    }
    if (interrupted(d))
        return;
    d->swap_started = 1;
    if (edge_swap(d->r->edge, d->slug, d->server, d->new_addr, d->drain_s * 1000, swapped, d) < 0) {
        d->swap_started = 0;
        fail(d, "edge: swap refused");
    }
}

static void edge_up(void *arg, int rc, const char *msg)
{
    struct deploy *d = arg;
    if (rc < 0) {
        fail(d, "edge: %s", msg ? msg : "HAProxy did not start");
        return;
    }
    if (interrupted(d))
        return;
    if (edge_app_set(d->r->edge, d->slug, d->public_port, (const char *const *)d->domains, d->ndomains, app_set,
                     d) < 0)
        fail(d, "edge: cannot route port %d / %zu domain(s) to this app (another app holds the port, or it is the "
                "shared HTTP port?)", d->public_port, d->ndomains);
}

static void swap(struct deploy *d)
{
    if (d->public_port <= 0 && d->ndomains == 0) {
        cleanup(d);  /* no edge: nothing to route */
        return;
    }
    set_phase(d, P_SWAP);
    report(d, P_SWAP, "started", NULL, NULL, NULL);
    if (!d->r->edge) {
        fail(d, "edge: not available");
        return;
    }
    if (edge_running(d->r->edge))
        edge_up(d, 0, NULL);
    else if (edge_start(d->r->edge, edge_up, d) < 0)
        fail(d, "edge: cannot start HAProxy");
}

/* --- 5. health --- */

static void probe(struct deploy *d);

static void probe_retry(lws_sorted_usec_list_t *sul)
{
    struct deploy *d = lws_container_of(sul, struct deploy, sul_retry);
    if (interrupted(d))
        return;
    probe(d);
}

static void probed(void *arg, int status)
{
    struct deploy *d = arg;
    int code = 0;
    d->child = NULL;
    if (d->out.data && d->out.len)
        code = atoi(d->out.data);
    d->last_code = code;
    if (code >= 200 && code < 400) {
        lws_sul_cancel(&d->sul_deadline);
        if (d->cancelled) {
            fail(d, "cancelled");
            return;
        }
        report(d, P_HEALTH, "ok", NULL, NULL, "GET %s answered %d after %d tr%s", d->hpath, code, d->tries,
               d->tries == 1 ? "y" : "ies");
        swap(d);
        return;
    }
    if (interrupted(d))
        return;
    emit_text(d, "system", "health: try %d: GET %s %s%d", d->tries, d->hpath, code ? "answered " : "no answer, curl exit ",
              code ? code : status);
    if (d->tries >= d->htries) {
        if (code)
            fail(d, "GET %s answered %d after %d tries", d->hpath, code, d->tries);
        else
            fail(d, "GET %s got no answer after %d tries", d->hpath, d->tries);
        return;
    }
    lws_sul_schedule(d->r->ctx, 0, &d->sul_retry, probe_retry, (lws_usec_t)d->delay_ms * 1000);
    d->delay_ms = d->delay_ms * 2 > 30000 ? 30000 : d->delay_ms * 2;
}

static void probe(struct deploy *d)
{
    char url[400], maxt[16], err[160];
    char **envp = child_env_base();
    d->tries++;
    snprintf(url, sizeof url, "http://%s%s", d->new_addr, d->hpath);
    snprintf(maxt, sizeof maxt, "%d", PROBE_TIMEOUT_S);
    char *argv[] = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", maxt, "--noproxy", "*",
                    "--", url, NULL};
    struct child_spec cs = {.argv = argv, .envp = envp, .capture = 1, .out_fd = -1,
                            .timeout_s = PROBE_TIMEOUT_S + 2};
    child_prep(d);
    if (!envp || child_start(d->r->ctx, d->r->vh, &cs, child_out, probed, d, &d->child, err, sizeof err) < 0)
        fail(d, "cannot run curl: %s", envp ? err : "out of memory");
    child_env_free(envp);
}

static void health(struct deploy *d)
{
    set_phase(d, P_HEALTH);
    report(d, P_HEALTH, "started", NULL, NULL, "GET http://%s%s, up to %d tries", d->new_addr, d->hpath, d->htries);
    d->tries = 0;
    d->delay_ms = d->hbackoff_ms > 0 ? d->hbackoff_ms : 500;
    arm_deadline(d);
    probe(d);
}

/* --- 4. start --- */

static void started_inspected(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    char ip[64];
    int hp = 0;
    if (err) {
        fail(d, "inspect: %s", err);
        return;
    }
    const char *st = docker_inspect_status(body);
    if (!st || strcmp(st, "running") != 0) {
        fail(d, "the container is %s right after start", st ? st : "in an unknown state");
        return;
    }
    if (docker_inspect_published(body, d->port, ip, sizeof ip, &hp) < 0) {
        fail(d, "port %d is not published", d->port);
        return;
    }
    snprintf(d->new_addr, sizeof d->new_addr, "%s:%d", ip, hp);
    const char *iid = json_string_value(json_object_get(body, "Image"));
    if (iid && strlen(iid) < sizeof d->image_id)
        memcpy(d->image_id, iid, strlen(iid) + 1);
    report(d, P_START, "ok", "image", d->image, "container %s (%s) at %s", d->cname, d->color, d->new_addr);
    if (interrupted(d))
        return;
    health(d);
}

static void container_started(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    if (err) {
        fail(d, "%s", err);
        return;
    }
    if (docker_container_inspect(d->dk, d->new_id, started_inspected, d) < 0)
        fail(d, "cannot inspect the container");
}

static void container_created(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    const char *id = json_string_value(json_object_get(body, "Id"));
    /* the values are in the engine now; ours go */
    for (size_t k = 0; k < d->nenv; k++)
        wipe_str(&d->env[k]);
    d->nenv = 0;
    if (err || !id) {
        fail(d, "create: %s", err ? err : "no container id");
        return;
    }
    d->created = 1;
    util_strlcpy(d->new_id, id, sizeof d->new_id);
    if (docker_container_start(d->dk, d->new_id, container_started, d) < 0)
        fail(d, "cannot start the container");
}

static void create_container(struct deploy *d)
{
    struct docker_container_spec s;
    if (interrupted(d))
        return;
    memset(&s, 0, sizeof s);
    s.name = d->cname;
    s.image = d->image;
    s.app = d->app_id;
    s.deployment = d->deployment;
    s.color = d->color;
    s.env = (const char *const *)d->env;
    s.env_count = d->nenv;
    s.port = d->port;
    s.publish_ip = "127.0.0.1";  /* reached over loopback only: the edge, the health probe */
    s.memory_bytes = d->memory;
    s.cpus = d->cpus;
    s.restart = d->restart[0] ? d->restart : NULL;
    s.owner = owner(d->r);
    if (docker_container_create(d->dk, &s, container_created, d) < 0)
        fail(d, "cannot create the container");
}

static void prev_inspected(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    const char *c = err ? NULL
                        : json_string_value(json_object_get(json_object_get(json_object_get(body, "Config"), "Labels"),
                                                            "berth.color"));
    util_strlcpy(d->color, c && strcmp(c, "blue") == 0 ? "green" : "blue", sizeof d->color);
    create_container(d);
}

static void image_checked(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    if (err) {
        fail(d, "image %s is not on this server (%s)", d->image, err);
        return;
    }
    if (d->prev_container[0] && docker_container_inspect(d->dk, d->prev_container, prev_inspected, d) == 0)
        return;
    util_strlcpy(d->color, "blue", sizeof d->color);
    create_container(d);
}

/* The app's previous deployment, already serving and still removing the
 * old containers? Its cleanup removes every container of the app but its
 * own, so a new one is created only after it ends (end() calls start()
 * again). Clone and build ran meanwhile. */
static struct deploy *cleaning(struct deploy *d)
{
    for (struct deploy *o = deploys; o; o = o->next)
        if (o != d && o->phase == P_CLEANUP && strcmp(o->app_id, d->app_id) == 0)
            return o;
    return NULL;
}

static void start_container(struct deploy *d)
{
    if (interrupted(d))
        return;
    if (docker_image_inspect(d->dk, d->image, image_checked, d) < 0)
        fail(d, "bad image name %s", d->image);
}

static void start(struct deploy *d)
{
    struct deploy *o = cleaning(d);
    set_phase(d, P_START);
    report(d, P_START, "started", NULL, NULL, NULL);
    if (o) {
        d->waiting = 1;
        emit_text(d, "system", "waiting for deployment %s to finish its cleanup", o->deployment);
        return;
    }
    start_container(d);
}

/* --- 3. build --- */

static void built(void *arg, int status)
{
    struct deploy *d = arg;
    d->child = NULL;
    lws_sul_cancel(&d->sul_deadline);
    if (interrupted(d))
        return;
    if (status != 0) {
        fail(d, "docker build failed (exit %d)%s%s", status, d->last[0] ? ": " : "", d->last);
        return;
    }
    report(d, P_BUILD, "ok", NULL, NULL, "built %s", d->image);
    remove_tree(d->r, d->srcdir);
    d->srcdir[0] = '\0';
    start(d);
}

static void build(struct deploy *d)
{
    char dockerfile[PATH_MAX], ctxdir[PATH_MAX], err[PATH_MAX + 256];
    set_phase(d, P_BUILD);
    report(d, P_BUILD, "started", NULL, NULL, "docker build -t %s", d->image);
    /* The repository names both: resolve them inside the clone (a link to
     * the runner's credential must not become the Dockerfile or the
     * context), and give docker the resolved paths, with no link left. */
    if (beneath_resolve(d->srcdir, d->dockerfile, BENEATH_FILE, dockerfile, sizeof dockerfile,
                        err, sizeof err) < 0 ||
        beneath_resolve(d->srcdir, d->context, BENEATH_DIR, ctxdir, sizeof ctxdir, err,
                        sizeof err) < 0) {
        fail(d, "%s", err);
        return;
    }
    struct docker_build_spec bs = {
        .context_dir = ctxdir, .dockerfile = dockerfile, .image = d->image, .memory_bytes = d->memory,
        .cpus = d->cpus, .timeout_s = d->build_s > 0 ? d->build_s + 10 : 0, .new_session = 1,
    };
    arm_deadline(d);
    child_prep(d);
    if (docker_build(d->dk, &bs, child_out, built, d, &d->child, err, sizeof err) < 0) {
        fail(d, "cannot run docker build: %s", err);
        return;
    }
    child_started(d);
}

/* --- 2. clone --- */

static void cloned(void *arg, int status)
{
    struct deploy *d = arg;
    d->child = NULL;
    lws_sul_cancel(&d->sul_deadline);
    if (d->keyfile[0]) {
        unlink(d->keyfile);
        d->keyfile[0] = '\0';
    }
    if (interrupted(d))
        return;
    if (status != 0) {
        fail(d, "git failed (exit %d)%s%s", status, d->last[0] ? ": " : "", d->last);
        return;
    }
    /* the script's last stdout line is `git rev-parse HEAD` */
    if (docker_clone_commit(d->out.data ? d->out.data : "", d->out.len, d->resolved, sizeof d->resolved) < 0) {
        fail(d, "cannot read the commit id");
        return;
    }
    report(d, P_CLONE, "ok", "commit", d->resolved, "at %.12s", d->resolved);
    build(d);
}

static void git_clone(struct deploy *d)
{
    char err[256], hdir[PATH_MAX], kh[PATH_MAX];
    set_phase(d, P_CLONE);
    report(d, P_CLONE, "started", NULL, NULL, "%s %s", d->repo_url, d->commit[0] ? d->commit : d->branch);
    if (jobs_work_path(d->r, d->id, "src", d->srcdir, sizeof d->srcdir) < 0 ||
        state_path(d->r, "work", hdir, sizeof hdir) < 0 || state_path(d->r, "known_hosts", kh, sizeof kh) < 0 ||
        (d->git_key && jobs_work_path(d->r, d->id, "key", d->keyfile, sizeof d->keyfile) < 0)) {
        fail(d, "path too long");
        return;
    }
    remove_tree(d->r, d->srcdir);  /* (a crashed run's leftovers: see below) */
    if (access(d->srcdir, F_OK) == 0) {
        /* rm -rf is running; a fresh name instead of waiting */
        size_t l = strlen(d->srcdir);
        snprintf(d->srcdir + l, sizeof d->srcdir - l, "-%llu", (unsigned long long)util_mono_us());
    }
    struct docker_clone_spec cs = {
        .url = d->repo_url, .branch = d->branch, .commit = d->commit, .dir = d->srcdir, .helper_dir = hdir,
        .username = d->git_user, .password = d->git_pass, .ssh_key = d->git_key,
        .key_file = d->git_key ? d->keyfile : NULL, .known_hosts = kh,
        .timeout_s = d->clone_s > 0 ? d->clone_s + 10 : 0, .new_session = 1,
    };
    arm_deadline(d);
    child_prep(d);
    if (docker_git_clone(d->dk, &cs, child_out, cloned, d, &d->child, err, sizeof err) < 0) {
        d->keyfile[0] = '\0';  /* docker.c removed it, or never wrote it */
        fail(d, "cannot run git: %s", err);
        return;
    }
    child_started(d);
}

/* --- 1. precheck --- */

static int in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog) < (int)sizeof buf && access(buf, X_OK) == 0)
            return 1;
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

static void pinged(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    struct statvfs vfs;
    char missing[128] = "";
    if (err) {
        fail(d, "the Docker daemon does not answer: %s", err);
        return;
    }
    int rollback = d->rollback_image[0] != 0;
    if (!rollback && !in_path("git"))
        strcat(missing, " git");
    if (!in_path("curl"))
        strcat(missing, " curl");
    if (!rollback && !in_path("docker"))
        strcat(missing, " docker");
    if ((d->public_port > 0 || d->ndomains > 0) && !in_path("haproxy"))
        strcat(missing, " haproxy");
    if (missing[0]) {
        fail(d, "missing:%s", missing);
        return;
    }
    if (statvfs(d->r->state_dir, &vfs) == 0) {
        int64_t free_b = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
        if (free_b < d->r->min_free_disk) {
            fail(d, "only %lld MiB free in %s", (long long)(free_b >> 20), d->r->state_dir);
            return;
        }
    }
    report(d, P_PRECHECK, "ok", NULL, NULL, "docker, git, curl%s, disk",
           d->public_port > 0 || d->ndomains > 0 ? ", haproxy" : "");
    if (interrupted(d))
        return;
    if (rollback) {
        util_strlcpy(d->image, d->rollback_image, sizeof d->image);
        emit_text(d, "system", "rollback: running image %s again (no clone, no build)", d->image);
        start(d);
    } else {
        git_clone(d);
    }
}

/* --- the spec --- */

/* The spec, read only through proto_parse_deploy_spec (typed, bounded
 * fields), copied: the frame goes when deploy_start returns. */
static int parse_spec(struct deploy *d, json_t *spec, char *err, size_t errlen)
{
    struct proto_deploy_spec ps;
    int rc = -1;
    if (proto_parse_deploy_spec(spec, &ps, err, errlen) < 0)
        goto done;
    util_strlcpy(d->deployment, ps.deployment, sizeof d->deployment);
    util_strlcpy(d->app_id, ps.app_id, sizeof d->app_id);
    util_strlcpy(d->app_name, ps.app_name, sizeof d->app_name);
    util_strlcpy(d->repo_url, ps.repo_url ? ps.repo_url : "", sizeof d->repo_url);
    util_strlcpy(d->branch, ps.branch, sizeof d->branch);
    util_strlcpy(d->commit, ps.commit ? ps.commit : "", sizeof d->commit);
    util_strlcpy(d->dockerfile, ps.dockerfile, sizeof d->dockerfile);
    util_strlcpy(d->context, ps.context, sizeof d->context);
    util_strlcpy(d->image, ps.image, sizeof d->image);
    util_strlcpy(d->rollback_image, ps.rollback_image ? ps.rollback_image : "", sizeof d->rollback_image);
    util_strlcpy(d->cname, ps.container_name, sizeof d->cname);
    util_strlcpy(d->restart, ps.restart_policy ? ps.restart_policy : "", sizeof d->restart);
    d->port = ps.container_port;
    d->memory = ps.memory;
    d->cpus = ps.cpus;
    util_strlcpy(d->hpath, ps.health_path, sizeof d->hpath);
    d->htries = ps.health_tries;
    d->hbackoff_ms = ps.health_backoff_ms;
    d->htimeout_s = ps.health_timeout_s;
    d->public_port = ps.public_port;
    d->keep_images = ps.keep_images;
    d->drain_s = ps.drain_seconds;
    d->clone_s = ps.clone_s;
    d->build_s = ps.build_s;
    util_strlcpy(d->prev_dep, ps.prev_deployment ? ps.prev_deployment : "", sizeof d->prev_dep);
    util_strlcpy(d->prev_image, ps.prev_image ? ps.prev_image : "", sizeof d->prev_image);
    util_strlcpy(d->prev_container, ps.prev_container ? ps.prev_container : "", sizeof d->prev_container);
    for (size_t i = 0; i < ps.ndomains; i++)
        if (!(d->domains[d->ndomains++] = strdup(ps.domains[i])))
            goto oom;
    if (ps.nenv && !(d->env = calloc(ps.nenv, sizeof *d->env)))
        goto oom;
    for (size_t i = 0; i < ps.nenv; i++, d->nenv++)
        if (!(d->env[i] = child_env_pair(ps.env[i].name, ps.env[i].value)))
            goto oom;
    if (ps.git.token && (!(d->git_user = strdup(ps.git.username ? ps.git.username : "x-access-token")) ||
                         !(d->git_pass = strdup(ps.git.token))))
        goto oom;
    if (ps.git.ssh_key && !(d->git_key = strdup(ps.git.ssh_key)))
        goto oom;
    snprintf(d->slug, sizeof d->slug, "a%s", d->app_id);
    snprintf(d->server, sizeof d->server, "d%s", d->deployment);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    proto_deploy_spec_release(&ps);
    return rc;
}

/* Wipes the secret values inside the job frame (the link frees it). */
void deploy_scrub(json_t *spec)
{
    const char *k;
    json_t *v, *env = json_object_get(spec, "env"), *git = json_object_get(spec, "git");
    json_object_foreach(env, k, v)
        if (json_is_string(v))
            explicit_bzero((char *)json_string_value(v), json_string_length(v));
    json_object_foreach(git, k, v)
        if (json_is_string(v))
            explicit_bzero((char *)json_string_value(v), json_string_length(v));
    json_object_del(spec, "env");
    json_object_del(spec, "git");
}

static struct deploy *deploy_new(struct runner *r, struct job *j, const char *id)
{
    struct deploy *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->r = r;
    d->job = j;
    util_strlcpy(d->id, id, sizeof d->id);
    buf_init(&d->out, 1 << 16);
    jobs_work_path(r, id, "deploy", d->marker, sizeof d->marker);
    if (docker_new(r->ctx, r->vh, r->docker_endpoint, &d->dk) < 0) {
        free(d);
        return NULL;
    }
    d->next = deploys;
    deploys = d;
    return d;
}

int deploy_start(struct runner *r, struct job *j, const char *id, json_t *spec, char *err, size_t errlen)
{
    struct deploy *d = deploy_new(r, j, id);
    int rc = -1;
    if (!d) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (parse_spec(d, spec, err, errlen) < 0 || acme_spec(r, d->slug, spec, err, errlen) < 0 ||
        proto_parse_tls_flags(spec, &d->https_redirect, &d->hsts, err, errlen) < 0) {
        deploy_free(d);
        goto done;
    }
    jobs_set_deploy(j, d);
    log_info(C, "job %s: deployment %s of app %s (%s)%s", id, d->deployment, d->app_id, d->app_name,
             d->rollback_image[0] ? ", rollback" : "");
    set_phase(d, P_PRECHECK);
    report(d, P_PRECHECK, "started", NULL, NULL, NULL);
    if (docker_ping(d->dk, pinged, d) < 0)
        fail(d, "cannot reach the Docker daemon");
    rc = 0;
done:
    deploy_scrub(spec);
    return rc;
}

void deploy_cancel(struct deploy *d)
{
    if (d->phase >= P_SWAP || d->cancelled) {
        emit_text(d, "system", "cancel: %s", d->phase >= P_SWAP ? "too late, the swap is under way or done"
                                                                 : "already cancelling");
        d->cancelled = d->phase < P_SWAP || d->cancelled;
        return;
    }
    d->cancelled = 1;
    emit_text(d, "system", "cancel requested: stopping at the next safe point");
    if (d->tail)
        return;  /* failed already, rolls back once the container's lines are in */
    if (d->waiting) {
        d->waiting = 0;
        interrupted(d);
    } else if (d->child)
        child_kill(d->child, SIGTERM);
    else if (d->phase == P_HEALTH && !d->child) {
        lws_sul_cancel(&d->sul_retry);
        interrupted(d);
    }
}

/* --- crash recovery --- */

static void recover_end(struct deploy *d, int succeeded, const char *detail)
{
    char error[600];
    if (succeeded) {
        emit_text(d, "system", "the runner restarted during cleanup: %s", detail);
        end(d, NULL);
        return;
    }
    report(d, P_ROLLBACK, "ok", NULL, NULL, "%s", detail);
    if (d->prev_dep[0])
        snprintf(error, sizeof error, "%s: interrupted (the runner restarted); rolled back to deployment %s",
                 phase_name[d->recover_step], d->prev_dep);
    else
        snprintf(error, sizeof error, "%s: interrupted (the runner restarted)", phase_name[d->recover_step]);
    end(d, error);
}

static void rec_removed(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    char what[300];
    if (err && status != 404)
        emit_text(d, "system", "could not remove container %s: %s", d->cname, err);
    snprintf(what, sizeof what, "removed container %s%s%s%s", d->cname,
             d->prev_dep[0] ? "; deployment " : "", d->prev_dep, d->prev_dep[0] ? " keeps serving" : "");
    recover_end(d, 0, what);
}

static void rec_remove_new(struct deploy *d)
{
    if (docker_container_remove(d->dk, d->new_id[0] ? d->new_id : d->cname, 1, rec_removed, d) < 0)
        rec_removed(d, 0, NULL, "bad request");
}

static void rec_swapped_back(void *arg, int rc, const struct edge_swap_report *rep, const char *msg)
{
    struct deploy *d = arg;
    if (rc < 0)
        emit_text(d, "system", "edge: could not route back to deployment %s: %s", d->prev_dep, msg ? msg : "");
    else
        emit_text(d, "system", "edge: routed back to deployment %s", d->prev_dep);
    rec_remove_new(d);
}

static void rec_prev_inspected(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    char ip[64];
    int hp = 0;
    const char *st = err ? NULL : docker_inspect_status(body);
    if (!st || strcmp(st, "running") != 0 || docker_inspect_published(body, d->port, ip, sizeof ip, &hp) < 0) {
        /* the old one is gone: the new one is all there is, keep it */
        recover_end(d, 1, "the old container is gone; the new deployment serves");
        return;
    }
    snprintf(d->prev_addr, sizeof d->prev_addr, "%s:%d", ip, hp);
    if (edge_swap(d->r->edge, d->slug, d->prev_server, d->prev_addr, d->drain_s * 1000, rec_swapped_back, d) < 0)
        rec_swapped_back(d, -1, NULL, "swap refused");
}

static void rec_edge_up(void *arg, int rc, const char *msg)
{
    struct deploy *d = arg;
    const char *cur = rc == 0 ? edge_app_server(d->r->edge, d->slug, NULL) : NULL;
    if (cur && strcmp(cur, d->server) == 0 && d->prev_dep[0]) {
        /* the swap had happened: route back to the old container */
        snprintf(d->prev_server, sizeof d->prev_server, "d%s", d->prev_dep);
        if (docker_container_inspect(d->dk, d->prev_container, rec_prev_inspected, d) == 0)
            return;
    }
    rec_remove_new(d);
}

static void rec_new_inspected(void *arg, int status, json_t *body, const char *err)
{
    struct deploy *d = arg;
    json_t *labels = json_object_get(json_object_get(body, "Config"), "Labels");
    const char *o = json_string_value(json_object_get(labels, "berth.runner"));
    const char *dep = json_string_value(json_object_get(labels, "berth.deployment"));
    const char *id = json_string_value(json_object_get(body, "Id"));
    char ip[64];
    int hp;
    if (err || !o || strcmp(o, owner(d->r)) || !dep || strcmp(dep, d->deployment) || !id) {
        recover_end(d, 0, d->prev_dep[0] ? "no new container was running; the old deployment keeps serving"
                                         : "no new container was running");
        return;
    }
    util_strlcpy(d->new_id, id, sizeof d->new_id);
    const char *cur = d->r->edge ? edge_app_server(d->r->edge, d->slug, NULL) : NULL;
    if (d->recover_step == P_CLEANUP && cur && strcmp(cur, d->server) == 0 && docker_inspect_status(body) &&
        strcmp(docker_inspect_status(body), "running") == 0 &&
        docker_inspect_published(body, d->port, ip, sizeof ip, &hp) == 0) {
        /* swapped and cleaning up: the new deployment serves, it succeeded */
        recover_end(d, 1, "the swap was done; the new deployment serves");
        return;
    }
    if (d->r->edge && (d->public_port > 0 || cur)) {
        if (edge_running(d->r->edge))
            rec_edge_up(d, 0, NULL);
        else if (edge_start(d->r->edge, rec_edge_up, d) < 0)
            rec_edge_up(d, -1, "cannot start");
        return;
    }
    rec_remove_new(d);
}

static void kill_leftover(pid_t pgid)
{
    char proc[64], *cmd = NULL;
    size_t len;
    if (pgid <= 1)
        return;
    snprintf(proc, sizeof proc, "/proc/%ld/cmdline", (long)pgid);
    if (util_read_file(proc, 8192, &cmd, &len) == 0) {
        for (size_t k = 0; k + 1 < len; k++)
            if (!cmd[k])
                cmd[k] = ' ';
        if (strstr(cmd, "berth-clone") || strstr(cmd, "docker build")) {
            log_warn(C, "stopping a leftover %s (group %ld)", strstr(cmd, "docker") ? "docker build" : "git clone",
                     (long)pgid);
            kill(-pgid, SIGKILL);
        }
    }
    free(cmd);
}

int deploy_recover(struct runner *r, struct job *j, const char *id)
{
    char path[PATH_MAX], *text = NULL, p[PATH_MAX];
    size_t len;
    json_t *m;
    if (jobs_work_path(r, id, "deploy", path, sizeof path) < 0 || util_read_file(path, 1 << 16, &text, &len) < 0)
        return 0;  /* not a deploy job */
    m = json_loads(text, 0, NULL);
    free(text);
    struct deploy *d = deploy_new(r, j, id);
    if (!d) {
        json_decref(m);
        return 0;
    }
    d->recovering = 1;
    copy(d->app_id, sizeof d->app_id, m, "app");
    copy(d->deployment, sizeof d->deployment, m, "deployment");
    copy(d->cname, sizeof d->cname, m, "container");
    copy(d->slug, sizeof d->slug, m, "slug");
    copy(d->server, sizeof d->server, m, "server");
    copy(d->prev_dep, sizeof d->prev_dep, m, "previous");
    copy(d->prev_container, sizeof d->prev_container, m, "previous_container");
    d->public_port = ival(m, "public_port", 0);
    d->port = ival(m, "port", 0);
    d->drain_s = 30;
    const char *step = json_string_value(json_object_get(m, "step"));
    d->recover_step = P_PRECHECK;
    for (int k = 0; step && k <= P_ROLLBACK; k++)
        if (!strcmp(step, phase_name[k]))
            d->recover_step = k;
    kill_leftover((pid_t)ival(m, "pgid", 0));
    json_decref(m);
    if (jobs_work_path(r, id, "key", p, sizeof p) == 0)
        unlink(p);
    if (jobs_work_path(r, id, "src", d->srcdir, sizeof d->srcdir) < 0)
        d->srcdir[0] = '\0';
    jobs_set_deploy(j, d);
    log_warn(C, "job %s (deployment %s) was running (%s) when the runner stopped: undoing it", id, d->deployment,
             phase_name[d->recover_step]);
    d->phase = P_ROLLBACK;
    emit_text(d, "system", "the runner restarted during this deployment (step %s): rolling back",
              phase_name[d->recover_step]);
    report(d, P_ROLLBACK, "started", NULL, NULL, NULL);
    if (!cname_ok(d->cname) || docker_container_inspect(d->dk, d->cname, rec_new_inspected, d) < 0)
        rec_new_inspected(d, 404, NULL, "bad marker");
    return 1;
}

/* --- the "edge" job: an app's domains changed, no deploy --- */

static void edge_job_done(void *arg, int rc, const char *msg)
{
    struct job *j = arg;
    char line[600];
    int n = snprintf(line, sizeof line, "edge: %s\n", msg ? msg : rc < 0 ? "failed" : "done");
    jobs_emit(j, "system", line, n > 0 && (size_t)n < sizeof line ? (size_t)n : strlen(line));
    jobs_finish(j, rc < 0 ? 1 : 0, rc < 0 ? (msg ? msg : "the edge refused the change") : NULL);
}

/* An app that runs but was never behind the edge (deployed with neither a
 * public port nor domains) gets its first names: its serving container
 * (spec "container", checked to be this runner's and that deployment's)
 * becomes the app's backend server, as a deploy's swap would make it. */
struct adopt {
    struct adopt *next;             /* the live ones, freed by deploy_stop */
    struct runner *r;
    struct job *j;
    struct docker *dk;
    char slug[48], server[48], cname[96], dep[24], addr[80], msg[300];
    int port, rc;
    const char *domains[PROTO_DEPLOY_DOMAINS_MAX];
    json_t *spec;                   /* holds the domains' strings */
    lws_sorted_usec_list_t sul;
};

static struct adopt *adopts;

static void adopt_free(struct adopt *a)
{
    for (struct adopt **pp = &adopts; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    lws_sul_cancel(&a->sul);
    docker_free(a->dk);
    json_decref(a->spec);
    free(a);
}

static void adopt_free_tick(lws_sorted_usec_list_t *sul)
{
    struct adopt *a = lws_container_of(sul, struct adopt, sul);
    edge_job_done(a->j, a->rc, a->msg);
    adopt_free(a);
}

/* Ends the job from the loop, never inside a docker or edge callback's caller. */
static void adopt_end(struct adopt *a, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void adopt_end(struct adopt *a, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->rc = rc;
    lws_sul_schedule(a->r->ctx, 0, &a->sul, adopt_free_tick, 1);
}

static void adopt_swapped(void *arg, int rc, const struct edge_swap_report *rep, const char *msg)
{
    struct adopt *a = arg;
    (void)rep;
    if (rc < 0)
        adopt_end(a, -1, "cannot route to the serving container: %s", msg ? msg : "swap refused");
    else
        adopt_end(a, 0, "the app's serving container %s (%s) is now behind the edge under %zu name(s)",
                  a->cname, a->addr, json_array_size(json_object_get(a->spec, "domains")));
}

static void adopt_set(void *arg, int rc, const char *msg)
{
    struct adopt *a = arg;
    if (rc < 0)
        adopt_end(a, -1, "%s", msg ? msg : "the edge refused the app");
    else if (edge_swap(a->r->edge, a->slug, a->server, a->addr, 0, adopt_swapped, a) < 0)
        adopt_end(a, -1, "the edge refused the swap");
}

static void adopt_edge_up(void *arg, int rc, const char *msg)
{
    struct adopt *a = arg;
    size_t n = json_array_size(json_object_get(a->spec, "domains"));
    if (rc < 0)
        adopt_end(a, -1, "HAProxy did not start: %s", msg ? msg : "?");
    else if (edge_app_set(a->r->edge, a->slug, 0, a->domains, n, adopt_set, a) < 0)
        adopt_end(a, -1, "the edge refused these domains (is the shared HTTP port off? --edge-http-port)");
}

static void adopt_inspected(void *arg, int status, json_t *body, const char *err)
{
    struct adopt *a = arg;
    json_t *labels = json_object_get(json_object_get(body, "Config"), "Labels");
    const char *o = json_string_value(json_object_get(labels, "berth.runner"));
    const char *dep = json_string_value(json_object_get(labels, "berth.deployment"));
    const char *st = err ? NULL : docker_inspect_status(body);
    char ip[64];
    int hp;
    (void)status;
    if (err || !o || strcmp(o, owner(a->r)) || !dep || strcmp(dep, a->dep) || !st || strcmp(st, "running") ||
        docker_inspect_published(body, a->port, ip, sizeof ip, &hp) < 0) {
        adopt_end(a, 0, "the app has no running container here; its next deploy routes these names");
        return;
    }
    snprintf(a->addr, sizeof a->addr, "%s:%d", ip, hp);
    if (edge_running(a->r->edge))
        adopt_edge_up(a, 0, NULL);
    else if (edge_start(a->r->edge, adopt_edge_up, a) < 0)
        adopt_end(a, -1, "cannot start HAProxy");
}

static int adopt_start(struct runner *r, struct job *j, const char *slug, json_t *spec)
{
    const char *cname = json_string_value(json_object_get(spec, "container"));
    const char *dep = json_string_value(json_object_get(spec, "deployment"));
    json_int_t port = json_integer_value(json_object_get(spec, "container_port"));
    json_t *doms = json_object_get(spec, "domains"), *v;
    struct adopt *a;
    size_t i;
    if (!cname || !cname_ok(cname) || !dep || strlen(dep) > 20 || strspn(dep, "0123456789") != strlen(dep) ||
        port < 1 || port > 65535 || json_array_size(doms) == 0)
        return 0;
    if (!(a = calloc(1, sizeof *a)))
        return 0;
    a->r = r;
    a->j = j;
    a->port = (int)port;
    a->spec = json_incref(spec);
    util_strlcpy(a->slug, slug, sizeof a->slug);
    util_strlcpy(a->cname, cname, sizeof a->cname);
    util_strlcpy(a->dep, dep, sizeof a->dep);
    snprintf(a->server, sizeof a->server, "d%s", dep);  /* as the deploy names it */
    json_array_foreach(doms, i, v) a->domains[i] = json_string_value(v);
    if (docker_new(r->ctx, r->vh, r->docker_endpoint, &a->dk) < 0 ||
        docker_container_inspect(a->dk, cname, adopt_inspected, a) < 0) {
        adopt_free(a);
        return 0;
    }
    a->next = adopts;
    adopts = a;
    return 1;
}

int deploy_edge_job(struct runner *r, struct job *j, json_t *spec, char *err, size_t errlen)
{
    const char *app = json_string_value(json_object_get(spec, "app_id"));
    json_t *doms = json_object_get(spec, "domains"), *v;
    const char *list[PROTO_DEPLOY_DOMAINS_MAX];
    char slug[48];
    size_t n = 0, i;
    int port;
    if (!app || !*app || strlen(app) > 20 || strspn(app, "0123456789") != strlen(app) || !json_is_array(doms) ||
        json_array_size(doms) > PROTO_DEPLOY_DOMAINS_MAX) {
        snprintf(err, errlen, "bad edge spec: app_id (digits) and domains (an array) are required");
        return -1;
    }
    json_array_foreach(doms, i, v) {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "bad edge spec: domains must hold host names");
            return -1;
        }
        list[n++] = json_string_value(v);
    }
    snprintf(slug, sizeof slug, "a%s", app);
    if (acme_spec(r, slug, spec, err, errlen) < 0)
        return -1;
    if (!r->edge || (port = edge_app_port(r->edge, slug)) < 0) {
        if (!r->edge || !adopt_start(r, j, slug, spec))
            edge_job_done(j, 0, "the app is not behind the edge yet; its next deploy routes these names");
        else
            acme_want(r, app, list, n);
        return 0;
    }
    if (edge_app_set(r->edge, slug, port, list, n, edge_job_done, j) < 0) {
        snprintf(err, errlen, "the edge refused these domains (is the shared HTTP port off? --edge-http-port)");
        return -1;
    }
    acme_want(r, app, list, n);
    return 0;
}

/* --- the runner's edge --- */

int deploy_init(struct runner *r)
{
    char dir[PATH_MAX];
    struct edge_options o = {.dir = dir, .bind_addr = r->edge_bind[0] ? r->edge_bind : NULL,
                             .http_port = r->edge_http_port, .https_port = r->edge_https_port,
                             .acme_port = r->acme_http_port};
    if (state_path(r, "edge", dir, sizeof dir) < 0 || strlen(dir) > 80) {
        log_warn(C, "state dir path too long for the edge sockets: public ports disabled");
        return 0;
    }
    if (edge_new(r->ctx, r->vh, &o, &r->edge) < 0)
        return 0;
    if (edge_load(r->edge) < 0)
        log_warn(C, "cannot read the edge config back");
    return 0;
}

/* After jobs_init: adopt a running HAProxy (its state is on disk). */
static void adopted(void *arg, int rc, const char *msg)
{
    if (rc < 0)
        log_warn(C, "edge: %s", msg ? msg : "cannot adopt HAProxy");
}

void deploy_adopt_edge(struct runner *r)
{
    char pid[PATH_MAX];
    if (r->edge && !edge_running(r->edge) && state_path(r, "edge/haproxy.pid", pid, sizeof pid) == 0 &&
        access(pid, F_OK) == 0)
        edge_start(r->edge, adopted, NULL);
}

void deploy_stop(struct runner *r)
{
    /* running deploys are abandoned: their markers stay, and the next start
     * undoes them (deploy_recover) */
    while (deploys) {
        struct deploy *d = deploys;
        if (d->child) {
            child_kill(d->child, SIGKILL);
            child_forget(d->child);
            d->child = NULL;
        }
        if (d->job)
            jobs_set_deploy(d->job, NULL);
        deploy_free(d);
    }
    while (adopts)  /* edge jobs routing a running app: their job is abandoned too */
        adopt_free(adopts);
    edge_free(r->edge);
    r->edge = NULL;
}
