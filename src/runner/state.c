/* state.c - the runner's state directory:
 *   DIR/state.json   {"url": ..., "server_id": ...}   0600
 *   DIR/credential   the per-server credential (brc_...)  0600
 *   DIR/spool/       unacknowledged job output (spool.c)
 *   DIR/work/        job scripts and working directory (jobs.c)
 * The directory is made absolute when prepared (state_prepare_dir).
 * Every file is written atomically (temp + fsync + rename). Owns
 * r->credential (malloc'ed, wiped on release by main.c). */
#include "runner.h"

#include "crypto.h"
#include "jsonx.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define C "state"

int state_path(const struct runner *r, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", r->state_dir, name);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static int mkdir_0700(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    log_error(C, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

/* fsync a directory so a rename inside it is durable. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int state_prepare_dir(struct runner *r)
{
    char p[PATH_MAX];
    struct stat st;
    if (mkdir_0700(r->state_dir) < 0)
        return -1;
    if (stat(r->state_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_error(C, "%s is not a directory", r->state_dir);
        return -1;
    }
    if (st.st_mode & 0077)
        chmod(r->state_dir, 0700);
    /* From here on the state dir is absolute: script jobs run with work/
     * as their working directory and name their script by its full path,
     * which a relative --state-dir would make relative to work/ itself
     * ("sh: cannot open ./var/runner/work/1.sh"). */
    char abs[PATH_MAX];
    if (!realpath(r->state_dir, abs)) {
        log_error(C, "cannot resolve %s: %s", r->state_dir, strerror(errno));
        return -1;
    }
    if (util_strlcpy(r->state_dir, abs, sizeof r->state_dir) < 0) {
        log_error(C, "%s: path too long", abs);
        return -1;
    }
    if (state_path(r, "spool", p, sizeof p) < 0 || mkdir_0700(p) < 0)
        return -1;
    if (state_path(r, "work", p, sizeof p) < 0 || mkdir_0700(p) < 0)
        return -1;
    return 0;
}

/* Reads a secret file, trimming trailing whitespace. */
static int read_secret(const char *path, char **out)
{
    char *b = NULL;
    size_t len = 0;
    if (util_read_file(path, 4096, &b, &len) < 0)
        return -1;
    while (len && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' '))
        b[--len] = '\0';
    if (len == 0) {
        free(b);
        errno = EINVAL;
        return -1;
    }
    *out = b;
    return 0;
}

int state_load(struct runner *r)
{
    char p[PATH_MAX], err[160];
    char *b = NULL;
    size_t len;
    json_t *st = NULL;
    const char *url = NULL, *sid = NULL;
    int rc = -1;

    if (state_path(r, "state.json", p, sizeof p) < 0)
        return -1;
    if (util_read_file(p, 64 * 1024, &b, &len) < 0) {
        if (errno == ENOENT)
            goto credential;
        log_error(C, "cannot read %s: %s", p, strerror(errno));
        return -1;
    }
    st = jx_parse_object(b, len, err, sizeof err);
    if (!st) {
        log_error(C, "%s is corrupt: %s", p, err);
        goto done;
    }
    if (jx_string(st, "url", &url) == JX_OK && !r->url[0])
        util_strlcpy(r->url, url, sizeof r->url);
    if (jx_string(st, "server_id", &sid) == JX_OK)
        util_strlcpy(r->server_id, sid, sizeof r->server_id);
credential:
    if (state_path(r, "credential", p, sizeof p) < 0)
        goto done;
    if (read_secret(p, &r->credential) < 0 && errno != ENOENT) {
        log_error(C, "cannot read %s: %s", p, strerror(errno));
        goto done;
    }
    struct stat cst;
    if (r->credential && stat(p, &cst) == 0 && (cst.st_mode & 0077)) {
        log_warn(C, "%s was readable by others; making it 0600", p);
        chmod(p, 0600);
    }
    rc = 0;
done:
    json_decref(st);
    free(b);
    return rc;
}

int state_save(struct runner *r)
{
    char p[PATH_MAX];
    json_t *st = json_pack("{s:s,s:s}", "url", r->url, "server_id", r->server_id);
    char *text = NULL;
    size_t len;
    int rc = -1;
    if (!st || !(text = jx_dump(st, &len)) || state_path(r, "state.json", p, sizeof p) < 0)
        goto done;
    if (util_write_file_atomic(p, text, len, 0600) < 0) {
        log_error(C, "cannot write %s: %s", p, strerror(errno));
        goto done;
    }
    sync_dir(r->state_dir);
    rc = 0;
done:
    free(text);
    json_decref(st);
    return rc;
}

int state_save_credential(struct runner *r, const char *server_id, const char *credential)
{
    char p[PATH_MAX];
    char *copy = strdup(credential);
    if (!copy || state_path(r, "credential", p, sizeof p) < 0)
        goto fail;
    if (util_write_file_atomic(p, credential, strlen(credential), 0600) < 0) {
        log_error(C, "cannot write %s: %s", p, strerror(errno));
        goto fail;
    }
    sync_dir(r->state_dir);
    util_strlcpy(r->server_id, server_id, sizeof r->server_id);
    if (state_save(r) < 0)
        goto fail;
    if (r->credential) {
        crypto_wipe(r->credential, strlen(r->credential));
        free(r->credential);
    }
    r->credential = copy;
    return 0;
fail:
    if (copy) {
        crypto_wipe(copy, strlen(copy));
        free(copy);
    }
    return -1;
}
