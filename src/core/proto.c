/* proto.c - runner protocol v1 builders and parsers (see proto.h and
 * docs/protocol.md). Owns nothing beyond the json_t it returns. */
#include "proto.h"

#include "crypto.h"
#include "jsonx.h"
#include "logre.h"

#include <stdio.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {
    [PROTO_UNKNOWN] = NULL,
    [PROTO_HELLO] = "hello",
    [PROTO_REGISTERED] = "registered",
    [PROTO_HEARTBEAT] = "heartbeat",
    [PROTO_FINGERPRINT] = "fingerprint",
    [PROTO_PRECHECK] = "precheck",
    [PROTO_JOB_ACCEPTED] = "job.accepted",
    [PROTO_JOB_LOG] = "job.log",
    [PROTO_JOB_DONE] = "job.done",
    [PROTO_REGISTER] = "register",
    [PROTO_WELCOME] = "welcome",
    [PROTO_JOB] = "job",
    [PROTO_ACK] = "ack",
    [PROTO_ACK_DONE] = "ack.done",
    [PROTO_JOB_CANCEL] = "job.cancel",
    [PROTO_CHAN_OPEN] = "chan.open",
    [PROTO_CHAN_OPENED] = "chan.opened",
    [PROTO_CHAN_CREDIT] = "chan.credit",
    [PROTO_CHAN_RESIZE] = "chan.resize",
    [PROTO_CHAN_CLOSE] = "chan.close",
    [PROTO_DOCKER_CALL] = "docker.call",
    [PROTO_DOCKER_RESULT] = "docker.result",
    [PROTO_LOGS_QUERY] = "logs.query",
    [PROTO_LOGS_CANCEL] = "logs.cancel",
    [PROTO_LOGS_DATA] = "logs.data",
    [PROTO_LOGS_END] = "logs.end",
    [PROTO_DOMAIN_CERT] = "domain.cert",
};
#define NTYPES (sizeof type_names / sizeof type_names[0])

const char *proto_type_name(enum proto_type t)
{
    return (unsigned)t < NTYPES ? type_names[t] : NULL;
}

enum proto_type proto_type_of(const char *name)
{
    if (!name)
        return PROTO_UNKNOWN;
    for (size_t i = 1; i < NTYPES; i++)
        if (strcmp(type_names[i], name) == 0)
            return (enum proto_type)i;
    return PROTO_UNKNOWN;
}

static void seterr(char *err, size_t errlen, const char *fmt, const char *field)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, field);
}

int proto_parse(const char *data, size_t len, json_t **out,
                enum proto_type *type, char *err, size_t errlen)
{
    json_error_t je;
    *out = NULL;
    if (len > PROTO_FRAME_MAX) {
        seterr(err, errlen, "%s", "frame larger than 1 MiB");
        return -1;
    }
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        if (err && errlen)
            snprintf(err, errlen, "malformed JSON at column %d: %s", je.column, je.text);
        return -1;
    }
    const char *t = NULL;
    if (!json_is_object(v) || jx_string(v, "type", &t) != JX_OK) {
        seterr(err, errlen, "%s", "frame is not an object with a string \"type\"");
        json_decref(v);
        return -1;
    }
    *type = proto_type_of(t);
    *out = v;
    return 0;
}

