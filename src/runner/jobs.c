/* jobs.c - jobs berthd hands the runner (kind "script" for now).
 *
 * A script's body is written to state_dir/work/JOB.sh (mode 0700, never
 * in argv) and run as `/bin/sh JOB.sh` by child.c in its own session
 * (setsid), stdin from /dev/null, cwd state_dir/work. Every read of its
 * stdout/stderr becomes a job.log chunk (<= 16 KiB, UTF-8 sanitised, seq
 * per job), appended to the spool and fsync'ed before it is sent. child.c
 * notices the exit through a pidfd at once; the job is done once the
 * script exited and both pipes reached EOF (or, if a daemonised
 * grandchild keeps them open, once nothing came for 2 s while they were
 * read, and at the latest 60 s after the exit: child.c). Timeout and job.cancel send
 * SIGTERM to the process group, then SIGKILL 5 s later.
 *
 * Owns: struct job list r->jobs (a job lives until ack.done), a ring of
 * recently forgotten ids for dedup. */
#include "runner.h"

#include "certs.h"
#include "child.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define C "jobs"
#define KILL_GRACE_S 5
#define QUEUE_HIGH (256u * 1024)
#define TRIM_EVERY 32
#define RECENT_MAX 64

struct job {
    struct job *next;
    struct runner *r;
    char id[PROTO_JOB_ID_MAX + 1];
    struct child *child;           /* the script, until its exit callback */
    int paused;                    /* its output is not read for now */
    int running;                   /* process or pipes still active */
    struct proto_utf8_carry carry[2]; /* stdout, stderr */
    int64_t seq;                   /* last seq spooled */
    int64_t acked;                 /* berthd holds every seq <= acked */
    int64_t trimmed;               /* spool trimmed up to here */
    int done;                      /* JOB.done written */
    int replaying;                 /* spool replay in progress: output
                                      goes to the spool only, the replay
                                      sends it in order */
    int64_t replay_off, replay_after;
    int spool_fd;
    int timeout_s;
    int cancelled, timed_out, kill_stage;
    lws_sorted_usec_list_t sul_kill;
    struct deploy *deploy;         /* a running deploy job (deploy.c) */
};

static char recent[RECENT_MAX][PROTO_JOB_ID_MAX + 1];
static unsigned recent_next;

