/* spool.c - the on-disk spool that makes job output survive disconnects
 * and restarts. state_dir/spool/JOB.log holds one job.log frame per line,
 * appended and fsync'ed before the frame is sent; JOB.done holds the
 * job.done frame (atomic write). Lines are trimmed once acknowledged
 * (ack), both files removed on ack.done. Job ids are validated by
 * proto_job_id_valid before they reach here, so they are safe names. */
#include "runner.h"

#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define C "spool"

int spool_dir(const struct runner *r, char *out, size_t outlen)
{
    return state_path(r, "spool", out, outlen);
}

static int job_path(const struct runner *r, const char *job, const char *ext, char *out, size_t outlen)
{
    if (!proto_job_id_valid(job))
        return -1;
    int n = snprintf(out, outlen, "%s/spool/%s.%s", r->state_dir, job, ext);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int spool_open(const struct runner *r, const char *job)
{
    char p[PATH_MAX];
    if (job_path(r, job, "log", p, sizeof p) < 0)
        return -1;
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        log_error(C, "cannot open %s: %s", p, strerror(errno));
    return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int spool_append(int fd, const char *frame, size_t len)
{
    /* one write for frame + newline, so a crash leaves at most a torn
     * last line, which replay skips */
    char *line = malloc(len + 1);
    int rc = -1;
    if (!line)
        return -1;
    memcpy(line, frame, len);
    line[len] = '\n';
    if (write_all(fd, line, len + 1) == 0 && fdatasync(fd) == 0)
        rc = 0;
    else
        log_error(C, "append failed: %s", strerror(errno));
    free(line);
    return rc;
}

int spool_write_done(const struct runner *r, const char *job, const char *frame, size_t len)
{
    char p[PATH_MAX];
    if (job_path(r, job, "done", p, sizeof p) < 0)
        return -1;
    if (util_write_file_atomic(p, frame, len, 0600) < 0) {
        log_error(C, "cannot write %s: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

int spool_read_done(const struct runner *r, const char *job, char **frame, size_t *len)
{
    char p[PATH_MAX];
    if (job_path(r, job, "done", p, sizeof p) < 0)
        return -1;
    return util_read_file(p, PROTO_FRAME_MAX, frame, len);
}

/* seq of one spooled line, -1 if the line is not a job.log frame (read
 * as berthd reads it: proto_parse + proto_parse_log). */
static int64_t line_seq(const char *line, size_t len)
{
    json_t *v = NULL;
    enum proto_type t;
    struct proto_log_msg l;
    int64_t seq = -1;
    if (proto_parse(line, len, &v, &t, NULL, 0) == 0 && t == PROTO_JOB_LOG &&
        proto_parse_log(v, &l, NULL, 0) == 0)
        seq = l.seq;
    json_decref(v);
    return seq;
}

/* Calls fn for each complete line, streaming (memory: one line). */
static int each_line(const struct runner *r, const char *job,
                     int (*fn)(void *ctx, const char *line, size_t len, int64_t seq), void *ctx)
{
    char p[PATH_MAX];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    if (job_path(r, job, "log", p, sizeof p) < 0)
        return -1;
    FILE *f = fopen(p, "re");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break;  /* torn last line from a crash */
        int64_t seq = line_seq(line, (size_t)n - 1);
        if (seq > 0 && (rc = fn(ctx, line, (size_t)n - 1, seq)) != 0)
            break;
    }
    free(line);
    fclose(f);
    return rc < 0 ? -1 : 0;
}

int spool_replay_step(const struct runner *r, const char *job, int64_t *offset,
                      int64_t after_seq, size_t budget, spool_line_cb cb, void *ctx)
{
    char p[PATH_MAX];
    char *line = NULL;
    size_t cap = 0, sent = 0;
    ssize_t n;
    int rc = 1;
    if (job_path(r, job, "log", p, sizeof p) < 0)
        return -1;
    FILE *f = fopen(p, "re");
    if (!f)
        return errno == ENOENT ? 1 : -1;
    if (fseeko(f, (off_t)*offset, SEEK_SET) < 0) {
        fclose(f);
        return -1;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break;  /* torn last line from a crash */
        int64_t seq = line_seq(line, (size_t)n - 1);
        if (seq > after_seq) {
            if (cb(ctx, line, (size_t)n - 1, seq) < 0) {
                rc = -1;
                break;
            }
            sent += (size_t)n;
        }
        *offset += n;
        if (sent >= budget) {
            rc = 0;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static int last_one(void *ctx, const char *line, size_t len, int64_t seq)
{
    int64_t *last = ctx;
    if (seq > *last)
        *last = seq;
    return 0;
}

int64_t spool_last_seq(const struct runner *r, const char *job)
{
    int64_t last = 0;
    if (each_line(r, job, last_one, &last) < 0)
        return -1;
    return last;
}

struct trim_ctx {
    int64_t acked, last;
    int fd;
};

static int keep_one(void *ctx, const char *line, size_t len, int64_t seq)
{
    struct trim_ctx *t = ctx;
    /* the last line stays: it carries the job's seq high-water mark */
    if (seq <= t->acked && seq != t->last)
        return 0;
    if (write_all(t->fd, line, len) < 0 || write_all(t->fd, "\n", 1) < 0)
        return -1;
    return 0;
}

int spool_trim(const struct runner *r, const char *job, int64_t acked, int *fd)
{
    char p[PATH_MAX], tmp[PATH_MAX + 8];
    struct trim_ctx t = {acked, 0, -1};
    int rc = -1;
    if (job_path(r, job, "log", p, sizeof p) < 0)
        return -1;
    if ((t.last = spool_last_seq(r, job)) < 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.trim", p);
    t.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (t.fd < 0)
        return -1;
    if (each_line(r, job, keep_one, &t) < 0 || fdatasync(t.fd) < 0)
        goto done;
    if (rename(tmp, p) < 0)
        goto done;
    rc = 0;
    if (fd && *fd >= 0) {
        /* the open append fd points at the old inode: reopen */
        close(*fd);
        *fd = spool_open(r, job);
    }
done:
    close(t.fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int spool_forget(const struct runner *r, const char *job)
{
    char p[PATH_MAX];
    if (job_path(r, job, "log", p, sizeof p) == 0)
        unlink(p);
    if (job_path(r, job, "done", p, sizeof p) == 0)
        unlink(p);
    return 0;
}

int spool_list(const struct runner *r, int (*cb)(void *ctx, const char *id), void *ctx)
{
    char d[PATH_MAX];
    if (spool_dir(r, d, sizeof d) < 0)
        return -1;
    DIR *dir = opendir(d);
    if (!dir)
        return -1;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char id[PROTO_JOB_ID_MAX + 1];
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".log") && strcmp(dot, ".done")))
            continue;
        size_t n = (size_t)(dot - e->d_name);
        if (n == 0 || n > PROTO_JOB_ID_MAX)
            continue;
        memcpy(id, e->d_name, n);
        id[n] = '\0';
        if (proto_job_id_valid(id) && cb(ctx, id) < 0)
            break;
    }
    closedir(dir);
    return 0;
}