int proto_job_id_valid(const char *id)
{
    if (!id || !*id || id[0] == '.')
        return 0;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        if (n >= PROTO_JOB_ID_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int proto_ws_url(const char *url, char *out, size_t n, char *err, size_t errlen)
{
    static const struct {
        const char *in, *out;
        int base;  /* berthd's base URL: the link's path is appended */
    } schemes[] = {{"ws://", "ws://", 0}, {"wss://", "wss://", 0},
                   {"http://", "ws://", 1}, {"https://", "wss://", 1}};
    const char *rest = NULL, *scheme = NULL;
    int base = 0;
    size_t plen = strlen(PROTO_PATH);
    if (!url) {
        seterr(err, errlen, "%s", "no URL");
        return -1;
    }
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncasecmp(url, schemes[i].in, strlen(schemes[i].in)) == 0) {
            rest = url + strlen(schemes[i].in);
            scheme = schemes[i].out;
            base = schemes[i].base;
        }
    if (!rest) {
        seterr(err, errlen, "URL \"%.200s\" must start with http://, https://, ws:// or wss://", url);
        return -1;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            seterr(err, errlen, "URL \"%.200s\" has a space or a control character", url);
            return -1;
        }
    size_t host = strcspn(rest, "/?#");
    if (!host || rest[0] == ':' || rest[host] == '?' || rest[host] == '#') {
        seterr(err, errlen, "URL \"%.200s\" needs a host (and no query or fragment)", url);
        return -1;
    }
    const char *path = rest + host;
    size_t len = strlen(path);
    if (strpbrk(path, "?#")) {
        seterr(err, errlen, "URL \"%.200s\" must not have a query or fragment", url);
        return -1;
    }
    while (len && path[len - 1] == '/')
        len--;
    const char *tail = "";
    if (!len)
        tail = PROTO_PATH;            /* ws://HOST or http://HOST: the link's path */
    else if (base && !(len >= plen && memcmp(path + len - plen, PROTO_PATH, plen) == 0))
        tail = PROTO_PATH;            /* http://HOST/prefix: under the prefix */
    else if (!base)
        len = strlen(path);           /* ws://HOST/PATH: as given */
    int w = snprintf(out, n, "%s%.*s%.*s%s", scheme, (int)host, rest, (int)len, path, tail);
    if (w < 0 || (size_t)w >= n) {
        seterr(err, errlen, "%s", "URL too long");
        return -1;
    }
    return 0;
}

char *proto_dump(const json_t *msg, size_t *len)
{
    return jx_dump(msg, len);
}

/* --- builders --- */

static json_t *msg_new(enum proto_type t)
{
    return json_pack("{s:s}", "type", proto_type_name(t));
}

/* json_object_set_new that tolerates a NULL value (turns it into failure). */
static int put(json_t *o, const char *key, json_t *v)
{
    if (!v)
        return -1;
    return json_object_set_new(o, key, v);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *job_states(const struct proto_job_state *jobs, size_t n, int welcome_form)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *it = NULL;
        if (!proto_job_id_valid(jobs[i].job))
            goto fail;
        if (welcome_form)
            it = json_pack("{s:s,s:I,s:b}", "job", jobs[i].job, "acked_seq",
                           (json_int_t)jobs[i].seq, "done_acked", jobs[i].flag != 0);
        else
            it = json_pack("{s:s,s:I,s:b}", "job", jobs[i].job, "last_seq",
                           (json_int_t)jobs[i].seq, "done", jobs[i].flag != 0);
        if (!it || json_array_append_new(arr, it) < 0)
            goto fail;
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

json_t *proto_hello(const char *version, const char *hostname,
                    const struct proto_job_state *jobs, size_t njobs)
{
    json_t *m = msg_new(PROTO_HELLO);
    if (!m || put(m, "proto", json_integer(PROTO_VERSION)) ||
        put(m, "version", json_string(version ? version : "")) ||
        put(m, "hostname", json_string(hostname ? hostname : "")) ||
        put(m, "jobs", job_states(jobs, njobs, 0))) {
        json_decref(m);
        return NULL;
    }
    return m;
}

json_t *proto_registered(const char *server_id)
{
    json_t *m = msg_new(PROTO_REGISTERED);
    if (!m || !server_id || put(m, "server_id", json_string(server_id))) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static json_t *i64_or_null(int64_t v)
{
    return v < 0 ? json_null() : json_integer((json_int_t)v);
}

json_t *proto_heartbeat(const struct proto_metrics *x)
{
    json_t *m = msg_new(PROTO_HEARTBEAT);
    json_t *met = json_object(), *net = json_object();
    if (!m || !met || !net)
        goto fail;
    if (put(net, "rx_v4", i64_or_null(x->net.rx_v4)) || put(net, "tx_v4", i64_or_null(x->net.tx_v4)) ||
        put(net, "rx_v6", i64_or_null(x->net.rx_v6)) || put(net, "tx_v6", i64_or_null(x->net.tx_v6)))
        goto fail;
    if (put(met, "cpu_pct", x->cpu_pct < 0 ? json_null() : json_real(x->cpu_pct)) ||
        put(met, "mem_total", json_integer(x->mem_total)) ||
        put(met, "mem_used", json_integer(x->mem_used)) ||
        put(met, "disk_total", json_integer(x->disk_total)) ||
        put(met, "disk_used", json_integer(x->disk_used)) ||
        put(met, "load1", json_real(x->load1)) || put(met, "load5", json_real(x->load5)) ||
        put(met, "load15", json_real(x->load15)) ||
        put(met, "logs_bytes", i64_or_null(x->logs_bytes)))
        goto fail;
    if (json_object_set_new(met, "net", net) < 0) {
        net = NULL;
        goto fail;
    }
    net = NULL;
    if (json_object_set_new(m, "metrics", met) < 0) {
        met = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(net);
    json_decref(met);
    json_decref(m);
    return NULL;
}

json_t *proto_fingerprint(const struct proto_fingerprint *f)
{
    json_t *m = msg_new(PROTO_FINGERPRINT);
    json_t *ports = json_array();
    if (!m || !ports)
        goto fail;
    for (size_t i = 0; i < f->nports; i++) {
        json_t *p = json_pack("{s:s,s:s,s:i}", "proto", f->ports[i].proto ? f->ports[i].proto : "",
                              "addr", f->ports[i].addr ? f->ports[i].addr : "", "port",
                              f->ports[i].port);
        if (!p || json_array_append_new(ports, p) < 0)
            goto fail;
    }
    if (put(m, "os", str_or_null(f->os)) || put(m, "kernel", str_or_null(f->kernel)) ||
        put(m, "docker", str_or_null(f->docker)) || put(m, "git", str_or_null(f->git)) ||
        put(m, "curl", str_or_null(f->curl)) ||
        put(m, "firewall", json_string(f->firewall ? f->firewall : "unavailable")))
        goto fail;
    if (json_object_set_new(m, "ports", ports) < 0) {
        ports = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(ports);
    json_decref(m);
    return NULL;
}

json_t *proto_precheck(const struct proto_check *checks, size_t n)
{
    json_t *m = msg_new(PROTO_PRECHECK);
    json_t *arr = json_array();
    int ok = 1;
    if (!m || !arr)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_pack("{s:s,s:b,s:s}", "name", checks[i].name ? checks[i].name : "",
                              "ok", checks[i].ok != 0, "detail",
                              checks[i].detail ? checks[i].detail : "");
        if (!c || json_array_append_new(arr, c) < 0)
            goto fail;
        if (!checks[i].ok)
            ok = 0;
    }
    if (put(m, "ok", json_boolean(ok)))
        goto fail;
    if (json_object_set_new(m, "checks", arr) < 0) {
        arr = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(arr);
    json_decref(m);
    return NULL;
}

static json_t *job_only(enum proto_type t, const char *job)
{
    if (!proto_job_id_valid(job))
        return NULL;
    return json_pack("{s:s,s:s}", "type", proto_type_name(t), "job", job);
}

json_t *proto_job_accepted(const char *job) { return job_only(PROTO_JOB_ACCEPTED, job); }
json_t *proto_ack_done(const char *job) { return job_only(PROTO_ACK_DONE, job); }
json_t *proto_job_cancel(const char *job) { return job_only(PROTO_JOB_CANCEL, job); }

static int stream_valid(const char *s)
{
    return s && (!strcmp(s, "stdout") || !strcmp(s, "stderr") || !strcmp(s, "system"));
}

json_t *proto_job_log(const char *job, int64_t seq, const char *stream,
                      int64_t ts_ms, const char *data, size_t len)
{
    if (!proto_job_id_valid(job) || seq < 1 || !stream_valid(stream) || len > PROTO_CHUNK_MAX)
        return NULL;
    /* json_stringn validates UTF-8 and fails on invalid input. */
    return json_pack("{s:s,s:s,s:I,s:s,s:I,s:s%}", "type", "job.log", "job", job, "seq",
                     (json_int_t)seq, "stream", stream, "ts", (json_int_t)ts_ms, "data",
                     data ? data : "", data ? len : 0);
}

static int status_valid(const char *s)
{
    return s && (!strcmp(s, "SUCCEEDED") || !strcmp(s, "FAILED"));
}

json_t *proto_job_done(const char *job, int64_t last_seq, const char *status,
                       int exit_code, const char *error)
{
    if (!proto_job_id_valid(job) || last_seq < 0 || !status_valid(status))
        return NULL;
    return json_pack("{s:s,s:s,s:I,s:s,s:i,s:o}", "type", "job.done", "job", job, "last_seq",
                     (json_int_t)last_seq, "status", status, "exit_code", exit_code, "error",
                     str_or_null(error));
}

json_t *proto_register(const char *server_id, const char *credential)
{
    if (!server_id || !credential)
        return NULL;
    return json_pack("{s:s,s:s,s:s}", "type", "register", "server_id", server_id,
                     "credential", credential);
}

json_t *proto_welcome(const char *server_id, int heartbeat_s,
                      const struct proto_job_state *jobs, size_t njobs)
{
    if (!server_id || heartbeat_s < 1)
        return NULL;
    json_t *arr = job_states(jobs, njobs, 1);
    if (!arr)
        return NULL;
    return json_pack("{s:s,s:s,s:i,s:o}", "type", "welcome", "server_id", server_id,
                     "heartbeat_s", heartbeat_s, "jobs", arr);
}

json_t *proto_job(const char *job, const char *kind, json_t *spec)
{
    if (!proto_job_id_valid(job) || !kind || !json_is_object(spec))
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:O}", "type", "job", "job", job, "kind", kind, "spec", spec);
}

json_t *proto_script_spec(const char *name, const char *body, int timeout_s)
{
    if (!name || !body || timeout_s < 0)
        return NULL;
    return json_pack("{s:s,s:s,s:i}", "name", name, "body", body, "timeout_s", timeout_s);
}

json_t *proto_ack(const char *job, int64_t seq)
{
    if (!proto_job_id_valid(job) || seq < 0)
        return NULL;
    return json_pack("{s:s,s:s,s:I}", "type", "ack", "job", job, "seq", (json_int_t)seq);
}

/* --- parsers --- */

static int need_str(json_t *o, const char *k, const char **out, char *err, size_t errlen)
{
    int rc = jx_string(o, k, out);
    if (rc == JX_OK)
        return 0;
    seterr(err, errlen, rc == JX_MISSING ? "field \"%s\" is missing" : "field \"%s\" must be a string", k);
    return -1;
}

static int need_int_in(json_t *o, const char *k, int64_t min, int64_t max, int64_t *out,
                      char *err, size_t errlen)
{
    int rc = jx_int(o, k, out);
    if (rc != JX_OK) {
        seterr(err, errlen, rc == JX_MISSING ? "field \"%s\" is missing" : "field \"%s\" must be an integer", k);
        return -1;
    }
    if (*out < min || *out > max) {
        seterr(err, errlen, "field \"%s\" is out of range", k);
        return -1;
    }
    return 0;
}

static int need_int(json_t *o, const char *k, int64_t min, int64_t *out, char *err, size_t errlen)
{
    return need_int_in(o, k, min, INT64_MAX, out, err, errlen);
}

static int need_bool(json_t *o, const char *k, int *out, char *err, size_t errlen)
{
    int rc = jx_bool(o, k, out);
    if (rc == JX_OK)
        return 0;
    seterr(err, errlen, rc == JX_MISSING ? "field \"%s\" is missing" : "field \"%s\" must be a boolean", k);
    return -1;
}

static int need_job(json_t *o, const char **job, char *err, size_t errlen)
{
    if (need_str(o, "job", job, err, errlen))
        return -1;
    if (!proto_job_id_valid(*job)) {
        seterr(err, errlen, "field \"%s\" is not a valid job id", "job");
        return -1;
    }
    return 0;
}

static int need_array(json_t *o, const char *k, json_t **out, char *err, size_t errlen)
{
    int rc = jx_array(o, k, out);
    if (rc == JX_OK)
        return 0;
    seterr(err, errlen, rc == JX_MISSING ? "field \"%s\" is missing" : "field \"%s\" must be an array", k);
    return -1;
}

/* A number field that may be null/absent (-> dflt). */
static int opt_num(json_t *o, const char *k, double dflt, double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v)) {
        seterr(err, errlen, "field \"%s\" must be a number", k);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

int64_t proto_count(double v)
{
    if (!(v >= 0)) /* negative or NaN */
        return -1;
    if (v >= 9223372036854775807.0) /* 2^63: the cast would be undefined */
        return INT64_MAX;
    return (int64_t)v;
}

int proto_parse_hello(json_t *msg, struct proto_hello_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (need_int(msg, "proto", 1, &out->proto, err, errlen) ||
        need_str(msg, "version", &out->version, err, errlen) ||
        need_str(msg, "hostname", &out->hostname, err, errlen))
        return -1;
    if (jx_array(msg, "jobs", &out->jobs) == JX_WRONG_TYPE) {
        seterr(err, errlen, "field \"%s\" must be an array", "jobs");
        return -1;
    }
    return 0;
}

int proto_parse_job_state(json_t *item, int welcome_form, struct proto_job_state *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(item)) {
        seterr(err, errlen, "%s", "jobs entry must be an object");
        return -1;
    }
    if (need_job(item, &out->job, err, errlen) ||
        need_int_in(item, welcome_form ? "acked_seq" : "last_seq", 0, PROTO_SEQ_MAX, &out->seq,
                    err, errlen) ||
        need_bool(item, welcome_form ? "done_acked" : "done", &out->flag, err, errlen))
        return -1;
    return 0;
}

int proto_parse_registered(json_t *msg, const char **server_id, char *err, size_t errlen)
{
    return need_str(msg, "server_id", server_id, err, errlen);
}

int proto_parse_heartbeat(json_t *msg, struct proto_metrics *out, char *err, size_t errlen)
{
    json_t *m = NULL, *net = NULL;
    double v[14];
    static const char *const keys[] = {"cpu_pct", "mem_total", "mem_used", "disk_total",
                                       "disk_used", "load1", "load5", "load15"};
    static const char *const nkeys[] = {"rx_v4", "tx_v4", "rx_v6", "tx_v6"};
    memset(out, 0, sizeof *out);
    if (jx_object(msg, "metrics", &m) != JX_OK) {
        seterr(err, errlen, "field \"%s\" must be an object", "metrics");
        return -1;
    }
    for (int i = 0; i < 8; i++)
        if (opt_num(m, keys[i], i == 0 ? -1 : 0, &v[i], err, errlen))
            return -1;
    if (jx_object(m, "net", &net) == JX_WRONG_TYPE) {
        seterr(err, errlen, "field \"%s\" must be an object", "net");
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        v[8 + i] = -1;
        if (net && opt_num(net, nkeys[i], -1, &v[8 + i], err, errlen))
            return -1;
    }
    /* byte counts become int64 through proto_count: saturating, never an
     * undefined cast (a huge /proc counter is legitimate, not an error) */
    out->cpu_pct = v[0];
    out->mem_total = proto_count(v[1]);
    out->mem_used = proto_count(v[2]);
    out->disk_total = proto_count(v[3]);
    out->disk_used = proto_count(v[4]);
    out->load1 = v[5];
    out->load5 = v[6];
    out->load15 = v[7];
    out->net.rx_v4 = proto_count(v[8]);
    out->net.tx_v4 = proto_count(v[9]);
    out->net.rx_v6 = proto_count(v[10]);
    out->net.tx_v6 = proto_count(v[11]);
    /* optional (runners before issue 14 do not send it): -1 unknown */
    v[12] = -1;
    if (opt_num(m, "logs_bytes", -1, &v[12], err, errlen))
        return -1;
    out->logs_bytes = proto_count(v[12]);
    return 0;
}

int proto_parse_precheck(json_t *msg, int *ok, char *err, size_t errlen)
{
    json_t *checks;
    if (need_bool(msg, "ok", ok, err, errlen) || need_array(msg, "checks", &checks, err, errlen))
        return -1;
    return 0;
}

int proto_parse_log(json_t *msg, struct proto_log_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (need_job(msg, &out->job, err, errlen) ||
        need_int_in(msg, "seq", 1, PROTO_SEQ_MAX, &out->seq, err, errlen) ||
        need_str(msg, "stream", &out->stream, err, errlen) ||
        need_int_in(msg, "ts", 0, PROTO_TS_MAX, &out->ts_ms, err, errlen) ||
        need_str(msg, "data", &out->data, err, errlen))
        return -1;
    if (!stream_valid(out->stream)) {
        seterr(err, errlen, "field \"%s\" must be stdout, stderr or system", "stream");
        return -1;
    }
    out->len = json_string_length(json_object_get(msg, "data"));
    if (out->len > PROTO_CHUNK_MAX) {
        seterr(err, errlen, "field \"%s\" is longer than 16 KiB", "data");
        return -1;
    }
    return 0;
}

int proto_parse_done(json_t *msg, struct proto_done_msg *out, char *err, size_t errlen)
{
    int64_t code;
    memset(out, 0, sizeof *out);
    if (need_job(msg, &out->job, err, errlen) ||
        need_int_in(msg, "last_seq", 0, PROTO_SEQ_MAX, &out->last_seq, err, errlen) ||
        need_str(msg, "status", &out->status, err, errlen) ||
        need_int_in(msg, "exit_code", INT32_MIN, INT32_MAX, &code, err, errlen))
        return -1;
    if (!status_valid(out->status)) {
        seterr(err, errlen, "field \"%s\" must be SUCCEEDED or FAILED", "status");
        return -1;
    }
    out->exit_code = (int)code;
    if (jx_string(msg, "error", &out->error) == JX_WRONG_TYPE) {
        seterr(err, errlen, "field \"%s\" must be a string or null", "error");
        return -1;
    }
    return 0;
}

int proto_parse_register(json_t *msg, struct proto_register_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (need_str(msg, "server_id", &out->server_id, err, errlen) ||
        need_str(msg, "credential", &out->credential, err, errlen))
        return -1;
    if (!*out->credential) {
        seterr(err, errlen, "field \"%s\" is empty", "credential");
        return -1;
    }
    return 0;
}

int proto_parse_welcome(json_t *msg, struct proto_welcome_msg *out, char *err, size_t errlen)
{
    int64_t hb = PROTO_HEARTBEAT_S;
    memset(out, 0, sizeof *out);
    if (need_str(msg, "server_id", &out->server_id, err, errlen))
        return -1;
    int rc = jx_int(msg, "heartbeat_s", &hb);
    if (rc == JX_WRONG_TYPE || (rc == JX_OK && (hb < 1 || hb > 3600))) {
        seterr(err, errlen, "field \"%s\" must be an integer in 1..3600", "heartbeat_s");
        return -1;
    }
    out->heartbeat_s = (int)hb;
    rc = jx_array(msg, "jobs", &out->jobs);
    if (rc == JX_WRONG_TYPE) {
        seterr(err, errlen, "field \"%s\" must be an array", "jobs");
        return -1;
    }
    return 0;
}

int proto_parse_job(json_t *msg, struct proto_job_msg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (need_job(msg, &out->job, err, errlen) || need_str(msg, "kind", &out->kind, err, errlen))
        return -1;
    if (jx_object(msg, "spec", &out->spec) != JX_OK) {
        seterr(err, errlen, "field \"%s\" must be an object", "spec");
        return -1;
    }
    return 0;
}

int proto_parse_script_spec(json_t *spec, struct proto_script_spec *out, char *err, size_t errlen)
{
    int64_t t = 0;
    memset(out, 0, sizeof *out);
    if (need_str(spec, "body", &out->body, err, errlen))
        return -1;
    if (jx_string(spec, "name", &out->name) == JX_WRONG_TYPE) {
        seterr(err, errlen, "field \"%s\" must be a string", "name");
        return -1;
    }
    if (!out->name)
        out->name = "script";
    int rc = jx_int(spec, "timeout_s", &t);
    if (rc == JX_WRONG_TYPE || (rc == JX_OK && (t < 0 || t > 7 * 24 * 3600))) {
        seterr(err, errlen, "field \"%s\" must be an integer in 0..604800", "timeout_s");
        return -1;
    }
    out->timeout_s = (int)t;
    return 0;
}

int proto_parse_ack(json_t *msg, const char **job, int64_t *seq, char *err, size_t errlen)
{
    if (need_job(msg, job, err, errlen) || need_int(msg, "seq", 0, seq, err, errlen))
        return -1;
    return 0;
}

int proto_parse_job_ref(json_t *msg, const char **job, char *err, size_t errlen)
{
    return need_job(msg, job, err, errlen);
}

/* --- container management --- */

static const char *const op_names[] = {
    [PROTO_OP_LIST] = "list",       [PROTO_OP_INSPECT] = "inspect",
    [PROTO_OP_START] = "start",     [PROTO_OP_STOP] = "stop",
    [PROTO_OP_RESTART] = "restart", [PROTO_OP_REMOVE] = "remove",
    [PROTO_OP_PRUNE_SCAN] = "prune_scan", [PROTO_OP_PRUNE] = "prune",
};

static int op_has_target(enum proto_docker_op op)
{
    return op != PROTO_OP_LIST && op != PROTO_OP_PRUNE_SCAN && op != PROTO_OP_PRUNE;
}

static int hex_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return s[n] == '\0';
}

/* An image tag as berth and Docker spell them: [A-Za-z0-9][A-Za-z0-9_.:/-]*. */
static int image_ref_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > PROTO_IMAGE_REF_MAX || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.:/-", s[i]))
            return 0;
    return 1;
}

int proto_prune_item(json_t *item, int *is_image, const char **id, json_t **tags, char *err,
                     size_t errlen)
{
    const char *kind;
    json_t *t, *v;
    size_t i;
    if (!json_is_object(item)) {
        seterr(err, errlen, "%s", "a prune item must be an object");
        return -1;
    }
    if (need_str(item, "kind", &kind, err, errlen) < 0 || need_str(item, "id", id, err, errlen) < 0)
        return -1;
    if (strcmp(kind, "container") != 0 && strcmp(kind, "image") != 0) {
        seterr(err, errlen, "field \"%s\" is not container or image", "kind");
        return -1;
    }
    *is_image = kind[0] == 'i';
    const char *hex = *is_image && strncmp(*id, "sha256:", 7) == 0 ? *id + 7 : *id;
    if ((*is_image && hex == *id) || strlen(hex) != 64 || !hex_ok(hex, 64)) {
        seterr(err, errlen, "field \"%s\" is not a full container or image id", "id");
        return -1;
    }
    t = json_object_get(item, "tags");
    if (t && !json_is_null(t)) {
        if (!*is_image || !json_is_array(t) || json_array_size(t) > PROTO_PRUNE_TAGS_MAX) {
            seterr(err, errlen, "field \"%s\" must be an image's list of at most 16 tags",
                   "tags");
            return -1;
        }
        json_array_foreach(t, i, v)
            if (!image_ref_ok(json_string_value(v))) {
                seterr(err, errlen, "field \"%s\" holds a bad image tag", "tags");
                return -1;
            }
    } else {
        t = NULL;
    }
    *tags = t;
    return 0;
}

static int prune_items_ok(json_t *items, char *err, size_t errlen)
{
    json_t *v, *tags;
    size_t i;
    int img;
    const char *id;
    if (!json_is_array(items) || json_array_size(items) > PROTO_PRUNE_ITEMS_MAX) {
        seterr(err, errlen, "field \"%s\" must be an array of at most 1000 items", "items");
        return 0;
    }
    json_array_foreach(items, i, v)
        if (proto_prune_item(v, &img, &id, &tags, err, errlen) < 0)
            return 0;
    return 1;
}

const char *proto_docker_op_name(enum proto_docker_op op)
{
    return op >= PROTO_OP_LIST && op < PROTO_OP_NONE ? op_names[op] : NULL;
}

static int call_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > PROTO_CALL_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    return 1;
}

