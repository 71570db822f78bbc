/* job.c - a job's whole life in berthd (see job.h).
 *
 * Intake: each runner link keeps, per job whose output flows on it, what
 * is stored so far (`struct job_intake`: the stored prefix `acked`, the
 * highest seq seen, a result waiting for missing chunks). A chunk is
 * stored once per (job, seq) and acked with the prefix; a result is
 * stored once every chunk up to its last_seq is; a frame for a job that
 * ended is refused with ack.done (the runner forgets it, nothing is
 * stored). Every end of a job, whoever makes it, goes through job_ended:
 * gauges, the kind's `finished`, and the followers' end.
 */
#include "job.h"
#include "events.h"
#include "http.h"
#include "hub.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLLOW_PAGE 1000
#define DONE_ERROR_MAX 4000 /* bytes of a result's error kept */
/* The runner's own lines (step reports, "exit 0") are kept past the
 * output cap, up to this much more: a deploy's steps must arrive. */
#define SYSTEM_MAX (1024 * 1024)

struct follower {
    struct follower *next;
    struct jobs *js;
    struct req *r;
    int64_t job_id;
    int64_t sent;   /* last seq queued to the client */
    int64_t acked;  /* the job's stored prefix: what may be sent */
    int ndjson;
    int bol;        /* text: the client's last byte ended a line */
    int ended;      /* the job ended: end the stream once caught up */
};

/* A job whose output flows on a link: what is stored so far. */
struct job_intake {
    struct job_intake *next;
    int64_t job_id;
    const struct job_kind *kind; /* NULL: a kind nobody registered */
    int64_t acked;        /* every seq <= acked is stored */
    int64_t max_seen;     /* highest seq stored (> acked means a gap) */
    int done_pending;     /* job.done waits for the missing chunks */
    int64_t done_last_seq;
    int done_failed, done_exit;
    char *done_error;
    int64_t out_bytes;    /* stored on stdout/stderr */
    int64_t sys_bytes;    /* stored on system */
    int truncated;        /* the cap was reached: stdout/stderr no longer stored */
};

struct jobs {
    struct srv *srv;
    struct hub *hub;
    const struct job_kind *kinds[JOB_KINDS_MAX];
    size_t nkinds;
    int64_t counts[JOB_NSTATUS];
    struct follower *followers;
};

/* ---- kinds and gauges ---- */

int job_kind_register(struct jobs *js, const struct job_kind *k)
{
    if (!k || !k->name || js->nkinds >= JOB_KINDS_MAX)
        return -1;
    for (size_t i = 0; i < js->nkinds; i++)
        if (strcmp(js->kinds[i]->name, k->name) == 0)
            return -1;
    js->kinds[js->nkinds++] = k;
    return 0;
}

static const struct job_kind *kind_of(struct jobs *js, const char *name)
{
    for (size_t i = 0; i < js->nkinds; i++)
        if (strcmp(js->kinds[i]->name, name) == 0)
            return js->kinds[i];
    return NULL;
}

static void gauges(struct jobs *js)
{
    struct metrics *m = js->srv->metrics;
    if (!m)
        return;
    char name[64];
    for (int i = 0; i < JOB_NSTATUS; i++) {
        snprintf(name, sizeof name, "berth_jobs{status=\"%s\"}", store_job_status_names[i]);
        metrics_gauge_set(m, name, (double)js->counts[i]);
    }
}

static int status_index(const char *s)
{
    for (int i = 0; i < JOB_NSTATUS; i++)
        if (strcmp(s, store_job_status_names[i]) == 0)
            return i;
    return -1;
}

static void counts_move(struct jobs *js, int from, int to)
{
    if (from >= 0 && js->counts[from] > 0)
        js->counts[from]--;
    if (to >= 0)
        js->counts[to]++;
    gauges(js);
}

void job_recount(struct srv *s)
{
    if (s->jobs && store_jobs_count(s->store, s->jobs->counts) == STORE_OK)
        gauges(s->jobs);
}

/* Ids travel as decimal strings (docs/protocol.md). */
static void id_str(int64_t id, char out[24]) { snprintf(out, 24, "%lld", (long long)id); }

/* ---- log followers ---- */

