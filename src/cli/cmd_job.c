/* cmd_job.c - jobs: show one, print or follow its log, and the follow
 * loop `script run --follow` uses.
 *
 * Logs are read as NDJSON ({seq, stream, ts, data} per line) so the job's
 * stdout can go to our stdout and its stderr (and system lines) to our
 * stderr, chunk by chunk as berthd stores them. A followed answer ends
 * when the job ends; if it ends before (berthd restarted, or cut off a
 * follower that fell behind) the log is followed again and chunks already
 * printed are skipped by seq. Under --json nothing streams: the chunks are
 * collected (at most LOGSTREAM_COLLECT_MAX bytes of data) into the one document. */
#include "cli.h"
#include "buf.h"
#include "util.h"

#include <string.h>
#include <unistd.h>

#define FOLLOW_RETRIES 30            /* consecutive follows that end early */
#define BIG_FOLLOW (8u * 1024 * 1024) /* berthd cuts a follower off at 16 MiB queued */


static int job_id_arg(struct cli *c, int64_t *id)
{
    if (util_parse_i64(c->args[0], id) < 0 || *id <= 0)
        return cli_usage(c, "job ID must be a number (script run prints it)");
    return 0;
}

static int job_path(struct cli *c, int64_t id, const char *tail, char *out, size_t n)
{
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    if (cli_org_path(c, "jobs", ref, out, n) < 0)
        return -1;
    strncat(out, tail, n - strlen(out) - 1);
    return 0;
}

static int job_get(struct cli *c, int64_t id, json_t **job)
{
    char path[600];
    if (job_path(c, id, "", path, sizeof path) < 0)
        return -1;
    return client_request(c, "GET", path, NULL, 1, job);
}

static int is_finished(json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "status"));
    return s && (strcmp(s, "SUCCEEDED") == 0 || strcmp(s, "FAILED") == 0 ||
                 strcmp(s, "CANCELLED") == 0);
}

int job_exit_status(json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "status"));
    json_t *code = json_object_get(job, "exit_code");
    if (s && strcmp(s, "SUCCEEDED") == 0)
        return 0;
    if (!json_is_integer(code) || json_integer_value(code) < 1)
        return 1;
    return json_integer_value(code) > 125 ? 125 : (int)json_integer_value(code);
}

/* A chunk as it comes: the job's stdout to ours, stderr and system lines
 * (the runner's own messages) to stderr. */
static void print_chunk(void *arg, const char *stream, const char *data, size_t len,
                        int64_t ts)
{
    (void)arg;
    (void)ts;
    FILE *to = strcmp(stream, "stdout") == 0 ? stdout : stderr;
    fwrite(data, 1, len, to);
    /* a system line ends its line */
    if (strcmp(stream, "system") == 0 && len && data[len - 1] != '\n')
        fputc('\n', to);
    fflush(to);
}

/* Reads the log once (followed or whole) through f. */
static int read_log(struct cli *c, int64_t id, int follow, struct logstream *f)
{
    char path[600];
    if (job_path(c, id, follow ? "/logs?follow=1" : "/logs", path, sizeof path) < 0)
        return -1;
    int rc = logstream_read(f, path);
    if (rc == 1 && !follow)
        return cli_fail(c, CLI_EXIT_OTHER, "timeout", "the log of job %lld stopped arriving",
                        (long long)id);
    return rc;
}

static int follow_loop(struct cli *c, int64_t id, struct logstream *f, json_t **job)
{
    int early = 0;
    *job = NULL;
    for (int tries = 0;; tries++) {
        int rc = read_log(c, id, 1, f);
        if (rc < 0)
            return -1;
        early |= rc == 1; /* cut while idle: what came since is read whole */
        size_t got = f->received;
        if (job_get(c, id, job) < 0)
            return -1;
        if (is_finished(*job)) {
            /* A follow cut off just before the job ended may lack the tail:
             * read the whole (now final) log once more, skipping by seq. */
            if ((early || got >= BIG_FOLLOW) && read_log(c, id, 0, f) < 0)
                return -1;
            return 0;
        }
        json_decref(*job);
        *job = NULL;
        early = 1;
        if (rc == 1) { /* quiet for a while and still running: follow on */
            tries = -1;
            continue;
        }
        if (tries >= FOLLOW_RETRIES)
            return cli_fail(c, CLI_EXIT_OTHER, "follow_failed", "the log of job %lld keeps "
                            "ending before the job does; see berth job show %lld",
                            (long long)id, (long long)id);
        sleep(1);
    }
}

/* Adds "stdout", "stderr" and "system" text from the collected chunks. */
static void add_streams(json_t *job, json_t *items)
{
    static const char *const names[] = {"stdout", "stderr", "system", NULL};
    for (int k = 0; names[k]; k++) {
        struct buf b;
        json_t *it;
        size_t i;
        buf_init(&b, LOGSTREAM_COLLECT_MAX + 1);
        json_array_foreach(items, i, it) {
            json_t *d = json_object_get(it, "data");
            if (strcmp(json_string_value(json_object_get(it, "stream")), names[k]) == 0)
                buf_append(&b, json_string_value(d), json_string_length(d));
        }
        json_object_set_new(job, names[k], json_stringn(b.data ? b.data : "", b.len));
        buf_release(&b);
    }
}

int job_follow(struct cli *c, int64_t id, json_t **job)
{
    struct logstream f;
    logstream_init(&f, c, print_chunk, NULL);
    int rc = follow_loop(c, id, &f, job);
    if (rc == 0 && f.items)
        add_streams(*job, f.items);
    if (rc < 0) {
        json_decref(*job);
        *job = NULL;
    }
    logstream_release(&f);
    return rc;
}

static void human_job_show(struct cli *c, json_t *d)
{
    static const char *const keys[] = {"id", "kind", "script", "server_id", "status",
                                       "exit_code", "error", "created_at", "started_at",
                                       "finished_at", "created_by", NULL};
    char x[32];
    (void)c;
    for (int i = 0; keys[i]; i++)
        printf("%-12s %s\n", keys[i], out_str(d, keys[i], x, sizeof x));
}

int cmd_job_show(struct cli *c)
{
    int64_t id;
    json_t *d = NULL;
    if (job_id_arg(c, &id) < 0 || job_get(c, id, &d) < 0)
        return -1;
    out_ok(c, d, human_job_show);
    return 0;
}

int cmd_job_logs(struct cli *c)
{
    int64_t id;
    struct logstream f;
    json_t *job = NULL;
    int rc;
    if (job_id_arg(c, &id) < 0)
        return -1;
    logstream_init(&f, c, print_chunk, NULL);
    if (c->a.set[OPT_FOLLOW])
        rc = follow_loop(c, id, &f, &job);
    else
        rc = read_log(c, id, 0, &f);
    if (rc == 0 && f.items) {
        out_ok(c, json_pack("{s:I, s:O}", "job", (json_int_t)id, "items", f.items), NULL);
    }
    json_decref(job);
    logstream_release(&f);
    return rc;
}