/* A container's name or id as Docker spells them: starts alphanumeric,
 * then [A-Za-z0-9_.-]. */
static int container_ref_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > PROTO_CONTAINER_REF_MAX || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return 0;
    return 1;
}

json_t *proto_docker_call(const struct proto_docker_call *c)
{
    const char *op = proto_docker_op_name(c->op);
    char err[160];
    if (!call_id_ok(c->id) || !op || op_has_target(c->op) != (c->target != NULL) ||
        (c->target && !container_ref_ok(c->target)) ||
        (c->op == PROTO_OP_PRUNE) != (c->items != NULL) ||
        (c->items && !prune_items_ok(c->items, err, sizeof err)))
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s*, s:O*}", "type", "docker.call", "id", c->id, "op", op,
                     "target", c->target, "items", c->items);
}

int proto_parse_docker_call(json_t *msg, struct proto_docker_call *out, char *err,
                            size_t errlen)
{
    const char *op;
    memset(out, 0, sizeof *out);
    if (need_str(msg, "id", &out->id, err, errlen) < 0 || need_str(msg, "op", &op, err, errlen) < 0)
        return -1;
    if (!call_id_ok(out->id)) {
        seterr(err, errlen, "field \"%s\" is not a call id", "id");
        return -1;
    }
    out->op = PROTO_OP_NONE;
    for (int i = PROTO_OP_LIST; i < PROTO_OP_NONE; i++)
        if (strcmp(op, op_names[i]) == 0)
            out->op = (enum proto_docker_op)i;
    if (out->op == PROTO_OP_NONE) {
        seterr(err, errlen, "field \"%s\" is not a known operation", "op");
        return -1;
    }
    if (out->op == PROTO_OP_PRUNE) {
        out->items = json_object_get(msg, "items");
        return prune_items_ok(out->items, err, errlen) ? 0 : -1;
    }
    if (!op_has_target(out->op))
        return 0;
    if (need_str(msg, "target", &out->target, err, errlen) < 0)
        return -1;
    if (!container_ref_ok(out->target)) {
        seterr(err, errlen, "field \"%s\" is not a container's name or id", "target");
        return -1;
    }
    return 0;
}