int job_format_chunk(struct buf *b, int ndjson, int64_t seq, const char *stream,
                     int64_t ts_ms, const char *data, size_t len)
{
    if (!ndjson) {
        /* the runner's own lines (a step, "running script ...") stand on a
         * line of their own: they carry no newline */
        int sys = strcmp(stream, "system") == 0;
        if (sys && b->len && b->data[b->len - 1] != '\n' && buf_append(b, "\n", 1) < 0)
            return -1;
        if (buf_append(b, data, len) < 0)
            return -1;
        return sys && len && data[len - 1] != '\n' ? buf_append(b, "\n", 1) : 0;
    }
    json_t *o = json_pack("{s:I, s:s, s:I, s:s%}", "seq", (json_int_t)seq, "stream", stream,
                          "ts", (json_int_t)ts_ms, "data", data, len);
    size_t n = 0;
    char *s = o ? jx_dump(o, &n) : NULL;
    json_decref(o);
    int rc = s ? buf_append(b, s, n) : -1;
    free(s);
    return rc == 0 ? buf_append(b, "\n", 1) : -1;
}

/* Followers are fed from the store, never buffered for: a chunk is queued
 * only while the client's stream holds less than HTTP_STREAM_LOW, and
 * feeding resumes when it drains (stream_drained), from `sent`. A reader
 * that stops costs its stream's queue, not the job's log. */
struct fwrite_ctx {
    struct follower *f;
    int failed;
    int paused;
};

static void follow_chunk(void *arg, int64_t seq, const char *stream, int64_t ts_ms,
                         const char *data, size_t len)
{
    struct fwrite_ctx *x = arg;
    struct follower *f = x->f;
    if (x->failed || x->paused)
        return;
    if (f->r->stream.len >= HTTP_STREAM_LOW) {
        x->paused = 1; /* the rest of this page waits for the drain */
        return;
    }
    struct buf b;
    buf_init(&b, 256 * 1024); /* NDJSON escaping can grow a 16 KiB chunk */
    /* text: a system line after a cut line starts a line of its own */
    if (!f->ndjson && !f->bol && strcmp(stream, "system") == 0)
        buf_append(&b, "\n", 1);
    if (job_format_chunk(&b, f->ndjson, seq, stream, ts_ms, data, len) < 0 ||
        http_stream_write(f->r, b.data, b.len) < 0)
        x->failed = 1;
    else if (b.len)
        f->bol = b.data[b.len - 1] == '\n';
    buf_release(&b);
    f->sent = seq;
}

