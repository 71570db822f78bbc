/* api_jobs.c - jobs (a script run today; deploys later) and their output:
 * the job's state, and its log as plain text or NDJSON, whole or followed
 * live until the job ends (a streamed answer fed by the hub). */
#include "access.h"
#include "api.h"
#include "job.h"
#include "util.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_WHOLE_MAX (64u * 1024 * 1024)
#define LOG_PAGE 1000

json_t *api_job_json(const struct job *j)
{
    json_t *spec = j->spec_json ? json_loads(j->spec_json, 0, NULL) : NULL;
    json_t *script = json_object_get(spec, "name");
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:O?, s:o, s:s?, s:o, s:o, s:o, s:o}", "id",
                          (json_int_t)j->id, "server_id", (json_int_t)j->server_id, "kind",
                          j->kind, "status", j->status, "script", script, "exit_code",
                          j->has_exit ? json_integer(j->exit_code) : json_null(), "error",
                          j->error[0] ? j->error : NULL, "created_at", api_time(j->created_at),
                          "started_at", api_time(j->started_at), "finished_at",
                          api_time(j->finished_at), "created_by",
                          j->created_by ? json_integer(j->created_by) : json_null());
    json_decref(spec);
    return o;
}

static int job_of(struct req *r, struct job *j)
{
    int64_t id;
    int rc = util_parse_i64(r->params[1], &id) == 0
                 ? store_job_get(r->srv->store, r->who.org_id, id, j)
                 : STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) {
        http_reply_error(r, 404, "not_found", "job not found: %s", r->params[1]);
        return -1;
    }
    if (rc != STORE_OK) {
        api_store_error(r, rc, "job");
        return -1;
    }
    return 0;
}

void api_job_get(struct req *r)
{
    struct job j;
    if (job_of(r, &j) < 0)
        return;
    http_reply_json(r, 200, api_job_json(&j));
    store_job_release(&j);
}

struct collect_ctx {
    struct buf *b;
    int ndjson;
    int failed;
};

static void collect_chunk(void *arg, int64_t seq, const char *stream, int64_t ts_ms,
                          const char *data, size_t len)
{
    struct collect_ctx *x = arg;
    if (!x->failed && job_format_chunk(x->b, x->ndjson, seq, stream, ts_ms, data, len) < 0)
        x->failed = 1;
}

/* Appends chunks after..upto (0: all) to b; *last gets the last seq. */
static int collect_logs(struct req *r, int64_t job_id, int64_t after, int64_t upto,
                        int ndjson, struct buf *b, int64_t *last)
{
    struct collect_ctx x = {b, ndjson, 0};
    *last = after;
    for (;;) {
        int64_t before = *last;
        if (store_job_logs(r->srv->store, job_id, *last, upto, LOG_PAGE, collect_chunk, &x,
                           last) != STORE_OK)
            return -1;
        if (x.failed)
            return -2;
        if (*last == before || (upto && *last >= upto))
            return 0;
    }
}

static int wants_ndjson(struct req *r)
{
    char accept[256];
    if (!r->wsi || lws_hdr_copy(r->wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT) <= 0)
        return 0;
    return strstr(accept, "application/x-ndjson") != NULL;
}

void api_job_logs(struct req *r)
{
    struct job j;
    if (job_of(r, &j) < 0)
        return;
    api_job_log_answer(r, &j);
}

/* Shared with deployment logs (api_deployments.c); releases j. */
void api_job_log_answer(struct req *r, struct job *j_)
{
    struct job j = *j_;
    j_->spec_json = NULL; /* ours now */
    int ndjson = wants_ndjson(r);
    const char *ctype = ndjson ? "application/x-ndjson" : "text/plain; charset=utf-8";
    char arg[16];
    int follow = req_query(r, "follow", arg, sizeof arg) && strcmp(arg, "0") != 0 &&
                 strcmp(arg, "false") != 0;
    if (r->replied) /* a value too long: answered 400 */
        return;
    int finished = strcmp(j.status, "SUCCEEDED") == 0 || strcmp(j.status, "FAILED") == 0;
    int64_t job_id = j.id;
    store_job_release(&j);

    struct buf b;
    buf_init(&b, LOG_WHOLE_MAX);
    int64_t last = 0, prefix = 0;
    if (!follow || finished) {
        int rc = collect_logs(r, job_id, 0, 0, ndjson, &b, &last);
        if (rc < 0) {
            buf_release(&b);
            if (rc == -2)
                http_reply_error(r, 413, "too_large", "the log is over %u bytes; follow it "
                                 "instead (?follow=1)", LOG_WHOLE_MAX);
            else
                api_store_error(r, STORE_ERR, "job log");
            return;
        }
        size_t len;
        char *data = buf_steal(&b, &len);
        http_reply_raw(r, 200, ctype, data, len);
        return;
    }
    /* Follow: the hub feeds what is stored in order so far, then the rest
     * as it is stored, as fast as the client reads, and ends the stream
     * when the job ends. */
    buf_release(&b);
    if (store_job_log_prefix(r->srv->store, job_id, &prefix) != STORE_OK ||
        http_stream_begin(r, ctype) < 0) {
        api_store_error(r, STORE_ERR, "job log");
        return;
    }
    if (job_follow(r->srv, r, job_id, 0, prefix, ndjson) < 0)
        http_stream_end(r);
}