json_t *proto_docker_result(const struct proto_docker_result *r)
{
    if (!call_id_ok(r->id) || (r->result && !json_is_object(r->result) &&
                               !json_is_array(r->result)) || r->status < 0 || r->status > 999)
        return NULL;
    json_t *m = json_pack("{s:s, s:s, s:b, s:i}", "type", "docker.result", "id", r->id, "ok",
                          r->ok, "status", r->status);
    if (!m)
        return NULL;
    if (r->error) {
        size_t n = strlen(r->error), out = 0;
        char cut[PROTO_CALL_ERROR_MAX + 1];
        proto_utf8_sanitize(r->error, n > PROTO_CALL_ERROR_MAX ? PROTO_CALL_ERROR_MAX : n, 1,
                            cut, &out);
        if (json_object_set_new(m, "error", json_stringn(cut, out)) < 0)
            goto fail;
    }
    if (r->result && json_object_set(m, "result", r->result) < 0)
        goto fail;
    return m;
fail:
    json_decref(m);
    return NULL;
}

int proto_parse_docker_result(json_t *msg, struct proto_docker_result *out, char *err,
                              size_t errlen)
{
    int64_t status;
    memset(out, 0, sizeof *out);
    if (need_str(msg, "id", &out->id, err, errlen) < 0 ||
        need_bool(msg, "ok", &out->ok, err, errlen) < 0 ||
        need_int_in(msg, "status", 0, 999, &status, err, errlen) < 0)
        return -1;
    out->status = (int)status;
    if (!call_id_ok(out->id)) {
        seterr(err, errlen, "field \"%s\" is not a call id", "id");
        return -1;
    }
    json_t *e = json_object_get(msg, "error");
    if (e && !json_is_null(e)) {
        if (!json_is_string(e) || json_string_length(e) > PROTO_CALL_ERROR_MAX ||
            strlen(json_string_value(e)) != json_string_length(e)) {
            seterr(err, errlen, "field \"%s\" must be a string of at most 1 KiB", "error");
            return -1;
        }
        out->error = json_string_value(e);
    }
    json_t *r = json_object_get(msg, "result");
    if (r && !json_is_null(r)) {
        if (!json_is_object(r) && !json_is_array(r)) {
            seterr(err, errlen, "field \"%s\" must be an object or an array", "result");
            return -1;
        }
        out->result = r;
    }
    return 0;
}

int proto_parse_check(json_t *item, struct proto_check *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(item)) {
        seterr(err, errlen, "%s", "checks entry must be an object");
        return -1;
    }
    if (need_str(item, "name", &out->name, err, errlen) || need_bool(item, "ok", &out->ok, err, errlen))
        return -1;
    if (jx_string(item, "detail", &out->detail) == JX_WRONG_TYPE) {
        seterr(err, errlen, "field \"%s\" must be a string or null", "detail");
        return -1;
    }
    return 0;
}

/* --- the deploy job --- */

static int digits_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > max)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Every byte alnum or in extra, the first alnum, 1..max bytes. */
static int charset_ok(const char *s, const char *extra, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > max || !alnum(s[0]))
        return 0;
    for (; *s; s++)
        if (!alnum(*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

static int lower_hex_ok(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < min || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int has_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 1;
    return 0;
}

/* A path inside the clone as the repository names it. */
static int rel_ok(const char *s)
{
    return *s && *s != '/' && *s != '-' && !strstr(s, "..") && !strpbrk(s, "\n\r") &&
           strlen(s) <= PROTO_DEPLOY_REF_MAX;
}

static int branch_ok(const char *s)
{
    return *s && *s != '-' && !strstr(s, "..") && !strpbrk(s, " \n\r~^:?*[\\") && !has_space(s) &&
           strlen(s) <= PROTO_DEPLOY_REF_MAX;
}

static int image_ok(const char *s) { return charset_ok(s, "_.-:/@", PROTO_DEPLOY_REF_MAX); }
static int cname_ok(const char *s) { return charset_ok(s, "_.-", PROTO_DEPLOY_NAME_MAX); }

/* Optional string: absent or null -> dflt; else a string of at most max bytes. */
static int opt_str(json_t *o, const char *k, size_t max, const char *dflt, const char **out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, k);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        seterr(err, errlen, "field \"%s\" must be a string", k);
        return -1;
    }
    if (json_string_length(v) > max) {
        seterr(err, errlen, "field \"%s\" is too long", k);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Optional integer: absent or null -> dflt; else min..max. */
static int opt_int(json_t *o, const char *k, int64_t min, int64_t max, int64_t dflt, int64_t *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, k);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    return need_int_in(o, k, min, max, out, err, errlen);
}

static int opt_int32(json_t *o, const char *k, int min, int max, int dflt, int *out, char *err, size_t errlen)
{
    int64_t v;
    if (opt_int(o, k, min, max, dflt, &v, err, errlen))
        return -1;
    *out = (int)v;
    return 0;
}

/* Optional object: absent or null -> NULL. */
static int opt_obj(json_t *o, const char *k, json_t **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        seterr(err, errlen, "field \"%s\" must be an object", k);
        return -1;
    }
    *out = v;
    return 0;
}

static int bad(char *err, size_t errlen, const char *field, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "field \"%s\" %s", field, why);
    return -1;
}

static int parse_git(json_t *spec, struct proto_git_auth *g, char *err, size_t errlen)
{
    json_t *git = json_object_get(spec, "git");
    memset(g, 0, sizeof *g);
    if (!git || json_is_null(git))
        return 0;
    /* {"auth": "token", "token", "username"} or {"auth": "ssh_key",
     * "ssh_key"}: anything else is refused rather than cloned without the
     * credential berthd meant to give */
    const char *auth = json_string_value(json_object_get(git, "auth"));
    if (!json_is_object(git) || !auth) {
        seterr(err, errlen, "%s", "clone: git credentials without an \"auth\" kind");
        return -1;
    }
    if (!strcmp(auth, "token")) {
        const char *u = json_string_value(json_object_get(git, "username"));
        const char *p = json_string_value(json_object_get(git, "token"));
        if (!p || !*p) {
            seterr(err, errlen, "%s", "clone: git auth \"token\" without a token");
            return -1;
        }
        g->auth = "token";
        g->token = p;
        g->username = u && *u ? u : NULL;
    } else if (!strcmp(auth, "ssh_key")) {
        const char *key = json_string_value(json_object_get(git, "ssh_key"));
        if (!key || !*key) {
            seterr(err, errlen, "%s", "clone: git auth \"ssh_key\" without a key");
            return -1;
        }
        g->auth = "ssh_key";
        g->ssh_key = key;
    } else {
        if (err && errlen)
            snprintf(err, errlen, "clone: unsupported git auth \"%.32s\"", auth);
        return -1;
    }
    return 0;
}

static int parse_lists(json_t *spec, struct proto_deploy_spec *o, char *err, size_t errlen)
{
    json_t *doms = json_object_get(spec, "domains"), *env = json_object_get(spec, "env"), *v;
    const char *k;
    size_t i;
    if (doms && !json_is_null(doms)) {
        if (!json_is_array(doms))
            return bad(err, errlen, "domains", "must be an array");
        if (json_array_size(doms) > PROTO_DEPLOY_DOMAINS_MAX)
            return bad(err, errlen, "domains", "has more than 50 entries");
        o->domains = calloc(json_array_size(doms) + 1, sizeof *o->domains);
        if (!o->domains)
            return bad(err, errlen, "domains", ": out of memory");
        json_array_foreach(doms, i, v) {
            const char *s = json_string_value(v);
            if (!s || !*s || strlen(s) > 253 || has_space(s))
                return bad(err, errlen, "domains", "must hold host names");
            o->domains[o->ndomains++] = s;
        }
    }
    if (env && !json_is_null(env)) {
        if (!json_is_object(env))
            return bad(err, errlen, "env", "must be an object");
        if (json_object_size(env) > PROTO_DEPLOY_ENV_MAX)
            return bad(err, errlen, "env", "has more than 1000 entries");
        struct proto_env_var *e = calloc(json_object_size(env) + 1, sizeof *e);
        if (!e)
            return bad(err, errlen, "env", ": out of memory");
        o->env = e;
        json_object_foreach(env, k, v) {
            /* the message names no value: they are secrets */
            if (!*k || strchr(k, '=') || strlen(k) > 255 || !json_is_string(v))
                return bad(err, errlen, "env", "must map names (no '=') to strings");
            e[o->nenv].name = k;
            e[o->nenv++].value = json_string_value(v);
        }
    }
    return parse_git(spec, &o->git, err, errlen);
}