static void follower_unlink(struct jobs *js, struct follower *f)
{
    for (struct follower **pp = &js->followers; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

/* http.c: the client went away (or the req ended otherwise). */
static void follower_gone(struct req *r)
{
    struct follower *f = r->stream_arg;
    if (f) {
        follower_unlink(f->js, f);
        free(f);
    }
    r->stream_arg = NULL;
}

static void follower_end(struct follower *f)
{
    follower_unlink(f->js, f);
    f->r->stream_arg = NULL;
    f->r->stream_gone = NULL;
    f->r->stream_drained = NULL;
    http_stream_end(f->r);
    free(f);
}

/* Queues f's next chunks while its stream has room; ends it once the job
 * ended and everything stored was queued. May free f. */
static void follower_feed(struct follower *f)
{
    struct fwrite_ctx x = {f, 0, 0};
    int caught_up = f->sent >= f->acked;
    while (!x.failed && !x.paused && !caught_up) {
        int64_t before = f->sent, last;
        if (store_job_logs(f->js->srv->store, f->job_id, f->sent, f->acked, FOLLOW_PAGE,
                           follow_chunk, &x, &last) != STORE_OK)
            break;
        caught_up = f->sent >= f->acked || (!x.paused && f->sent == before);
    }
    if (x.failed || (f->ended && caught_up))
        follower_end(f);
}

static void follower_drained(struct req *r)
{
    struct follower *f = r->stream_arg;
    if (f)
        follower_feed(f);
}

/* The job's stored prefix grew to acked (and maybe it ended): feed its
 * followers. */
static void followers_advance(struct jobs *js, int64_t job_id, int64_t acked, int ended)
{
    events_log_advance(js->srv, job_id, acked, ended);
    for (struct follower *f = js->followers, *next; f; f = next) {
        next = f->next;
        if (f->job_id != job_id)
            continue;
        if (acked > f->acked)
            f->acked = acked;
        f->ended |= ended;
        follower_feed(f);
    }
}

int job_follow(struct srv *s, struct req *r, int64_t job_id, int64_t sent, int64_t acked,
               int ndjson)
{
    struct jobs *js = s->jobs;
    struct job j;
    int rc = store_job_get(s->store, 0, job_id, &j);
    if (!js || rc != STORE_OK)
        return -1;
    int idx = status_index(j.status);
    store_job_release(&j);
    struct follower *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->js = js;
    f->r = r;
    f->job_id = job_id;
    f->sent = sent;
    f->acked = acked;
    f->ndjson = ndjson;
    f->bol = 1;
    /* it may have ended between the caller's look and now */
    f->ended = idx == JOB_SUCCEEDED || idx == JOB_FAILED;
    f->next = js->followers;
    js->followers = f;
    r->stream_arg = f;
    r->stream_gone = follower_gone;
    r->stream_drained = follower_drained;
    follower_feed(f);
    return 0;
}

/* ---- the one end of every job ---- */

/* The job's end was stored, moving it from status index `from`: count it,
 * tell its kind, end its followers once they caught up. */
/* The job's status as the organization's event stream tells it. */
static void job_event(struct jobs *js, int64_t job_id)
{
    struct job j;
    if (!events_active(js->srv) || store_job_get(js->srv->store, 0, job_id, &j) != STORE_OK)
        return;
    events_publish(js->srv, j.org_id, SC_SERVER_READ, "job",
                   json_pack("{s:I, s:s, s:I, s:s, s:o}", "id", (json_int_t)j.id, "kind", j.kind,
                             "server_id", (json_int_t)j.server_id, "status", j.status,
                             "exit_code", j.has_exit ? json_integer(j.exit_code) : json_null()));
    store_job_release(&j);
}

static void job_ended(struct jobs *js, int64_t job_id, const struct job_kind *k, int from,
                      int failed, const char *error)
{
    job_event(js, job_id);
    counts_move(js, from, failed ? JOB_FAILED : JOB_SUCCEEDED);
    if (k && k->finished)
        k->finished(js->srv, job_id, failed, error);
    int64_t prefix = 0;
    store_job_log_prefix(js->srv->store, job_id, &prefix);
    followers_advance(js, job_id, prefix, 1);
}

/* ---- creating, sending, cancelling ---- */

int job_insert(struct srv *s, struct job *j)
{
    int rc = store_job_create(s->store, j, &j->id);
    if (rc == STORE_OK)
        util_strlcpy(j->status, "PENDING", sizeof j->status);
    return rc;
}

/* Sends j on c's link now: the spec as stored plus what its kind adds at
 * send time (never stored). */
static void send_on(struct jobs *js, struct hub_conn *c, const struct job *j)
{
    json_t *spec = json_loads(j->spec_json ? j->spec_json : "{}", 0, NULL);
    if (!spec)
        spec = json_object();
    const struct job_kind *k = kind_of(js, j->kind);
    if (k && k->at_send && k->at_send(js->srv, j, spec) > 0) {
        json_decref(spec); /* held: the kind sends it with job_send */
        return;
    }
    char id[24];
    id_str(j->id, id);
    json_t *frame = proto_job(id, j->kind, spec);
    json_decref(spec);
    hub_conn_send(c, frame);
}

void job_send(struct srv *s, const struct job *j)
{
    struct hub_conn *c = s->jobs ? hub_live_link(s->jobs->hub, j->server_id) : NULL;
    if (c)
        send_on(s->jobs, c, j);
}

void job_submitted(struct srv *s, const struct job *j)
{
    if (!s->jobs)
        return;
    counts_move(s->jobs, -1, JOB_PENDING);
    job_send(s, j);
}

/* Ends a PENDING job FAILED with reason; 0 if it ended now. */
static int fail_pending(struct jobs *js, const struct job *j, const char *reason)
{
    if (strcmp(j->status, "PENDING") != 0 ||
        store_job_finish(js->srv->store, j->id, "FAILED", -1, reason, util_now()) != STORE_OK)
        return -1;
    job_ended(js, j->id, kind_of(js, j->kind), JOB_PENDING, 1, reason);
    return 0;
}

int job_fail_pending(struct srv *s, int64_t job_id, const char *reason)
{
    struct job j;
    if (!s->jobs || store_job_get(s->store, 0, job_id, &j) != STORE_OK)
        return -1;
    int rc = fail_pending(s->jobs, &j, reason);
    store_job_release(&j);
    return rc;
}

int job_cancel(struct srv *s, int64_t job_id)
{
    struct jobs *js = s->jobs;
    struct job j;
    if (!js || store_job_get(s->store, 0, job_id, &j) != STORE_OK)
        return -1;
    int idx = status_index(j.status);
    int rc = -1;
    if (idx == JOB_PENDING || idx == JOB_RUNNING) {
        /* Tell the runner either way: it may hold the job without having
         * accepted it yet. */
        struct hub_conn *c = hub_live_link(js->hub, j.server_id);
        char id[24];
        id_str(job_id, id);
        if (c)
            hub_conn_send(c, proto_job_cancel(id));
        rc = fail_pending(js, &j, "cancelled") == 0 ? 0 : 1;
    }
    store_job_release(&j);
    return rc;
}

/* ---- intake: the job frames of a runner link ---- */

static void intake_free(struct job_intake *in)
{
    free(in->done_error);
    free(in);
}

static void intake_remove(struct hub_conn *c, struct job_intake *in)
{
    for (struct job_intake **pp = (struct job_intake **)&c->jobs; *pp; pp = &(*pp)->next)
        if (*pp == in) {
            *pp = in->next;
            intake_free(in);
            return;
        }
}

/* A frame's job id as berthd's id; -1 for one berthd never made. */
static int parse_id(const char *job, int64_t *out)
{
    return util_parse_i64(job, out) == 0 && *out > 0 ? 0 : -1;
}

/* The link's state for job id, loaded from the store on first use. Refuses
 * (NULL) a job that is not this link's server's. *final says it already
 * ended. */
static struct job_intake *intake_get(struct jobs *js, struct hub_conn *c, const char *job,
                                     int *final)
{
    int64_t id;
    *final = 0;
    if (parse_id(job, &id) < 0)
        return NULL;
    for (struct job_intake *in = c->jobs; in; in = in->next)
        if (in->job_id == id)
            return in;
    struct job j;
    if (store_job_get(js->srv->store, 0, id, &j) != STORE_OK)
        return NULL;
    int mine = j.server_id == c->server_id;
    int idx = status_index(j.status);
    const struct job_kind *k = kind_of(js, j.kind);
    store_job_release(&j);
    if (!mine)
        return NULL;
    struct job_intake *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->job_id = id;
    in->kind = k;
    if (store_job_log_prefix(js->srv->store, id, &in->acked) != STORE_OK ||
        store_job_log_usage(js->srv->store, id, &in->out_bytes, &in->sys_bytes,
                            &in->truncated) != STORE_OK) {
        free(in);
        return NULL;
    }
    in->max_seen = in->acked;
    *final = idx == JOB_SUCCEEDED || idx == JOB_FAILED;
    in->next = c->jobs;
    c->jobs = in;
    return in;
}

static void send_ack_done(struct hub_conn *c, int64_t job_id)
{
    char id[24];
    id_str(job_id, id);
    hub_conn_send(c, proto_ack_done(id));
}

static void finish_job(struct jobs *js, struct hub_conn *c, struct job_intake *in)
{
    struct job j;
    int from = -1;
    if (store_job_get(js->srv->store, 0, in->job_id, &j) == STORE_OK) {
        from = status_index(j.status);
        store_job_release(&j);
    }
    int rc = store_job_finish(js->srv->store, in->job_id,
                              in->done_failed ? "FAILED" : "SUCCEEDED", in->done_exit,
                              in->done_error, util_now());
    if (rc == STORE_OK)
        job_ended(js, in->job_id, in->kind, from, in->done_failed, in->done_error);
    else if (rc != STORE_NOTFOUND) /* NOTFOUND: stored before (a replay) */
        return;                    /* no ack.done: the runner resends */
    send_ack_done(c, in->job_id);
    intake_remove(c, in);
}

/* The job ended before this frame came (a chunk or a result for it is
 * refused): ack.done lets the runner forget it; nothing is stored. */
static void job_closed(struct hub_conn *c, struct job_intake *in)
{
    log_warn("job", "server %lld: output for finished job %lld refused",
             (long long)c->server_id, (long long)in->job_id);
    send_ack_done(c, in->job_id);
    intake_remove(c, in);
}

/* A copy of UTF-8 text s cut to at most max bytes on a character boundary. */
static char *utf8_ndup(const char *s, size_t max)
{
    size_t len = strlen(s), outlen = 0;
    char *out = malloc((len < max ? len : max) + 1);
    if (!out)
        return NULL;
    proto_utf8_sanitize(s, len < max ? len : max, len <= max, out, &outlen);
    out[outlen] = '\0';
    return out;
}

static int on_accepted(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t n)
{
    struct jobs *js = arg;
    const char *job;
    int final;
    if (proto_parse_job_ref(msg, &job, why, n) < 0)
        return -1;
    struct job_intake *in = intake_get(js, c, job, &final);
    if (!in)
        return 0; /* not this server's job: ignored */
    if (final) {
        intake_remove(c, in);
        return 0;
    }
    if (store_job_start(js->srv->store, in->job_id, util_now()) == STORE_OK) {
        counts_move(js, JOB_PENDING, JOB_RUNNING);
        job_event(js, in->job_id);
        if (in->kind && in->kind->started)
            in->kind->started(js->srv, in->job_id);
    }
    return 0;
}

static int on_log(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t n)
{
    struct jobs *js = arg;
    struct proto_log_msg l;
    int final;
    if (proto_parse_log(msg, &l, why, n) < 0)
        return -1;
    struct job_intake *in = intake_get(js, c, l.job, &final);
    if (!in)
        return 0; /* not this server's job: ignored */
    if (final) {
        job_closed(c, in);
        return 0;
    }
    int64_t id = in->job_id;
    if (l.seq > in->acked) {
        int inserted = 0;
        const char *data = l.data, *stream = l.stream;
        size_t len = l.len;
        char mark[160];
        int sys = strcmp(stream, "system") == 0;
        int64_t cap = js->srv->cfg.job_output_max;
        if (sys ? in->sys_bytes + (int64_t)len > SYSTEM_MAX
                : in->truncated || in->out_bytes + (int64_t)len > cap) {
            if (in->truncated || sys) { /* dropped, acked: the runner forgets it */
                if (l.seq > in->acked)
                    in->acked = l.seq;
                goto ack;
            }
            /* the first chunk past the cap: the mark takes its seq */
            snprintf(mark, sizeof mark, STORE_JOB_TRUNCATED ": over %lld bytes; the rest of "
                     "stdout and stderr was dropped", (long long)cap);
            data = mark;
            len = strlen(mark);
            stream = "system";
            sys = 1;
        }
        int rc = store_job_log_add(js->srv->store, id, c->server_id, l.seq, stream, l.ts_ms,
                                   data, len, &inserted);
        if (rc == STORE_NOTFOUND) { /* it ended meanwhile */
            job_closed(c, in);
            return 0;
        }
        if (rc != STORE_OK)
            return 0; /* not stored, not acked: the runner replays it */
        if (inserted && data == mark) {
            in->truncated = 1;
            log_warn("job", "job %lld: output over %lld bytes; the rest is dropped",
                     (long long)id, (long long)cap);
        }
        if (inserted)
            *(sys ? &in->sys_bytes : &in->out_bytes) += (int64_t)len;
        if (inserted && sys && data != mark && in->kind && in->kind->system_line)
            in->kind->system_line(js->srv, id, l.ts_ms, data, len);
        if (l.seq > in->max_seen)
            in->max_seen = l.seq;
        int64_t before = in->acked;
        if (l.seq == in->acked + 1) {
            in->acked = l.seq;
            int64_t p = 0; /* a gap was filled: where does it end now? */
            if (in->max_seen > in->acked &&
                store_job_log_prefix(js->srv->store, id, &p) == STORE_OK && p > in->acked)
                in->acked = p;
        }
        if (in->acked > before)
            followers_advance(js, id, in->acked, 0);
    }
ack:;
    char ids[24];
    id_str(id, ids);
    hub_conn_send(c, proto_ack(ids, in->acked));
    if (in->done_pending && in->acked >= in->done_last_seq)
        finish_job(js, c, in);
    return 0;
}

static int on_done(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t n)
{
    struct jobs *js = arg;
    struct proto_done_msg d;
    int final;
    if (proto_parse_done(msg, &d, why, n) < 0)
        return -1;
    struct job_intake *in = intake_get(js, c, d.job, &final);
    if (!in)
        return 0; /* not this server's job: ignored */
    if (final) {
        job_closed(c, in);
        return 0;
    }
    free(in->done_error);
    in->done_error = d.error ? utf8_ndup(d.error, DONE_ERROR_MAX) : NULL;
    in->done_pending = 1;
    in->done_last_seq = d.last_seq;
    in->done_failed = strcmp(d.status, "SUCCEEDED") != 0;
    in->done_exit = d.exit_code;
    if (in->acked >= d.last_seq)
        finish_job(js, c, in);
    return 0;
}

/* ---- the link's life: welcome, live, closed ---- */

/* hello's job list -> welcome's: the stored prefix of each job the runner
 * holds, done_acked for one that ended (or is not this server's). The
 * states point into hello_jobs or ids (both outlive the welcome). */
static int welcome_jobs(void *arg, struct hub_conn *c, json_t *hello_jobs,
                        struct proto_job_state *st, char (*ids)[HUB_ID_MAX], char *why,
                        size_t wn)
{
    struct jobs *js = arg;
    size_t n = json_array_size(hello_jobs);
    for (size_t i = 0; i < n; i++) {
        struct proto_job_state in_st;
        int final = 0;
        if (proto_parse_job_state(json_array_get(hello_jobs, i), 0, &in_st, why, wn) < 0)
            return -1;
        struct job_intake *in = intake_get(js, c, in_st.job, &final);
        if (!in) { /* unknown here (or not this server's): let the runner forget it */
            st[i] = (struct proto_job_state){in_st.job, in_st.seq, 1};
            continue;
        }
        id_str(in->job_id, ids[i]);
        st[i] = (struct proto_job_state){ids[i], in->acked, final};
        if (final)
            intake_remove(c, in);
    }
    return 0;
}

struct pending_ctx {
    struct jobs *js;
    struct hub_conn *c;
};

static void send_pending(void *arg, const struct job *j)
{
    struct pending_ctx *x = arg;
    send_on(x->js, x->c, j);
}

static void link_live(void *arg, struct hub_conn *c)
{
    struct pending_ctx x = {arg, c};
    store_jobs_pending(x.js->srv->store, c->server_id, send_pending, &x);
}

static void link_closed(void *arg, struct hub_conn *c)
{
    (void)arg;
    while (c->jobs) {
        struct job_intake *in = c->jobs;
        c->jobs = in->next;
        intake_free(in);
    }
}

/* ---- life cycle ---- */

struct jobs *jobs_new(struct srv *s)
{
    struct jobs *js = calloc(1, sizeof *js);
    if (js)
        js->srv = s;
    return js;
}

int jobs_start(struct jobs *js, struct hub *h)
{
    js->hub = h;
    struct hub_link_hooks hooks = {welcome_jobs, link_live, link_closed, js};
    if (hub_add_link_hooks(h, &hooks) < 0 ||
        hub_handle(h, PROTO_JOB_ACCEPTED, on_accepted, js) < 0 ||
        hub_handle(h, PROTO_JOB_LOG, on_log, js) < 0 ||
        hub_handle(h, PROTO_JOB_DONE, on_done, js) < 0)
        return -1;
    if (store_jobs_count(js->srv->store, js->counts) != STORE_OK) {
        log_error("job", "cannot count the jobs in the store");
        return -1;
    }
    gauges(js);
    return 0;
}

void jobs_free(struct jobs *js)
{
    if (!js)
        return;
    while (js->followers) { /* their reqs are http.c's, gone with the context */
        struct follower *f = js->followers;
        js->followers = f->next;
        if (f->r)
            f->r->stream_arg = NULL;
        free(f);
    }
    free(js);
}