static struct job *find(struct runner *r, const char *id)
{
    for (struct job *j = r->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static int recently_forgotten(const char *id)
{
    for (unsigned i = 0; i < RECENT_MAX; i++)
        if (strcmp(recent[i], id) == 0)
            return 1;
    return 0;
}

static struct job *job_new(struct runner *r, const char *id)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->r = r;
    util_strlcpy(j->id, id, sizeof j->id);
    j->spool_fd = -1;
    j->next = r->jobs;
    r->jobs = j;
    return j;
}

static void job_free(struct runner *r, struct job *j)
{
    for (struct job **pp = &r->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    lws_sul_cancel(&j->sul_kill);
    if (j->spool_fd >= 0)
        close(j->spool_fd);
    free(j);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int work_path(const struct runner *r, const char *id, const char *ext, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/work/%s.%s", r->state_dir, id, ext);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* Spools one chunk and sends it if the session is up. */
static void emit(struct job *j, const char *stream, const char *data, size_t len)
{
    struct runner *r = j->r;
    size_t flen;
    json_t *m;
    char *frame;
    while (len) {
        size_t n = len > PROTO_CHUNK_MAX ? PROTO_CHUNK_MAX : len;
        m = proto_job_log(j->id, j->seq + 1, stream, now_ms(), data, n);
        frame = m ? proto_dump(m, &flen) : NULL;
        json_decref(m);
        if (!frame) {
            log_error(C, "job %s: cannot build a log chunk", j->id);
            return;
        }
        j->seq++;
        if (j->spool_fd < 0)
            j->spool_fd = spool_open(r, j->id);
        if (j->spool_fd < 0 || spool_append(j->spool_fd, frame, flen) < 0)
            log_error(C, "job %s: chunk %lld not spooled; sending anyway", j->id, (long long)j->seq);
        if (!j->replaying)
            link_send_raw(r, frame, flen);
        free(frame);
        data += n;
        len -= n;
    }
}

static void emit_system(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit_system(struct job *j, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n >= sizeof line ? sizeof line - 1 : (size_t)n;
    size_t outlen;
    proto_utf8_sanitize(line, len, 1, line, &outlen);
    emit(j, "system", line, outlen);
}

static void send_accepted(struct runner *r, const char *id)
{
    json_t *m = proto_job_accepted(id);
    link_send(r, m);
    json_decref(m);
}

/* Writes and sends job.done. */
static void finish_with(struct job *j, int exit_code, const char *error)
{
    struct runner *r = j->r;
    size_t flen;
    json_t *m = proto_job_done(j->id, j->seq, exit_code == 0 && !error ? "SUCCEEDED" : "FAILED",
                               exit_code, error);
    char *frame = m ? proto_dump(m, &flen) : NULL;
    json_decref(m);
    if (!frame) {
        log_error(C, "job %s: cannot build job.done", j->id);
        return;
    }
    if (spool_write_done(r, j->id, frame, flen) < 0)
        log_error(C, "job %s: result not spooled; sending anyway", j->id);
    j->done = 1;
    j->running = 0;
    if (j->spool_fd >= 0) {
        close(j->spool_fd);
        j->spool_fd = -1;
    }
    if (!j->replaying)
        link_send_raw(r, frame, flen);
    free(frame);
    log_info(C, "job %s finished: %s", j->id, error ? error : "exit code 0");
}

void jobs_emit(struct job *j, const char *stream, const char *data, size_t len)
{
    emit(j, stream, data, len);
}

void jobs_finish(struct job *j, int exit_code, const char *error)
{
    finish_with(j, exit_code, error);
    fingerprint_poke(j->r);
}

void jobs_set_deploy(struct job *j, struct deploy *d)
{
    j->deploy = d;
}

int jobs_work_path(const struct runner *r, const char *id, const char *ext, char *out, size_t n)
{
    return work_path(r, id, ext, out, n);
}

static void flush_carry(struct job *j);

/* The script exited and its pipes closed (child.c's exit callback). */
static void script_exit(void *arg, int status)
{
    struct job *j = arg;
    char why[96];
    char p[PATH_MAX];
    int sig = child_signal(j->child);
    const char *error = NULL;
    j->child = NULL; /* child.c frees it when this returns */
    lws_sul_cancel(&j->sul_kill);
    flush_carry(j);
    if (sig) {
        snprintf(why, sizeof why, "killed by signal %d", sig);
        error = why;
    } else if (status < 0) {
        error = "unknown exit status";
    } else if (status) {
        snprintf(why, sizeof why, "exit code %d", status);
        error = why;
    }
    if (j->timed_out) {
        snprintf(why, sizeof why, "timed out after %d s", j->timeout_s);
        error = why;
        emit_system(j, "timed out after %d s; process group killed", j->timeout_s);
    } else if (j->cancelled) {
        error = "cancelled";
        emit_system(j, "cancelled");
    }
    if (work_path(j->r, j->id, "sh", p, sizeof p) == 0)
        unlink(p);
    if (work_path(j->r, j->id, "pid", p, sizeof p) == 0)
        unlink(p);
    finish_with(j, status, error);
    fingerprint_poke(j->r);
    malloc_trim(0);  /* give a chatty job's buffers back: stay small when idle */
}

/* --- kill / timeout --- */

static void kill_tick(lws_sorted_usec_list_t *sul)
{
    struct job *j = lws_container_of(sul, struct job, sul_kill);
    if (child_pid(j->child) <= 0)
        return;
    if (j->kill_stage == 0) {
        if (!j->cancelled)
            j->timed_out = 1;
        j->kill_stage = 1;
        child_kill(j->child, SIGTERM);
        lws_sul_schedule(j->r->ctx, 0, &j->sul_kill, kill_tick,
                         (lws_usec_t)KILL_GRACE_S * LWS_USEC_PER_SEC);
    } else {
        child_kill(j->child, SIGKILL);
    }
}

void jobs_on_cancel(struct runner *r, const char *id)
{
    struct job *j = find(r, id);
    if (j && j->running && j->deploy) {
        log_info(C, "cancelling deploy job %s", id);
        deploy_cancel(j->deploy);
        return;
    }
    if (!j || !j->running || child_pid(j->child) <= 0) {
        log_info(C, "job.cancel for %s: not running", id);
        return;
    }
    log_info(C, "cancelling job %s", id);
    j->cancelled = 1;
    j->kill_stage = 0;
    kill_tick(&j->sul_kill);
}

/* --- output --- */

struct job_stream {
    struct job *j;
    const char *name;
};

static void emit_piece(void *arg, const char *piece, size_t n)
{
    struct job_stream *js = arg;
    emit(js->j, js->name, piece, n);
}

/* One read of the script's output: whole UTF-8 characters go out as
 * job.log chunks, a character cut at the end waits for the next read. */
static void script_output(void *arg, int stream, const char *data, size_t len)
{
    struct job *j = arg;
    struct job_stream js = {j, stream == 2 ? "stderr" : "stdout"};
    proto_utf8_stream(&j->carry[stream == 2], data, len, 0, PROTO_CHUNK_MAX, emit_piece, &js);
    if (!j->paused && link_ready(j->r) && link_queued_bytes(j->r) > QUEUE_HIGH) {
        /* berthd is slower than the job: stop reading until drained */
        child_pause(j->child, 1);
        j->paused = 1;
    }
}

/* At EOF: what is left of a character goes out sanitised. */
static void flush_carry(struct job *j)
{
    for (int i = 0; i < 2; i++) {
        struct job_stream js = {j, i ? "stderr" : "stdout"};
        proto_utf8_stream(&j->carry[i], NULL, 0, 1, PROTO_CHUNK_MAX, emit_piece, &js);
    }
}

static void pump(struct runner *r);

void jobs_on_drain(struct runner *r)
{
    pump(r);
    for (struct job *j = r->jobs; j; j = j->next)
        if (j->paused) {
            child_pause(j->child, 0);
            j->paused = 0;
        }
}

/* --- start --- */

static int write_script(struct runner *r, const char *id, const char *body, char *path, size_t n)
{
    if (work_path(r, id, "sh", path, n) < 0)
        return -1;
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0700);
    if (fd < 0)
        return -1;
    size_t left = strlen(body);
    const char *b = body;
    while (left) {
        ssize_t w = write(fd, b, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(path);
            return -1;
        }
        b += w;
        left -= (size_t)w;
    }
    return close(fd);
}

/* work/JOB.pid lets the next start stop a job a crashed runner left. */
static void write_pid(struct runner *r, const char *id, pid_t pid)
{
    char p[PATH_MAX], text[24];
    int n = snprintf(text, sizeof text, "%ld\n", (long)pid);
    if (work_path(r, id, "pid", p, sizeof p) == 0)
        util_write_file_atomic(p, text, (size_t)n, 0600);
}

/* Kills the process group of a job left running by a runner that died,
 * if its shell still runs our script (so a reused pid is left alone). */
static void kill_orphan(struct runner *r, const char *id)
{
    char p[PATH_MAX], script[PATH_MAX], proc[64];
    char *text = NULL, *cmd = NULL;
    size_t len, clen;
    int64_t pid;
    if (work_path(r, id, "pid", p, sizeof p) < 0 || util_read_file(p, 64, &text, &len) < 0)
        return;
    text[strcspn(text, "\n")] = '\0';
    if (util_parse_i64(text, &pid) == 0 && pid > 1 && work_path(r, id, "sh", script, sizeof script) == 0) {
        snprintf(proc, sizeof proc, "/proc/%lld/cmdline", (long long)pid);
        size_t a0 = 0;
        if (util_read_file(proc, 8192, &cmd, &clen) == 0 && (a0 = strnlen(cmd, clen) + 1) < clen &&
            (strcmp(cmd, "/bin/sh") == 0 || strcmp(cmd, "sh") == 0) &&
            strcmp(cmd + a0, script) == 0) {
            log_warn(C, "job %s: stopping its leftover processes (group %lld)", id, (long long)pid);
            kill(-(pid_t)pid, SIGKILL);
        }
        free(cmd);
    }
    free(text);
    unlink(p);
}

static int start_script(struct runner *r, struct job *j, const struct proto_script_spec *s,
                        char *err, size_t errlen)
{
    char script[PATH_MAX], work[PATH_MAX];
    if (write_script(r, j->id, s->body, script, sizeof script) < 0) {
        snprintf(err, errlen, "cannot write the script file: %s", strerror(errno));
        return -1;
    }
    if (state_path(r, "work", work, sizeof work) < 0) {
        snprintf(err, errlen, "state directory path too long");
        unlink(script);
        return -1;
    }
    char *argv[] = {"/bin/sh", script, NULL};
    struct child_spec cs = {
        .argv = argv,
        .cwd = work,
        .capture = 1,
        .new_session = 1,
    };
    if (child_start(r->ctx, r->vh, &cs, script_output, script_exit, j, &j->child, err, errlen) < 0) {
        unlink(script);
        return -1;
    }
    j->running = 1;
    j->timeout_s = s->timeout_s;
    write_pid(r, j->id, child_pid(j->child));
    if (s->timeout_s > 0)
        lws_sul_schedule(r->ctx, 0, &j->sul_kill, kill_tick,
                         (lws_usec_t)s->timeout_s * LWS_USEC_PER_SEC);
    return 0;
}

void jobs_on_job(struct runner *r, json_t *msg)
{
    struct proto_job_msg jm;
    struct proto_script_spec spec;
    char err[256];
    struct job *j;

    if (proto_parse_job(msg, &jm, err, sizeof err) < 0) {
        log_warn(C, "bad job message: %s", err);
        return;
    }
    if (find(r, jm.job) || recently_forgotten(jm.job)) {
        if (strcmp(jm.kind, "deploy") == 0)
            deploy_scrub(jm.spec);
        proto_spec_certs_scrub(jm.spec);
        log_info(C, "job %s is already here: accepting it again, not rerunning", jm.job);
        send_accepted(r, jm.job);
        return;
    }
    j = job_new(r, jm.job);
    if (!j)
        return;
    j->spool_fd = spool_open(r, j->id);  /* the spool now knows the job */
    send_accepted(r, j->id);
    /* uploaded certificates for the app's domains: on disk before the
     * edge needs them, out of the spec before anything else reads it */
    if (strcmp(jm.kind, "deploy") == 0 || strcmp(jm.kind, "edge") == 0)
        certs_apply(r, jm.spec); /* logged on failure: the job goes on */
    if (strcmp(jm.kind, "deploy") == 0) {
        j->running = 1;
        if (deploy_start(r, j, j->id, jm.spec, err, sizeof err) < 0) {
            char why[300];
            snprintf(why, sizeof why, "bad deploy spec: %s", err);
            emit_system(j, "%s", why);
            finish_with(j, -1, why);
        }
        return;
    }
    if (strcmp(jm.kind, "edge") == 0) {
        j->running = 1;
        if (deploy_edge_job(r, j, jm.spec, err, sizeof err) < 0) {
            emit_system(j, "%s", err);
            finish_with(j, -1, err);
        }
        return;
    }
    if (strcmp(jm.kind, "script") != 0) {
        snprintf(err, sizeof err, "unsupported job kind \"%.64s\"", jm.kind);
        emit_system(j, "%s", err);
        finish_with(j, -1, err);
        return;
    }
    if (proto_parse_script_spec(jm.spec, &spec, err, sizeof err) < 0) {
        emit_system(j, "bad script spec: %s", err);
        finish_with(j, -1, "bad script spec");
        return;
    }
    log_info(C, "job %s: running script \"%s\"", j->id, spec.name);
    if (spec.timeout_s > 0)
        emit_system(j, "running script %s (timeout %d s)", spec.name, spec.timeout_s);
    else
        emit_system(j, "running script %s", spec.name);
    if (start_script(r, j, &spec, err, sizeof err) < 0) {
        emit_system(j, "%s", err);
        finish_with(j, -1, err);
    }
}

/* --- acks, welcome --- */

static void trim(struct runner *r, struct job *j)
{
    if (j->replaying)
        return;  /* the replay holds a byte offset into the file */
    if (spool_trim(r, j->id, j->acked, &j->spool_fd) == 0)
        j->trimmed = j->acked;
}

void jobs_on_ack(struct runner *r, const char *id, int64_t seq)
{
    struct job *j = find(r, id);
    if (!j || seq <= j->acked)
        return;
    j->acked = seq > j->seq ? j->seq : seq;
    if (j->acked - j->trimmed >= TRIM_EVERY || (j->done && j->acked == j->seq))
        trim(r, j);
}

static void forget(struct runner *r, struct job *j)
{
    spool_forget(r, j->id);
    util_strlcpy(recent[recent_next], j->id, sizeof recent[0]);
    recent_next = (recent_next + 1) % RECENT_MAX;
    job_free(r, j);
}

void jobs_on_ack_done(struct runner *r, const char *id)
{
    struct job *j = find(r, id);
    if (!j || !j->done || j->running)
        return;
    forget(r, j);
}

size_t jobs_states(struct runner *r, struct proto_job_state **out)
{
    size_t n = 0, i = 0;
    for (struct job *j = r->jobs; j; j = j->next)
        n++;
    *out = NULL;
    if (!n || !(*out = calloc(n, sizeof **out)))
        return 0;
    for (struct job *j = r->jobs; j; j = j->next, i++) {
        (*out)[i].job = j->id;
        (*out)[i].seq = j->seq;
        (*out)[i].flag = j->done;
    }
    return n;
}

static int replay_line(void *ctx, const char *frame, size_t len, int64_t seq)
{
    return link_send_raw(ctx, frame, len) < 0 ? -1 : 0;
}

/* Feeds spool replays into the send queue up to QUEUE_HIGH; called again
 * when the queue drains, so a large spool never sits in memory at once. */
static void pump(struct runner *r)
{
    for (struct job *j = r->jobs; j; j = j->next) {
        while (j->replaying && link_ready(r)) {
            size_t q = link_queued_bytes(r);
            if (q >= QUEUE_HIGH)
                return;
            int rc = spool_replay_step(r, j->id, &j->replay_off, j->replay_after,
                                       QUEUE_HIGH - q, replay_line, r);
            if (rc == 0)
                continue;
            if (rc < 0)
                log_warn(C, "job %s: replay incomplete (resent on the next connection)", j->id);
            j->replaying = 0;
            if (rc > 0 && j->done) {
                char *frame = NULL;
                size_t len;
                if (spool_read_done(r, j->id, &frame, &len) == 0)
                    link_send_raw(r, frame, len);
                free(frame);
            }
        }
    }
}

void jobs_on_welcome(struct runner *r, json_t *welcome_jobs)
{
    size_t i;
    json_t *item;
    char err[160];
    json_array_foreach(welcome_jobs, i, item) {
        struct proto_job_state st;
        struct job *j;
        if (proto_parse_job_state(item, 1, &st, err, sizeof err) < 0) {
            log_warn(C, "welcome: %s", err);
            continue;
        }
        if (!(j = find(r, st.job)))
            continue;
        if (st.flag && j->done && !j->running) {
            forget(r, j);
            continue;
        }
        /* berthd's word is the truth for what to resend */
        j->acked = st.seq > j->seq ? j->seq : st.seq;
    }
    for (struct job *j = r->jobs; j; j = j->next) {
        j->replaying = 0;
        if (j->acked - j->trimmed >= TRIM_EVERY)
            trim(r, j);
        if (j->seq > j->acked || j->done) {
            j->replaying = 1;
            j->replay_off = 0;
            j->replay_after = j->acked;
        }
    }
    pump(r);
}

/* --- startup / shutdown --- */

static int recover_one(void *ctx, const char *id)
{
    struct runner *r = ctx;
    char *frame = NULL, p[PATH_MAX];
    size_t len;
    if (find(r, id))
        return 0;
    struct job *j = job_new(r, id);
    if (!j)
        return -1;
    int64_t last = spool_last_seq(r, id);
    j->seq = last > 0 ? last : 0;
    if (spool_read_done(r, id, &frame, &len) == 0) {
        j->done = 1;
        free(frame);
        return 0;
    }
    j->running = 1;
    if (deploy_recover(r, j, id))
        return 0;  /* deploy.c undoes it and reports it */
    j->running = 0;
    /* it was running when the runner stopped: its result is unknown */
    log_warn(C, "job %s was running when the runner stopped: reporting it failed", id);
    kill_orphan(r, id);
    if (work_path(r, id, "sh", p, sizeof p) == 0)
        unlink(p);
    emit_system(j, "the runner restarted while this job was running; its outcome is unknown");
    finish_with(j, -1, "runner restarted while the job was running");
    return 0;
}

int jobs_init(struct runner *r)
{
    return spool_list(r, recover_one, r);
}

void jobs_stop(struct runner *r)
{
    deploy_stop(r);
    for (struct job *j = r->jobs; j; j = j->next) {
        lws_sul_cancel(&j->sul_kill);
        if (j->child) {
            /* the runner owns its jobs: they stop with it, and the next
             * start reports them failed (see recover_one) */
            pid_t pid = child_pid(j->child);
            child_kill(j->child, SIGKILL);
            if (pid > 0)
                waitpid(pid, NULL, 0);
            child_forget(j->child);
            j->child = NULL;
        }
    }
}

void jobs_release(struct runner *r)
{
    while (r->jobs) {
        struct job *j = r->jobs;
        r->jobs = j->next;
        if (j->spool_fd >= 0)
            close(j->spool_fd);
        free(j);
    }
}