int proto_parse_deploy_spec(json_t *spec, struct proto_deploy_spec *o, char *err, size_t errlen)
{
    json_t *app, *ct, *h, *t, *prev;
    int64_t mem;
    memset(o, 0, sizeof *o);
    if (!json_is_object(spec)) {
        seterr(err, errlen, "%s", "the spec must be an object");
        return -1;
    }
    if (need_str(spec, "deployment", &o->deployment, err, errlen) ||
        opt_str(spec, "kind", 16, "deploy", &o->kind, err, errlen))
        return -1;
    if (jx_object(spec, "app", &app) != JX_OK)
        return bad(err, errlen, "app", "must be an object");
    if (!digits_ok(o->deployment, PROTO_DEPLOY_ID_MAX))
        return bad(err, errlen, "deployment", "must be a decimal id");
    if (strcmp(o->kind, "deploy") && strcmp(o->kind, "rollback"))
        return bad(err, errlen, "kind", "must be deploy or rollback");
    if (need_str(app, "id", &o->app_id, err, errlen) ||
        opt_str(app, "name", 128, "", &o->app_name, err, errlen))
        return -1;
    if (!digits_ok(o->app_id, PROTO_DEPLOY_ID_MAX))
        return bad(err, errlen, "id", "must be a decimal id");
    if (opt_str(spec, "repo_url", PROTO_DEPLOY_URL_MAX, NULL, &o->repo_url, err, errlen) ||
        opt_str(spec, "branch", PROTO_DEPLOY_REF_MAX, "main", &o->branch, err, errlen) ||
        opt_str(spec, "commit", 64, NULL, &o->commit, err, errlen) ||
        opt_str(spec, "dockerfile", PROTO_DEPLOY_REF_MAX, "Dockerfile", &o->dockerfile, err, errlen) ||
        opt_str(spec, "context", PROTO_DEPLOY_REF_MAX, ".", &o->context, err, errlen) ||
        need_str(spec, "image", &o->image, err, errlen) ||
        opt_str(spec, "rollback_image", PROTO_DEPLOY_REF_MAX, NULL, &o->rollback_image, err, errlen))
        return -1;
    /* berthd may send "" for what it has not: the defaults then */
    if (!*o->branch)
        o->branch = "main";
    if (!*o->dockerfile)
        o->dockerfile = "Dockerfile";
    if (!*o->context)
        o->context = ".";
    if (o->commit && !*o->commit)
        o->commit = NULL;
    if (o->rollback_image && !*o->rollback_image)
        o->rollback_image = NULL;
    if (!image_ok(o->image))
        return bad(err, errlen, "image", "is not an image reference");
    if (o->rollback_image && !image_ok(o->rollback_image))
        return bad(err, errlen, "rollback_image", "is not an image reference");
    if (!o->rollback_image) {
        if (!o->repo_url || !*o->repo_url || o->repo_url[0] == '-' || has_space(o->repo_url))
            return bad(err, errlen, "repo_url", "must be a repository URL");
        if (!branch_ok(o->branch))
            return bad(err, errlen, "branch", "is not a branch name");
        if (o->commit && !lower_hex_ok(o->commit, 4, 64))
            return bad(err, errlen, "commit", "must be 4..64 lowercase hex digits");
        if (!rel_ok(o->dockerfile))
            return bad(err, errlen, "dockerfile", "must be a relative path inside the repository");
        if (!rel_ok(o->context))
            return bad(err, errlen, "context", "must be a relative path inside the repository");
    }
    if (jx_object(spec, "container", &ct) != JX_OK)
        return bad(err, errlen, "container", "must be an object");
    if (need_str(ct, "name", &o->container_name, err, errlen) ||
        opt_int32(ct, "port", 1, 65535, 0, &o->container_port, err, errlen) ||
        opt_str(ct, "restart_policy", 31, NULL, &o->restart_policy, err, errlen) ||
        opt_int(ct, "memory", 0, INT64_C(1) << 50, 0, &mem, err, errlen) ||
        opt_num(ct, "cpus", 0, &o->cpus, err, errlen))
        return -1;
    o->memory = mem;
    if (!cname_ok(o->container_name))
        return bad(err, errlen, "name", "is not a container name");
    if (!o->container_port)
        return bad(err, errlen, "port", "is missing");
    if (o->restart_policy && !*o->restart_policy)
        o->restart_policy = NULL;
    if (o->restart_policy && !charset_ok(o->restart_policy, "-:", 31))
        return bad(err, errlen, "restart_policy", "is not a restart policy");
    if (!(o->cpus >= 0 && o->cpus <= 1024))
        return bad(err, errlen, "cpus", "must be 0..1024");
    if (opt_obj(spec, "health", &h, err, errlen) || opt_obj(spec, "timeouts", &t, err, errlen) ||
        opt_obj(spec, "previous", &prev, err, errlen))
        return -1;
    if (opt_int32(t, "clone_s", 0, 604800, 300, &o->clone_s, err, errlen) ||
        opt_int32(t, "build_s", 0, 604800, 1800, &o->build_s, err, errlen) ||
        opt_int32(t, "health_s", 0, 604800, 120, &o->health_s, err, errlen) ||
        opt_str(h, "path", PROTO_DEPLOY_REF_MAX, "/", &o->health_path, err, errlen) ||
        opt_int32(h, "tries", 1, 100, 10, &o->health_tries, err, errlen) ||
        opt_int32(h, "backoff_ms", 1, 600000, 500, &o->health_backoff_ms, err, errlen) ||
        opt_int32(h, "timeout_s", 0, 604800, o->health_s, &o->health_timeout_s, err, errlen) ||
        opt_int32(spec, "public_port", 0, 65535, 0, &o->public_port, err, errlen) ||
        opt_int32(spec, "keep_images", 0, 1000, 5, &o->keep_images, err, errlen) ||
        opt_int32(spec, "drain_seconds", 0, 3600, 30, &o->drain_seconds, err, errlen))
        return -1;
    if (!*o->health_path)
        o->health_path = "/";
    if (o->health_path[0] != '/' || has_space(o->health_path))
        return bad(err, errlen, "path", "must be an absolute path without spaces");
    if (!o->keep_images)
        o->keep_images = 5;
    if (prev) {
        if (need_str(prev, "deployment", &o->prev_deployment, err, errlen) ||
            opt_str(prev, "image", PROTO_DEPLOY_REF_MAX, NULL, &o->prev_image, err, errlen) ||
            opt_str(prev, "container", PROTO_DEPLOY_NAME_MAX, NULL, &o->prev_container, err, errlen) ||
            opt_str(prev, "commit", 64, NULL, &o->prev_commit, err, errlen))
            return -1;
        if (!digits_ok(o->prev_deployment, PROTO_DEPLOY_ID_MAX))
            return bad(err, errlen, "deployment", "must be a decimal id (previous)");
        if (o->prev_container && *o->prev_container && !cname_ok(o->prev_container))
            return bad(err, errlen, "container", "is not a container name (previous)");
        if (o->prev_image && *o->prev_image && !image_ok(o->prev_image))
            return bad(err, errlen, "image", "is not an image reference (previous)");
    }
    return parse_lists(spec, o, err, errlen);
}

void proto_deploy_spec_release(struct proto_deploy_spec *s)
{
    free(s->domains);
    free((void *)s->env);
    s->domains = NULL;
    s->env = NULL;
    s->ndomains = s->nenv = 0;
}

static json_t *id_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

static json_t *git_object(const struct proto_git_auth *g)
{
    if (!strcmp(g->auth, "token"))
        return json_pack("{s:s, s:s, s:s}", "auth", "token", "token", g->token ? g->token : "", "username",
                         g->username ? g->username : "x-access-token");
    return json_pack("{s:s, s:s}", "auth", g->auth, "ssh_key", g->ssh_key ? g->ssh_key : "");
}

int proto_deploy_spec_add_secrets(json_t *spec, const struct proto_env_var *env, size_t nenv,
                                  const struct proto_git_auth *git)
{
    json_t *e = NULL;
    if (!json_is_object(spec))
        goto fail;
    if (env) {
        if (!(e = json_object()))
            goto fail;
        for (size_t i = 0; i < nenv; i++)
            if (!env[i].name || !env[i].value ||
                json_object_set_new(e, env[i].name, json_string(env[i].value)) < 0)
                goto fail;
        if (json_object_set_new(spec, "env", e) < 0) {
            e = NULL;
            goto fail;
        }
        e = NULL;
    }
    if (git && git->auth && put(spec, "git", git_object(git)) < 0)
        goto fail;
    return 0;
fail:
    json_decref(e);
    return -1;
}

json_t *proto_deploy_spec(const struct proto_deploy_spec *s)
{
    json_t *doms = json_array(), *prev = json_null(), *spec = NULL;
    struct proto_deploy_spec check;
    char why[160];
    if (!doms || !s->deployment || !s->app_id || !s->image || !s->container_name)
        goto fail;
    for (size_t i = 0; i < s->ndomains; i++)
        if (!s->domains[i] || json_array_append_new(doms, json_string(s->domains[i])) < 0)
            goto fail;
    if (s->prev_deployment) {
        json_decref(prev);
        prev = json_pack("{s:s, s:s, s:s, s:o}", "deployment", s->prev_deployment, "image",
                         s->prev_image ? s->prev_image : "", "container",
                         s->prev_container ? s->prev_container : "", "commit", id_or_null(s->prev_commit));
        if (!prev)
            goto fail;
    }
    spec = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:o, s:s, s:s, s:s, s:o,"
                     " s:{s:s, s:i, s:s, s:o, s:o},"
                     " s:{s:s, s:i, s:i, s:i}, s:o, s:O, s:i, s:i, s:{s:i, s:i, s:i}, s:O}",
                     "deployment", s->deployment, "kind", s->kind ? s->kind : "deploy", "app", "id", s->app_id,
                     "name", s->app_name ? s->app_name : "", "repo_url", s->repo_url ? s->repo_url : "",
                     "branch", s->branch ? s->branch : "main", "commit", id_or_null(s->commit), "dockerfile",
                     s->dockerfile ? s->dockerfile : "Dockerfile", "context", s->context ? s->context : ".",
                     "image", s->image, "rollback_image", id_or_null(s->rollback_image),
                     "container", "name", s->container_name, "port", s->container_port, "restart_policy",
                     s->restart_policy ? s->restart_policy : "unless-stopped", "memory",
                     s->memory > 0 ? json_integer(s->memory) : json_null(), "cpus",
                     s->cpus > 0 ? json_real(s->cpus) : json_null(),
                     "health", "path", s->health_path ? s->health_path : "/", "tries",
                     s->health_tries ? s->health_tries : 10, "backoff_ms",
                     s->health_backoff_ms ? s->health_backoff_ms : 500, "timeout_s", s->health_timeout_s,
                     "public_port", s->public_port > 0 ? json_integer(s->public_port) : json_null(),
                     "domains", doms, "keep_images", s->keep_images, "drain_seconds", s->drain_seconds,
                     "timeouts", "clone_s", s->clone_s, "build_s", s->build_s, "health_s", s->health_s,
                     "previous", prev);
    if (!spec)
        goto fail;
    if ((s->nenv || s->git.auth) &&
        proto_deploy_spec_add_secrets(spec, s->nenv ? s->env : NULL, s->nenv, &s->git) < 0)
        goto fail;
    /* what the builder makes, the parser takes */
    int ok = proto_parse_deploy_spec(spec, &check, why, sizeof why) == 0;
    proto_deploy_spec_release(&check);
    if (!ok)
        goto fail;
    json_decref(doms);
    json_decref(prev);
    return spec;
fail:
    json_decref(spec);
    json_decref(doms);
    json_decref(prev);
    return NULL;
}

/* --- deploy step reports --- */

static const char *const step_names[] = {"precheck", "clone", "build", "start",
                                         "health", "swap", "cleanup", "rollback"};

int proto_deploy_step_index(const char *step)
{
    for (int i = 0; step && i < (int)(sizeof step_names / sizeof step_names[0]); i++)
        if (!strcmp(step, step_names[i]))
            return i;
    return -1;
}

static int step_status_ok(const char *s)
{
    return s && (!strcmp(s, "started") || !strcmp(s, "ok") || !strcmp(s, "failed"));
}

static int image_id_ok(const char *s)
{
    return s && !strncmp(s, "sha256:", 7) && lower_hex_ok(s + 7, 64, 64);
}

char *proto_deploy_step_line(const struct proto_deploy_step *s, size_t *len)
{
    char detail[PROTO_STEP_DETAIL_MAX + 1];
    char *text = NULL, *line = NULL;
    size_t n = 0;
    if (proto_deploy_step_index(s->step) < 0 || !step_status_ok(s->status))
        return NULL;
    json_t *o = json_pack("{s:s, s:s}", "step", s->step, "status", s->status);
    if (!o)
        return NULL;
    if (s->detail && *s->detail) {
        size_t dl = strlen(s->detail), outlen;
        if (dl > PROTO_STEP_DETAIL_MAX)
            dl = PROTO_STEP_DETAIL_MAX;
        proto_utf8_sanitize(s->detail, dl, 0, detail, &outlen);  /* a cut character stays out */
        detail[outlen] = '\0';
        for (char *p = detail; *p; p++)  /* one line */
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        if (put(o, "detail", json_string(detail)))
            goto done;
    }
    if ((s->commit && *s->commit && put(o, "commit", json_string(s->commit))) ||
        (s->image && *s->image && put(o, "image", json_string(s->image))) ||
        (s->image_id && *s->image_id && put(o, "image_id", json_string(s->image_id))) ||
        (s->serving && put(o, "serving", json_true())))
        goto done;
    text = jx_dump(o, &n);
    if (text && (line = malloc(n + 2))) {
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
    }
done:
    free(text);
    json_decref(o);
    return line;
}

int proto_parse_deploy_step(const char *line, size_t len, json_t **hold,
                            struct proto_deploy_step *out, char *err, size_t errlen)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    *hold = json_loadb(line, len, 0, &je);
    if (!json_is_object(*hold)) {
        seterr(err, errlen, "%s", "a step report must be a JSON object");
        return -1;
    }
    if (need_str(*hold, "step", &out->step, err, errlen) || need_str(*hold, "status", &out->status, err, errlen))
        return -1;
    if (proto_deploy_step_index(out->step) < 0)
        return bad(err, errlen, "step", "is not a pipeline step");
    if (!step_status_ok(out->status))
        return bad(err, errlen, "status", "must be started, ok or failed");
    /* the optional fields: what breaks its rule is ignored */
    jx_string(*hold, "detail", &out->detail);
    jx_string(*hold, "commit", &out->commit);
    jx_string(*hold, "image", &out->image);
    jx_string(*hold, "image_id", &out->image_id);
    if (out->commit && !(strlen(out->commit) >= 4 && strlen(out->commit) <= 64))
        out->commit = NULL;
    if (out->image && strlen(out->image) > PROTO_DEPLOY_REF_MAX)
        out->image = NULL;
    if (out->image_id && !image_id_ok(out->image_id))
        out->image_id = NULL;
    out->serving = json_is_true(json_object_get(*hold, "serving"));
    return 0;
}

char *proto_tail_line(const struct proto_tail_line *l, size_t *len)
{
    char text[PROTO_TAIL_LINE_MAX];
    size_t tl = l->len, outlen, n = 0;
    int cut = l->cut || tl > PROTO_TAIL_LINE_MAX;
    char *dump = NULL, *line = NULL;
    if (tl > PROTO_TAIL_LINE_MAX)
        tl = PROTO_TAIL_LINE_MAX;
    proto_utf8_sanitize(l->text, tl, !cut, text, &outlen);  /* a cut character stays out */
    /* "s%" last: jansson 2.14 reads past the arguments when a key follows it */
    json_t *o = json_pack("{s:s, s:I, s:s%}", "stream", l->err ? "stderr" : "stdout", "ts",
                          (json_int_t)(l->ts > 0 ? l->ts : 0), "container_line", text, outlen);
    if (o && cut && put(o, "cut", json_true()))
        goto done;
    dump = o ? jx_dump(o, &n) : NULL;
    if (dump && (line = malloc(n + 2))) {
        memcpy(line, dump, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
    }
done:
    free(dump);
    json_decref(o);
    return line;
}

int proto_parse_tail_line(const char *line, size_t len, json_t **hold, struct proto_tail_line *out)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    *hold = json_loadb(line, len, 0, &je);
    json_t *t = json_object_get(*hold, "container_line");
    json_t *ts = json_object_get(*hold, "ts");
    const char *st = json_string_value(json_object_get(*hold, "stream"));
    if (!json_is_string(t) || !json_is_integer(ts) || json_integer_value(ts) < 0 || !st ||
        (strcmp(st, "stdout") && strcmp(st, "stderr")))
        return -1;
    out->text = json_string_value(t);
    out->len = json_string_length(t);
    if (out->len > PROTO_TAIL_LINE_MAX || memchr(out->text, '\0', out->len))
        return -1;
    out->ts = json_integer_value(ts);
    out->err = st[3] == 'e';
    out->cut = json_is_true(json_object_get(*hold, "cut"));
    return 0;
}

/* --- UTF-8 --- */

/* Length of the valid sequence at p (1..4), 0 if invalid, -1 if it is a
 * valid prefix cut short by the end of input. */
static int utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0x01 && c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((size_t)i >= left)
            return -1;
        unsigned char b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
    }
    return n;
}

void proto_utf8_stream(struct proto_utf8_carry *c, const char *data, size_t len, int final,
                       size_t max, proto_piece_cb fn, void *arg)
{
    char b[PROTO_CHUNK_MAX];
    if (max > sizeof b)
        max = sizeof b;
    if (max <= sizeof c->b)
        max = sizeof c->b + 1; /* room for new bytes beside a full carry */
    while (len || (final && c->len)) {
        size_t n = max - c->len, outlen;
        if (n > len)
            n = len;
        memcpy(b, c->b, c->len);
        if (n) { /* data may be NULL with final */
            memcpy(b + c->len, data, n);
            data += n;
        }
        len -= n;
        size_t total = c->len + n;
        /* in place: the output never outruns the input, so the unconsumed
         * tail at b + used is intact */
        size_t used = proto_utf8_sanitize(b, total, final && !len, b, &outlen);
        c->len = total - used;
        memcpy(c->b, b + used, c->len);
        if (outlen)
            fn(arg, b, outlen);
    }
}

size_t proto_utf8_sanitize(const char *in, size_t len, int final, char *out, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < len) {
        int n = utf8_seq(p + i, len - i);
        if (n < 0) {
            if (!final)
                break;
            n = 0;
        }
        if (n == 0) {
            out[o++] = '?';
            i++;
            continue;
        }
        memmove(out + o, p + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
    }
    *outlen = o;
    return i;
}

/* --- application logs --- */

static int streams_of(json_t *msg, int *out, char *err, size_t errlen)
{
    const char *st;
    if (opt_str(msg, "stream", 16, NULL, &st, err, errlen) < 0)
        return -1;
    *out = !st ? 0 : strcmp(st, "stdout") == 0 ? 1 : strcmp(st, "stderr") == 0 ? 2 : -1;
    if (*out < 0)
        return bad(err, errlen, "stream", "is not stdout or stderr");
    return 0;
}

json_t *proto_logs_query(const struct proto_logs_query *q)
{
    if (!call_id_ok(q->id) || !digits_ok(q->app, PROTO_DEPLOY_ID_MAX) || q->since < 0 ||
        q->until < 0 || q->tail < 0 || q->tail > PROTO_LOGS_TAIL_MAX || q->limit < 1 ||
        q->limit > PROTO_LOGS_LIMIT_MAX || q->streams < 0 || q->streams > 3 ||
        (q->q && (!q->q[0] || strlen(q->q) > PROTO_LOGS_Q_MAX)) ||
        (q->re && logre_check(q->re, NULL, 0) < 0) ||
        (q->deployment && !digits_ok(q->deployment, PROTO_DEPLOY_ID_MAX)))
        return NULL;
    json_t *m = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "type", "logs.query", "id",
                          q->id, "app", q->app, "since", (json_int_t)q->since, "until",
                          (json_int_t)q->until, "tail", (json_int_t)q->tail, "limit",
                          (json_int_t)q->limit, "follow", q->follow);
    if (!m)
        return NULL;
    if ((q->q && json_object_set_new(m, "q", json_string(q->q)) < 0) ||
        (q->re && json_object_set_new(m, "re", json_string(q->re)) < 0) ||
        (q->streams == 1 && json_object_set_new(m, "stream", json_string("stdout")) < 0) ||
        (q->streams == 2 && json_object_set_new(m, "stream", json_string("stderr")) < 0) ||
        (q->deployment && json_object_set_new(m, "deployment", json_string(q->deployment)) < 0)) {
        json_decref(m);
        return NULL;
    }
    return m;
}

int proto_parse_logs_query(json_t *msg, struct proto_logs_query *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (need_str(msg, "id", &out->id, err, errlen) < 0 ||
        need_str(msg, "app", &out->app, err, errlen) < 0)
        return -1;
    if (!call_id_ok(out->id))
        return bad(err, errlen, "id", "is not a call id");
    if (!digits_ok(out->app, PROTO_DEPLOY_ID_MAX))
        return bad(err, errlen, "app", "is not an app id");
    if (opt_int(msg, "since", 0, INT64_MAX, 0, &out->since, err, errlen) < 0 ||
        opt_int(msg, "until", 0, INT64_MAX, 0, &out->until, err, errlen) < 0 ||
        opt_int(msg, "tail", 0, PROTO_LOGS_TAIL_MAX, 0, &out->tail, err, errlen) < 0 ||
        opt_int(msg, "limit", 1, PROTO_LOGS_LIMIT_MAX, PROTO_LOGS_LIMIT_MAX, &out->limit, err,
                errlen) < 0 ||
        opt_str(msg, "q", PROTO_LOGS_Q_MAX, NULL, &out->q, err, errlen) < 0 ||
        opt_str(msg, "re", LOGRE_MAX, NULL, &out->re, err, errlen) < 0 ||
        opt_str(msg, "deployment", PROTO_DEPLOY_ID_MAX, NULL, &out->deployment, err, errlen) < 0 ||
        streams_of(msg, &out->streams, err, errlen) < 0)
        return -1;
    if (out->q && !out->q[0])
        out->q = NULL;
    if (out->re) {
        char why[160];
        if (logre_check(out->re, why, sizeof why) < 0)
            return bad(err, errlen, "re", why);
    }
    if (out->deployment && !digits_ok(out->deployment, PROTO_DEPLOY_ID_MAX))
        return bad(err, errlen, "deployment", "is not a deployment id");
    json_t *f = json_object_get(msg, "follow");
    if (f && !json_is_null(f) && need_bool(msg, "follow", &out->follow, err, errlen) < 0)
        return -1;
    return 0;
}

json_t *proto_logs_line(const struct proto_logs_line *l)
{
    if (l->ts < 0 || !lower_hex_ok(l->container, 1, PROTO_LOGS_CID_MAX) ||
        (l->deployment[0] && !digits_ok(l->deployment, PROTO_DEPLOY_ID_MAX)) ||
        l->tlen > PROTO_LOGS_TEXT_MAX)
        return NULL;
    json_t *t = json_stringn(l->text, l->tlen); /* NULL for invalid UTF-8 */
    if (!t)
        return NULL;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o}", "ts", (json_int_t)l->ts, "stream",
                          l->err ? "stderr" : "stdout", "container", l->container, "deployment",
                          l->deployment, "text", t);
    if (o && l->partial && json_object_set_new(o, "partial", json_true()) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int proto_parse_logs_line(json_t *item, struct proto_logs_line *out, char *err, size_t errlen)
{
    const char *st;
    int64_t ts;
    memset(out, 0, sizeof *out);
    if (!json_is_object(item))
        return bad(err, errlen, "lines", "must hold objects");
    if (need_int(item, "ts", 0, &ts, err, errlen) < 0 ||
        need_str(item, "stream", &st, err, errlen) < 0 ||
        need_str(item, "container", &out->container, err, errlen) < 0 ||
        need_str(item, "deployment", &out->deployment, err, errlen) < 0 ||
        need_str(item, "text", &out->text, err, errlen) < 0)
        return -1;
    out->ts = ts;
    if (strcmp(st, "stdout") && strcmp(st, "stderr"))
        return bad(err, errlen, "stream", "is not stdout or stderr");
    out->err = st[3] == 'e';
    if (!lower_hex_ok(out->container, 1, PROTO_LOGS_CID_MAX))
        return bad(err, errlen, "container", "is not a container id");
    if (out->deployment[0] && !digits_ok(out->deployment, PROTO_DEPLOY_ID_MAX))
        return bad(err, errlen, "deployment", "is not a deployment id");
    out->tlen = json_string_length(json_object_get(item, "text"));
    if (out->tlen > PROTO_LOGS_TEXT_MAX)
        return bad(err, errlen, "text", "is longer than 64 KiB");
    if (memchr(out->text, '\0', out->tlen))
        return bad(err, errlen, "text", "holds a NUL");
    json_t *p = json_object_get(item, "partial");
    if (p && !json_is_null(p) && need_bool(item, "partial", &out->partial, err, errlen) < 0)
        return -1;
    return 0;
}

json_t *proto_logs_data(const char *id, json_t *lines)
{
    if (!call_id_ok(id) || !json_is_array(lines)) {
        json_decref(lines);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:o}", "type", "logs.data", "id", id, "lines", lines);
}

int proto_parse_logs_data(json_t *msg, const char **id, json_t **lines, char *err, size_t errlen)
{
    if (need_str(msg, "id", id, err, errlen) < 0 || need_array(msg, "lines", lines, err, errlen) < 0)
        return -1;
    if (!call_id_ok(*id))
        return bad(err, errlen, "id", "is not a call id");
    return 0;
}

json_t *proto_logs_end(const char *id, int ok, const char *error, int truncated)
{
    if (!call_id_ok(id))
        return NULL;
    json_t *m = json_pack("{s:s, s:s, s:b, s:b}", "type", "logs.end", "id", id, "ok", ok,
                          "truncated", truncated);
    if (m && error) {
        size_t n = strlen(error), out = 0;
        char cut[PROTO_CALL_ERROR_MAX + 1];
        proto_utf8_sanitize(error, n > PROTO_CALL_ERROR_MAX ? PROTO_CALL_ERROR_MAX : n, 1, cut,
                            &out);
        if (json_object_set_new(m, "error", json_stringn(cut, out)) < 0) {
            json_decref(m);
            return NULL;
        }
    }
    return m;
}

int proto_parse_logs_end(json_t *msg, const char **id, int *ok, const char **error,
                         int *truncated, char *err, size_t errlen)
{
    *error = NULL;
    *truncated = 0;
    if (need_str(msg, "id", id, err, errlen) < 0 || need_bool(msg, "ok", ok, err, errlen) < 0 ||
        opt_str(msg, "error", PROTO_CALL_ERROR_MAX, NULL, error, err, errlen) < 0)
        return -1;
    if (!call_id_ok(*id))
        return bad(err, errlen, "id", "is not a call id");
    json_t *t = json_object_get(msg, "truncated");
    if (t && !json_is_null(t) && need_bool(msg, "truncated", truncated, err, errlen) < 0)
        return -1;
    return 0;
}

json_t *proto_logs_cancel(const char *id)
{
    if (!call_id_ok(id))
        return NULL;
    return json_pack("{s:s, s:s}", "type", "logs.cancel", "id", id);
}

int proto_parse_logs_cancel(json_t *msg, const char **id, char *err, size_t errlen)
{
    if (need_str(msg, "id", id, err, errlen) < 0)
        return -1;
    if (!call_id_ok(*id))
        return bad(err, errlen, "id", "is not a call id");
    return 0;
}

/* --- custom certificates in deploy and edge specs --- */

/* A host name as berthd's domains.c allows it (the one rule: domains.c
 * calls proto_cert_name_ok), lower case, or "*." and one: never '/', a
 * leading or trailing '.' or "..", so the runner may name a file after it. */
static int cert_name_ok(const char *s)
{
    size_t l = s ? strlen(s) : 0, label = 0;
    int dots = 0;
    if (l < 3 || l > 253 || s[l - 1] == '.')
        return 0;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            dots++;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0) ||
                 (c == '*' && i == 0 && s[1] == '.');
        if (!ok || ++label > 63)
            return 0;
    }
    return dots >= 1 && s[l - 1] != '-';
}

int proto_cert_name_ok(const char *s) { return cert_name_ok(s); }

static int cert_id_ok(const char *s)
{
    size_t l = s ? strlen(s) : 0;
    return l >= 1 && l <= 20 && strspn(s, "0123456789") == l;
}

static int cert_pem_ok(const char *s, size_t max, const char *marker)
{
    size_t l = s ? strlen(s) : 0;
    return l >= 1 && l <= max && strstr(s, marker) != NULL;
}

static void certs_wipe(json_t *a)
{
    json_t *v;
    size_t i;
    json_array_foreach(a, i, v) {
        json_t *k = json_object_get(v, "key");
        if (json_is_string(k))
            crypto_wipe((char *)json_string_value(k), json_string_length(k));
    }
}

int proto_spec_add_certs(json_t *spec, const struct proto_cert *c, size_t n)
{
    json_t *a = json_array();
    size_t bytes = 0;
    if (!a || !json_is_object(spec) || n > PROTO_CERTS_MAX)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!cert_id_ok(c[i].id) || c[i].ndomains < 1 || c[i].ndomains > PROTO_DEPLOY_DOMAINS_MAX ||
            !cert_pem_ok(c[i].chain, PROTO_CERT_CHAIN_MAX, "-----BEGIN CERTIFICATE-----") ||
            !cert_pem_ok(c[i].key, PROTO_CERT_KEY_MAX, "PRIVATE KEY-----"))
            goto fail;
        bytes += strlen(c[i].chain) + strlen(c[i].key);
        if (bytes > PROTO_CERTS_BYTES_MAX)
            goto fail;
        json_t *d = json_array();
        for (size_t k = 0; d && k < c[i].ndomains; k++)
            if (!cert_name_ok(c[i].domains[k]) || json_array_append_new(d, json_string(c[i].domains[k])) < 0) {
                json_decref(d);
                d = NULL;
            }
        json_t *o = d ? json_pack("{s:s, s:o, s:s, s:s}", "id", c[i].id, "domains", d, "chain",
                                  c[i].chain, "key", c[i].key)
                      : NULL;
        if (!o || json_array_append_new(a, o) < 0)
            goto fail;
    }
    if (json_object_set_new(spec, "certs", a) == 0)
        return 0;
    a = NULL; /* json_object_set_new released it */
fail:
    certs_wipe(a);
    json_decref(a);
    if (json_is_object(spec))
        proto_spec_certs_scrub(spec);
    return -1;
}

void proto_spec_certs_release(struct proto_cert *c, size_t n)
{
    for (size_t i = 0; i < n && i < PROTO_CERTS_MAX; i++) {
        free(c[i].domains);
        c[i].domains = NULL;
    }
}

int proto_parse_spec_certs(json_t *spec, struct proto_cert *out, size_t *n, char *err,
                           size_t errlen)
{
    json_t *a = json_object_get(spec, "certs"), *v;
    size_t i;
    *n = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return bad(err, errlen, "certs", "must be an array");
    if (json_array_size(a) > PROTO_CERTS_MAX)
        return bad(err, errlen, "certs", "has more than 50 entries");
    size_t bytes = 0;
    json_array_foreach(a, i, v) {
        struct proto_cert *c = &out[*n];
        json_t *d = json_object_get(v, "domains"), *w;
        size_t k;
        memset(c, 0, sizeof *c);
        c->id = json_string_value(json_object_get(v, "id"));
        c->chain = json_string_value(json_object_get(v, "chain"));
        c->key = json_string_value(json_object_get(v, "key"));
        if (!json_is_object(v) || !cert_id_ok(c->id))
            return bad(err, errlen, "certs", "entries need an id (digits)");
        if (!cert_pem_ok(c->chain, PROTO_CERT_CHAIN_MAX, "-----BEGIN CERTIFICATE-----"))
            return bad(err, errlen, "certs", "entries need a PEM chain of at most 64 KiB");
        if (!cert_pem_ok(c->key, PROTO_CERT_KEY_MAX, "PRIVATE KEY-----"))
            return bad(err, errlen, "certs", "entries need a PEM private key of at most 16 KiB");
        bytes += strlen(c->chain) + strlen(c->key);
        if (bytes > PROTO_CERTS_BYTES_MAX)
            return bad(err, errlen, "certs", "holds more than 256 KiB of PEM");
        if (!json_is_array(d) || json_array_size(d) < 1 || json_array_size(d) > PROTO_DEPLOY_DOMAINS_MAX)
            return bad(err, errlen, "certs", "entries need 1 to 50 domains");
        c->domains = calloc(json_array_size(d), sizeof *c->domains);
        if (!c->domains)
            return bad(err, errlen, "certs", ": out of memory");
        (*n)++;
        json_array_foreach(d, k, w) {
            const char *s = json_string_value(w);
            if (!cert_name_ok(s))
                return bad(err, errlen, "certs", "domains must be lower-case host names");
            c->domains[c->ndomains++] = s;
        }
    }
    return 0;
}

void proto_spec_certs_scrub(json_t *spec)
{
    certs_wipe(json_object_get(spec, "certs"));
    json_object_del(spec, "certs");
}

/* --- HTTPS on the edge: acme spec, tls flags, domain.cert --- */

static int text_clean(const char *s, size_t max, int allow_space)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f) {
            if (!(allow_space && *s == ' '))
                return 0;
        }
    return 1;
}

static int acme_fields_ok(const char *directory, const char *email, const char *ca_pem, const char **why)
{
    if (!directory || strncmp(directory, "https://", 8) != 0 || strlen(directory) < 9 ||
        !text_clean(directory, PROTO_ACME_URL_MAX, 0)) {
        *why = "acme.directory must be an https:// URL of at most 512 characters";
        return 0;
    }
    if (!email || !text_clean(email, PROTO_ACME_EMAIL_MAX, 0) || (*email && (!strchr(email, '@') || *email == '-'))) {
        *why = "acme.email must be empty or an address of at most 254 characters";
        return 0;
    }
    if (ca_pem && (strlen(ca_pem) > PROTO_ACME_CA_MAX || strncmp(ca_pem, "-----BEGIN CERTIFICATE-----", 27) != 0)) {
        *why = "acme.ca_pem must be PEM certificates of at most 64 KiB";
        return 0;
    }
    return 1;
}

int proto_acme_spec_add(json_t *spec, const char *directory, const char *email, const char *ca_pem)
{
    const char *why;
    json_t *a;
    if (!json_is_object(spec) || !acme_fields_ok(directory, email ? email : "", ca_pem, &why))
        return -1;
    a = json_pack("{s:s, s:s}", "directory", directory, "email", email ? email : "");
    if (!a)
        return -1;
    if (ca_pem && json_object_set_new(a, "ca_pem", json_string(ca_pem)) < 0) {
        json_decref(a);
        return -1;
    }
    return json_object_set_new(spec, "acme", a);
}

int proto_parse_acme_spec(json_t *spec, struct proto_acme_spec *out, char *err, size_t errlen)
{
    json_t *a = json_object_get(spec, "acme");
    const char *why = NULL;
    memset(out, 0, sizeof *out);
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_object(a)) {
        snprintf(err, errlen, "acme must be an object");
        return -1;
    }
    json_t *d = json_object_get(a, "directory"), *e = json_object_get(a, "email"), *c = json_object_get(a, "ca_pem");
    if (!json_is_string(d) || (e && !json_is_string(e)) || (c && !json_is_null(c) && !json_is_string(c))) {
        snprintf(err, errlen, "acme: directory (string), email and ca_pem (strings) expected");
        return -1;
    }
    out->directory = json_string_value(d);
    out->email = e ? json_string_value(e) : "";
    out->ca_pem = json_is_string(c) ? json_string_value(c) : NULL;
    if ((size_t)json_string_length(d) != strlen(out->directory) ||
        (e && (size_t)json_string_length(e) != strlen(out->email)) ||
        (out->ca_pem && (size_t)json_string_length(c) != strlen(out->ca_pem)) ||
        !acme_fields_ok(out->directory, out->email, out->ca_pem, &why)) {
        snprintf(err, errlen, "%s", why ? why : "acme: no NUL in strings");
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int proto_parse_tls_flags(json_t *spec, int *https_redirect, int *hsts, char *err, size_t errlen)
{
    json_t *r = json_object_get(spec, "https_redirect"), *h = json_object_get(spec, "hsts");
    *https_redirect = 1;
    *hsts = 0;
    if ((r && !json_is_boolean(r)) || (h && !json_is_boolean(h))) {
        snprintf(err, errlen, "https_redirect and hsts must be booleans");
        return -1;
    }
    if (r)
        *https_redirect = json_is_true(r);
    if (h)
        *hsts = json_is_true(h);
    return 0;
}

const char *proto_cert_status_name(enum proto_cert_status s)
{
    return s == PROTO_CERT_PENDING ? "pending" : s == PROTO_CERT_ISSUED ? "issued" : s == PROTO_CERT_FAILED ? "failed"
                                                                                                           : NULL;
}


static int app_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 19 && strspn(s, "0123456789") == n;
}

json_t *proto_domain_cert(const struct proto_domain_cert *c)
{
    const char *st = proto_cert_status_name(c->status);
    json_t *m;
    if (!st || !app_id_ok(c->app_id) || !cert_name_ok(c->name))
        return NULL;
    m = json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "domain.cert", "app_id", c->app_id, "name", c->name, "status",
                  st, "renewal", c->renewal);
    if (!m)
        return NULL;
    if (c->status == PROTO_CERT_ISSUED) {
        char issuer[PROTO_CERT_ISSUER_MAX + 1];
        snprintf(issuer, sizeof issuer, "%s", c->issuer ? c->issuer : "");
        issuer[jx_utf8_clip(issuer, strlen(issuer), PROTO_CERT_ISSUER_MAX)] = '\0';
        json_object_set_new(m, "expires_at", json_integer(c->expires_at));
        json_object_set_new(m, "issuer", json_string(issuer));
    } else if (c->status == PROTO_CERT_FAILED) {
        const char *e = c->error ? c->error : "no reason given";
        size_t n = jx_utf8_clip(e, strlen(e), PROTO_CERT_ERROR_MAX);
        json_object_set_new(m, "error", json_stringn(e, n));
    }
    return m;
}

int proto_parse_domain_cert(json_t *msg, struct proto_domain_cert *out, char *err, size_t errlen)
{
    const char *st = NULL;
    json_t *v;
    memset(out, 0, sizeof *out);
    if (jx_string(msg, "app_id", &out->app_id) || !app_id_ok(out->app_id)) {
        snprintf(err, errlen, "app_id must be digits");
        return -1;
    }
    if (jx_string(msg, "name", &out->name) || !cert_name_ok(out->name)) {
        snprintf(err, errlen, "name must be a lower-case host name");
        return -1;
    }
    if (jx_string(msg, "status", &st) || !st) {
        snprintf(err, errlen, "status must be pending, issued or failed");
        return -1;
    }
    out->status = !strcmp(st, "pending") ? PROTO_CERT_PENDING
                  : !strcmp(st, "issued") ? PROTO_CERT_ISSUED
                  : !strcmp(st, "failed") ? PROTO_CERT_FAILED
                                          : 0;
    if (!out->status) {
        snprintf(err, errlen, "status must be pending, issued or failed");
        return -1;
    }
    v = json_object_get(msg, "renewal");
    if (v && !json_is_boolean(v)) {
        snprintf(err, errlen, "renewal must be a boolean");
        return -1;
    }
    out->renewal = json_is_true(v);
    if (out->status == PROTO_CERT_ISSUED) {
        if (jx_int(msg, "expires_at", &out->expires_at) || out->expires_at < 0 || out->expires_at > PROTO_TS_MAX / 1000 ||
            jx_string(msg, "issuer", &out->issuer) || !out->issuer ||
            strlen(out->issuer) > PROTO_CERT_ISSUER_MAX) {
            snprintf(err, errlen, "issued needs expires_at (unix seconds) and issuer (at most 128 bytes)");
            return -1;
        }
    } else if (out->status == PROTO_CERT_FAILED) {
        if (jx_string(msg, "error", &out->error) || !out->error || strlen(out->error) > PROTO_CERT_ERROR_MAX) {
            snprintf(err, errlen, "failed needs error (at most 1024 bytes)");
            return -1;
        }
    }
    return 0;
}
