/* docker.c - Docker Engine API v1.41 over the unix socket, on the lws loop,
 * and the `git` / `docker build` children of a deploy. See docker.h.
 *
 * A request is one lws HTTP/1.1 client connection to "+/var/run/docker.sock":
 * headers from the connect info, the JSON body written on
 * CLIENT_HTTP_WRITEABLE (lws_client_http_body_pending), the answer read
 * into a capped buffer and parsed with jansson on COMPLETED_CLIENT_HTTP.
 * Chunked answers are de-chunked by lws_http_client_read().
 *
 * Owns: struct docker (its list of requests), struct dreq (freed when its
 * connection is gone and its callback has run). Request bodies and answers
 * are wiped before they are freed: a create body carries env values, an
 * inspect answer echoes them.
 */
#include "docker.h"

#include "buf.h"
#include "child.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define C "docker"
#define ANSWER_MAX (16u * 1024 * 1024)
#define WRITE_CHUNK 4096
#define DEFAULT_TIMEOUT_S 60

struct dreq;

struct docker {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    char address[PATH_MAX + 2];    /* "+/var/run/docker.sock" */
    struct dreq *reqs;
};

struct dreq {
    struct dreq *next;
    struct docker *d;
    struct lws *wsi;
    char method[8];
    char *path;
    char *bodybuf;                 /* LWS_PRE headroom + body */
    size_t body_len, body_off;
    int timeout_s;
    struct buf answer;
    int status;
    int in_connect;                /* inside lws_client_connect_via_info */
    int ended;                     /* the connection is gone */
    int timed_out;
    char err[256];
    docker_cb cb;
    docker_data_cb on_data;        /* a stream: 2xx bytes go here, not to answer */
    void *arg;
    lws_sorted_usec_list_t sul;    /* timeout, then deferred delivery */
    lws_sorted_usec_list_t sul_hold; /* keeps lws' answer timeout at bay */
};

/* --- requests --- */

static void dreq_unlink(struct dreq *q)
{
    if (!q->d)
        return;
    for (struct dreq **pp = &q->d->reqs; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    q->d = NULL;
}

static void dreq_free(struct dreq *q)
{
    lws_sul_cancel(&q->sul);
    lws_sul_cancel(&q->sul_hold);
    dreq_unlink(q);
    if (q->bodybuf) {
        crypto_wipe(q->bodybuf, LWS_PRE + q->body_len);
        free(q->bodybuf);
    }
    if (q->answer.data)
        crypto_wipe(q->answer.data, q->answer.len);
    buf_release(&q->answer);
    free(q->path);
    free(q);
}

int docker_answer_parse(const char *data, size_t len, int status, json_t **body, char *err,
                        size_t errlen)
{
    *body = NULL;
    if (len) {
        json_error_t je;
        *body = json_loadb(data, len, JSON_DECODE_ANY, &je);
    }
    if (status >= 200 && status <= 299)
        return 0;
    json_t *m = json_is_object(*body) ? json_object_get(*body, "message") : NULL;
    if (json_is_string(m) && json_string_value(m)[0])
        snprintf(err, errlen, "%s", json_string_value(m));
    else
        snprintf(err, errlen, "Docker answered HTTP %d", status);
    return -1;
}

/* Calls back (unless forgotten: q->d == NULL) and frees. */
static void dreq_deliver(struct dreq *q)
{
    json_t *body = NULL;
    const char *err = NULL;
    if (q->err[0]) {
        docker_answer_parse(q->answer.data, q->answer.len, 200, &body, NULL, 0);
        err = q->err;
    } else if (docker_answer_parse(q->answer.data, q->answer.len, q->status, &body, q->err,
                                   sizeof q->err) < 0) {
        err = q->err;
    }
    if (err)
        log_debug(C, "%s %s: %s", q->method, q->path, err);
    if (q->d && q->cb)
        q->cb(q->arg, q->status, body, err);
    json_decref(body);
    dreq_free(q);
}

static void deliver_tick(lws_sorted_usec_list_t *sul)
{
    dreq_deliver(lws_container_of(sul, struct dreq, sul));
}

static void timeout_tick(lws_sorted_usec_list_t *sul)
{
    struct dreq *q = lws_container_of(sul, struct dreq, sul);
    q->timed_out = 1;
    if (q->wsi)
        lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* lws waits for an answer only the context's timeout_secs (5 s by default)
 * and re-arms that after the body; a stop or a remove may take longer. So
 * while no answer came, push lws' timeout forward; our own sul is the
 * request's real limit. */
#define HOLD_US (2 * LWS_USEC_PER_SEC)
static void hold_tick(lws_sorted_usec_list_t *sul)
{
    struct dreq *q = lws_container_of(sul, struct dreq, sul_hold);
    if (!q->wsi || q->status)
        return;
    lws_set_timeout(q->wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE, 5);
    lws_sul_schedule(lws_get_context(q->wsi), 0, &q->sul_hold, hold_tick, HOLD_US);
}

/* The connection is over (answered, failed or closed). */
static void dreq_end(struct dreq *q, struct lws *wsi, const char *why)
{
    if (wsi)
        lws_set_opaque_user_data(wsi, NULL);
    q->wsi = NULL;
    q->ended = 1;
    if (!q->err[0] && why)
        snprintf(q->err, sizeof q->err, "%s%s", q->timed_out ? "timed out: " : "", why);
    if (q->in_connect)
        return;  /* docker_request delivers it after the connect call */
    lws_sul_cancel(&q->sul);
    dreq_deliver(q);
}

static int append_headers(struct dreq *q, struct lws *wsi, unsigned char **p, unsigned char *end)
{
    char n[24];
    if (q->bodybuf) {
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                         (const unsigned char *)"application/json", 16, p, end))
            return -1;
    }
    if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD")) {
        int w = snprintf(n, sizeof n, "%zu", q->body_len);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (const unsigned char *)n, w,
                                         p, end))
            return -1;
    }
    if (q->bodybuf) {
        lws_client_http_body_pending(wsi, 1);
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int write_body(struct dreq *q, struct lws *wsi)
{
    size_t left = q->body_len - q->body_off;
    size_t n = left > WRITE_CHUNK ? WRITE_CHUNK : left;
    int last = n == left;
    unsigned char *start = (unsigned char *)q->bodybuf + LWS_PRE + q->body_off;
    if (!q->bodybuf || !left)
        return 0;
    if (lws_write(wsi, start, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    q->body_off += n;
    if (last) {
        lws_client_http_body_pending(wsi, 0);
        crypto_wipe(q->bodybuf, LWS_PRE + q->body_len);  /* env values: gone once sent */
    } else {
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int docker_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct dreq *q = lws_get_opaque_user_data(wsi);
    char rb[LWS_PRE + 4096], *px;
    int lenx;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (q)
            dreq_end(q, wsi, in ? (const char *)in : "cannot connect to the Docker socket");
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (!q)
            return -1;
        return append_headers(q, wsi, (unsigned char **)in, (*(unsigned char **)in) + len);
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (!q)
            return -1;
        return write_body(q, wsi);
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (q)
            q->status = (int)lws_http_client_http_response(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (q && q->on_data && q->status >= 200 && q->status <= 299) {
            if (q->d)
                q->on_data(q->arg, in, len);
            return 0;
        }
        if (q && buf_append(&q->answer, in, len) < 0) {
            snprintf(q->err, sizeof q->err, "answer larger than %u bytes", ANSWER_MAX);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
        px = rb + LWS_PRE;
        lenx = (int)sizeof rb - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &lenx) < 0)
            return -1;
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (q)
            dreq_end(q, wsi, NULL);
        return -1;  /* one request per connection: close it */
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (q)
            dreq_end(q, wsi, q->status ? "Docker closed the connection mid-answer"
                                       : "Docker closed the connection");
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols docker_protocol = {
    .name = "berth-docker",
    .callback = docker_callback,
    .rx_buffer_size = 4096,
};

int docker_endpoint_parse(const char *value, char *path, size_t n, char *err, size_t errlen)
{
    const char *p = value;
    struct sockaddr_un sa;
    if (p && strncmp(p, "unix://", 7) == 0)
        p += 7;
    if (!p || p[0] != '/') {
        snprintf(err, errlen, "Docker endpoint \"%.200s\": give a unix socket, unix:///path or /path "
                 "(tcp:// and ssh:// are not supported)", value ? value : "");
        return -1;
    }
    if (strlen(p) >= sizeof sa.sun_path || strlen(p) >= n || strpbrk(p, "\n\r")) {
        snprintf(err, errlen, "Docker endpoint \"%.200s\": the socket path is too long", value);
        return -1;
    }
    memcpy(path, p, strlen(p) + 1);
    return 0;
}

int docker_endpoint_resolve(const char *flag, char *path, size_t n, char *err, size_t errlen)
{
    const char *env = getenv("DOCKER_HOST");
    if (flag)
        return docker_endpoint_parse(flag, path, n, err, errlen);
    if (env && *env) {
        if (docker_endpoint_parse(env, path, n, err, errlen) == 0)
            return 0;
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, " (from DOCKER_HOST)");
        return -1;
    }
    return docker_endpoint_parse(DOCKER_DEFAULT_SOCKET, path, n, err, errlen);
}

const char *docker_socket(const struct docker *d)
{
    return d->address + 1;
}

int docker_new(struct lws_context *ctx, struct lws_vhost *vh, const char *socket, struct docker **out)
{
    struct docker *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    d->ctx = ctx;
    d->vh = vh;
    snprintf(d->address, sizeof d->address, "+%s", socket ? socket : DOCKER_DEFAULT_SOCKET);
    *out = d;
    return 0;
}

void docker_free(struct docker *d)
{
    if (!d)
        return;
    while (d->reqs) {
        struct dreq *q = d->reqs;
        dreq_unlink(q);  /* forgotten: no callback */
        if (q->wsi) {
            lws_sul_cancel(&q->sul);
            lws_sul_cancel(&q->sul_hold);
            lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        } else if (!q->in_connect) {
            dreq_free(q);
        }
    }
    free(d);
}

static int request(struct docker *d, const char *method, const char *path, const json_t *body,
                   int timeout_s, docker_data_cb on_data, docker_cb cb, void *arg);

int docker_request(struct docker *d, const char *method, const char *path, const json_t *body,
                   int timeout_s, docker_cb cb, void *arg)
{
    return request(d, method, path, body, timeout_s, NULL, cb, arg);
}

int docker_request_stream(struct docker *d, const char *path, int timeout_s, docker_data_cb on_data,
                          docker_cb cb, void *arg)
{
    return request(d, "GET", path, NULL, timeout_s, on_data, cb, arg);
}

static int request(struct docker *d, const char *method, const char *path, const json_t *body,
                   int timeout_s, docker_data_cb on_data, docker_cb cb, void *arg)
{
    struct lws_client_connect_info i;
    struct dreq *q = NULL;
    char *text = NULL;
    size_t tlen = 0;
    int rc = -1;

    if (strlen(method) >= sizeof q->method)
        goto done;
    q = calloc(1, sizeof *q);
    if (!q)
        goto done;
    buf_init(&q->answer, ANSWER_MAX);
    snprintf(q->method, sizeof q->method, "%s", method);
    if (asprintf(&q->path, DOCKER_API "%s", path) < 0) {
        q->path = NULL;
        goto done;
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            goto done;
        tlen = strlen(text);
        q->bodybuf = malloc(LWS_PRE + tlen);
        if (!q->bodybuf)
            goto done;
        memcpy(q->bodybuf + LWS_PRE, text, tlen);
        q->body_len = tlen;
    }
    q->timeout_s = timeout_s > 0 ? timeout_s : DEFAULT_TIMEOUT_S;
    q->d = d;
    q->cb = cb;
    q->on_data = on_data;
    q->arg = arg;
    q->next = d->reqs;
    d->reqs = q;

    memset(&i, 0, sizeof i);
    i.context = d->ctx;
    i.vhost = d->vh;
    i.address = d->address;
    i.port = 0;
    i.path = q->path;
    i.host = "docker";
    i.origin = "docker";
    i.method = q->method;
    i.local_protocol_name = docker_protocol.name;
    i.alpn = "http/1.1";
    i.opaque_user_data = q;
    i.pwsi = &q->wsi;
    q->in_connect = 1;
    struct lws *w = lws_client_connect_via_info(&i);
    q->in_connect = 0;
    if (!w || q->ended) {
        /* failed at once: answer from the loop, never from inside this call */
        q->wsi = NULL;
        if (!q->err[0])
            snprintf(q->err, sizeof q->err, "cannot connect to the Docker socket %s", d->address + 1);
        lws_sul_schedule(d->ctx, 0, &q->sul, deliver_tick, 1);
    } else {
        lws_sul_schedule(d->ctx, 0, &q->sul, timeout_tick, (lws_usec_t)q->timeout_s * LWS_USEC_PER_SEC);
        lws_sul_schedule(d->ctx, 0, &q->sul_hold, hold_tick, HOLD_US);
    }
    q = NULL;
    rc = 0;
done:
    if (text) {
        crypto_wipe(text, tlen);
        free(text);
    }
    if (q)
        dreq_free(q);
    return rc;
}

/* --- operations --- */

static int url_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || strchr("-_.~", ch)) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = (char)ch;
        } else {
            if (o + 3 >= outlen)
                return -1;
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Ids and names in paths: [A-Za-z0-9_.:/-] only (image refs have ':' and '/'). */
static int ref_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 255)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-:/@", *s))
            return 0;
    return 1;
}

int docker_ping(struct docker *d, docker_cb cb, void *arg)
{
    return docker_request(d, "GET", "/_ping", NULL, 10, cb, arg);
}

int docker_version(struct docker *d, docker_cb cb, void *arg)
{
    return docker_request(d, "GET", "/version", NULL, 10, cb, arg);
}

static json_t *create_body(const struct docker_container_spec *s)
{
    json_t *b = json_object(), *env = json_array(), *labels = json_object(), *hc = json_object();
    char port[32];
    if (!b || !env || !labels || !hc)
        goto fail;
    json_object_set_new(b, "Image", json_string(s->image));
    for (size_t k = 0; k < s->env_count; k++)
        if (json_array_append_new(env, json_string(s->env[k])) < 0)
            goto fail;
    json_object_set_new(b, "Env", env);
    env = NULL;
    if (s->app)
        json_object_set_new(labels, "berth.app", json_string(s->app));
    if (s->deployment)
        json_object_set_new(labels, "berth.deployment", json_string(s->deployment));
    if (s->color)
        json_object_set_new(labels, "berth.color", json_string(s->color));
    if (s->owner)
        json_object_set_new(labels, "berth.runner", json_string(s->owner));
    json_object_set_new(b, "Labels", labels);
    labels = NULL;
    if (s->memory_bytes > 0)
        json_object_set_new(hc, "Memory", json_integer(s->memory_bytes));
    if (s->cpus > 0)
        json_object_set_new(hc, "NanoCpus", json_integer((json_int_t)(s->cpus * 1e9)));
    json_object_set_new(hc, "RestartPolicy",
                        json_pack("{s:s}", "Name", s->restart ? s->restart : "unless-stopped"));
    json_object_set_new(hc, "NetworkMode", json_string(s->network ? s->network : "bridge"));
    if (s->port > 0) {
        snprintf(port, sizeof port, "%d/tcp", s->port);
        json_object_set_new(b, "ExposedPorts", json_pack("{s:{}}", port));
        if (s->publish_ip)
            json_object_set_new(hc, "PortBindings",
                                json_pack("{s:[{s:s,s:s}]}", port, "HostIp", s->publish_ip, "HostPort", ""));
    }
    json_object_set_new(b, "HostConfig", hc);
    return b;
fail:
    json_decref(b);
    json_decref(env);
    json_decref(labels);
    json_decref(hc);
    return NULL;
}

/* Overwrites env strings in place before jansson frees them. */
static void wipe_env(json_t *body)
{
    json_t *env = json_object_get(body, "Env"), *v;
    size_t k;
    json_array_foreach(env, k, v)
        crypto_wipe((char *)json_string_value(v), json_string_length(v));
}

int docker_container_create(struct docker *d, const struct docker_container_spec *s, docker_cb cb, void *arg)
{
    char path[512], name[300];
    int rc;
    if (!s->image || !ref_ok(s->image))
        return -1;
    if (s->name) {
        if (!ref_ok(s->name) || url_escape(s->name, name, sizeof name) < 0)
            return -1;
        snprintf(path, sizeof path, "/containers/create?name=%s", name);
    } else {
        snprintf(path, sizeof path, "/containers/create");
    }
    json_t *b = create_body(s);
    if (!b)
        return -1;
    rc = docker_request(d, "POST", path, b, 120, cb, arg);
    wipe_env(b);
    json_decref(b);
    return rc;
}

static int container_op(struct docker *d, const char *method, const char *id, const char *suffix,
                        int timeout_s, docker_cb cb, void *arg)
{
    char path[512];
    if (!ref_ok(id))
        return -1;
    snprintf(path, sizeof path, "/containers/%s%s", id, suffix);
    return docker_request(d, method, path, NULL, timeout_s, cb, arg);
}

int docker_container_start(struct docker *d, const char *id, docker_cb cb, void *arg)
{
    return container_op(d, "POST", id, "/start", 120, cb, arg);
}

int docker_container_inspect(struct docker *d, const char *id, docker_cb cb, void *arg)
{
    return container_op(d, "GET", id, "/json", 30, cb, arg);
}

int docker_container_stop(struct docker *d, const char *id, int timeout_s, docker_cb cb, void *arg)
{
    char suffix[32];
    if (timeout_s < 0)
        timeout_s = 10;
    snprintf(suffix, sizeof suffix, "/stop?t=%d", timeout_s);
    return container_op(d, "POST", id, suffix, timeout_s + 30, cb, arg);
}

int docker_container_remove(struct docker *d, const char *id, int force, docker_cb cb, void *arg)
{
    return container_op(d, "DELETE", id, force ? "?force=1&v=1" : "?v=1", 60, cb, arg);
}

int docker_container_logs_tail(struct docker *d, const char *id, int tail, int timeout_s,
                               docker_data_cb on_data, docker_cb cb, void *arg)
{
    char path[512];
    if (!ref_ok(id) || tail < 0)
        return -1;
    snprintf(path, sizeof path, "/containers/%s/logs?stdout=1&stderr=1&timestamps=1&tail=%d", id, tail);
    return docker_request_stream(d, path, timeout_s, on_data, cb, arg);
}

static int list_op(struct docker *d, const char *what, const char *key, const char *label, int all, docker_cb cb,
                   void *arg)
{
    char path[1024], enc[768];
    json_t *f = label ? json_pack("{s:[s]}", key, label) : NULL;
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
    int rc = -1;
    if (label && (!text || url_escape(text, enc, sizeof enc) < 0))
        goto done;
    snprintf(path, sizeof path, "/%s/json?all=%d%s%s", what, all ? 1 : 0, label ? "&filters=" : "",
             label ? enc : "");
    rc = docker_request(d, "GET", path, NULL, 30, cb, arg);
done:
    free(text);
    json_decref(f);
    return rc;
}

int docker_container_list(struct docker *d, const char *label, int all, docker_cb cb, void *arg)
{
    return list_op(d, "containers", "label", label, all, cb, arg);
}

int docker_image_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
    return list_op(d, "images", "label", label, 0, cb, arg);
}

int docker_image_list_repo(struct docker *d, const char *repo, docker_cb cb, void *arg)
{
    return list_op(d, "images", "reference", repo, 0, cb, arg);
}

int docker_image_remove(struct docker *d, const char *id, int force, docker_cb cb, void *arg)
{
    char path[512], enc[300];
    if (!ref_ok(id) || url_escape(id, enc, sizeof enc) < 0)
        return -1;
    snprintf(path, sizeof path, "/images/%s%s", enc, force ? "?force=1" : "");
    return docker_request(d, "DELETE", path, NULL, 120, cb, arg);
}

int docker_image_inspect(struct docker *d, const char *ref, docker_cb cb, void *arg)
{
    char path[512], enc[300];
    if (!ref_ok(ref) || url_escape(ref, enc, sizeof enc) < 0)
        return -1;
    snprintf(path, sizeof path, "/images/%s/json", enc);
    return docker_request(d, "GET", path, NULL, 30, cb, arg);
}

/* --- inspect helpers --- */

int docker_inspect_ip(json_t *inspect, const char *network, char *out, size_t outlen)
{
    json_t *nets = json_object_get(json_object_get(inspect, "NetworkSettings"), "Networks"), *n;
    const char *key;
    json_object_foreach(nets, key, n) {
        const char *ip = json_string_value(json_object_get(n, "IPAddress"));
        if ((!network || strcmp(network, key) == 0) && ip && *ip)
            return util_strlcpy(out, ip, outlen);
    }
    return -1;
}

int docker_inspect_published(json_t *inspect, int port, char *ip, size_t iplen, int *host_port)
{
    char key[32];
    int64_t p;
    snprintf(key, sizeof key, "%d/tcp", port);
    json_t *b = json_object_get(json_object_get(json_object_get(inspect, "NetworkSettings"), "Ports"), key);
    json_t *first = json_array_get(b, 0);
    const char *hip = json_string_value(json_object_get(first, "HostIp"));
    const char *hport = json_string_value(json_object_get(first, "HostPort"));
    if (!hip || !hport || util_parse_i64(hport, &p) < 0 || p <= 0 || p > 65535)
        return -1;
    *host_port = (int)p;
    return util_strlcpy(ip, *hip ? hip : "127.0.0.1", iplen);
}

const char *docker_inspect_status(json_t *inspect)
{
    return json_string_value(json_object_get(json_object_get(inspect, "State"), "Status"));
}

static int by_created_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "Created"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "Created"));
    return x < y ? 1 : x > y ? -1 : 0;
}

static int tagged(json_t *img, const char *tag)
{
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(img, "RepoTags"), i, t) {
        const char *s = json_string_value(t);
        if (s && tag && strcmp(s, tag) == 0)
            return 1;
    }
    return 0;
}

size_t docker_images_to_prune(json_t *list, size_t keep, const char *in_use, const char **refs, size_t max)
{
    size_t n = json_array_size(list), out = 0;
    json_t **v = n ? calloc(n, sizeof *v) : NULL;
    if (!v)
        return 0;
    for (size_t k = 0; k < n; k++)
        v[k] = json_array_get(list, k);
    qsort(v, n, sizeof *v, by_created_desc);
    for (size_t k = keep; k < n && out < max; k++) {
        json_t *t;
        size_t i, tags = 0;
        if (tagged(v[k], in_use))
            continue;
        json_array_foreach(json_object_get(v[k], "RepoTags"), i, t) {
            const char *s = json_string_value(t);
            if (s && strcmp(s, "<none>:<none>") != 0 && out < max) {
                refs[out++] = s;
                tags++;
            }
        }
        const char *id = json_string_value(json_object_get(v[k], "Id"));
        if (!tags && id && out < max)
            refs[out++] = id;
    }
    free(v);
    return out;
}

/* --- usage and disk --- */

/* A counter Docker sent: a non-negative integer, else 0. */
static uint64_t counter(json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return (uint64_t)json_integer_value(v);
    return 0;
}

static int64_t counter_or(json_t *v, int64_t dflt)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : dflt;
}

void docker_stats_usage(json_t *stats, struct docker_usage *out)
{
    json_t *cpu = json_object_get(stats, "cpu_stats");
    json_t *mem = json_object_get(stats, "memory_stats"), *ms = json_object_get(mem, "stats");
    memset(out, 0, sizeof *out);
    out->cpu_total = counter(json_object_get(json_object_get(cpu, "cpu_usage"), "total_usage"));
    out->system_total = counter(json_object_get(cpu, "system_cpu_usage"));
    uint64_t online = counter(json_object_get(cpu, "online_cpus"));
    if (!online) /* older engines: the per-CPU list's length */
        online = json_array_size(json_object_get(json_object_get(cpu, "cpu_usage"), "percpu_usage"));
    out->online_cpus = online > 4096 ? 4096 : (unsigned)online;
    int64_t usage = counter_or(json_object_get(mem, "usage"), -1);
    out->mem_limit = counter_or(json_object_get(mem, "limit"), -1);
    out->mem_bytes = usage;
    if (usage < 0)
        return;
    /* `docker stats`: cgroup v1 total_inactive_file, v2 inactive_file;
     * engines before both: cache */
    static const char *const cache_keys[] = {"total_inactive_file", "inactive_file", "cache"};
    for (size_t i = 0; i < sizeof cache_keys / sizeof cache_keys[0]; i++) {
        int64_t c = counter_or(json_object_get(ms, cache_keys[i]), -1);
        if (c >= 0) {
            if (c < usage)
                out->mem_bytes = usage - c;
            break;
        }
    }
}

double docker_cpu_percent(const struct docker_usage *prev, const struct docker_usage *now)
{
    if (!now->online_cpus || now->system_total <= prev->system_total ||
        now->cpu_total < prev->cpu_total)
        return -1;
    double cpu = (double)(now->cpu_total - prev->cpu_total);
    double sys = (double)(now->system_total - prev->system_total);
    double pct = cpu / sys * (double)now->online_cpus * 100.0;
    return pct > 100.0 * now->online_cpus ? 100.0 * now->online_cpus : pct;
}

static int full_id(const char *s, int image)
{
    if (!s)
        return 0;
    if (image) {
        if (strncmp(s, "sha256:", 7) != 0)
            return 0;
        s += 7;
    }
    size_t n = strlen(s);
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

static json_t *df_container(json_t *c)
{
    const char *id = json_string_value(json_object_get(c, "Id"));
    const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
    const char *image = json_string_value(json_object_get(c, "ImageID"));
    const char *state = json_string_value(json_object_get(c, "State"));
    if (!full_id(id, 0))
        return NULL;
    json_t *labels = json_object(), *v;
    const char *k;
    json_object_foreach(json_object_get(c, "Labels"), k, v)
        if (strncmp(k, "berth.", 6) == 0 && json_is_string(v) && json_string_length(v) <= 256)
            json_object_set(labels, k, v);
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:o, s:I}", "id", id, "name",
                     name ? (name[0] == '/' ? name + 1 : name) : NULL, "image_id",
                     full_id(image, 1) ? image : NULL, "state", state, "labels", labels, "size",
                     (json_int_t)counter_or(json_object_get(c, "SizeRw"), 0));
}

static json_t *df_image(json_t *im)
{
    const char *id = json_string_value(json_object_get(im, "Id"));
    if (!full_id(id, 1))
        return NULL;
    json_t *tags = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(im, "RepoTags"), i, v) {
        const char *t = json_string_value(v);
        if (t && strcmp(t, "<none>:<none>") != 0 && ref_ok(t) && json_array_size(tags) < 16)
            json_array_append(tags, v);
    }
    return json_pack("{s:s, s:o, s:I, s:I, s:I, s:I}", "id", id, "tags", tags, "created",
                     (json_int_t)counter_or(json_object_get(im, "Created"), 0), "size",
                     (json_int_t)counter_or(json_object_get(im, "Size"), 0), "shared",
                     (json_int_t)counter_or(json_object_get(im, "SharedSize"), 0), "containers",
                     (json_int_t)counter_or(json_object_get(im, "Containers"), 0));
}

json_t *docker_df_summary(json_t *df)
{
    json_t *cs = json_array(), *is = json_array(), *v, *x;
    size_t i;
    int truncated = 0;
    if (!cs || !is)
        goto oom;
    json_array_foreach(json_object_get(df, "Containers"), i, v) {
        if (json_array_size(cs) >= DOCKER_DF_MAX) {
            truncated = 1;
            break;
        }
        if ((x = df_container(v)))
            json_array_append_new(cs, x);
    }
    json_array_foreach(json_object_get(df, "Images"), i, v) {
        if (json_array_size(is) >= DOCKER_DF_MAX) {
            truncated = 1;
            break;
        }
        if ((x = df_image(v)))
            json_array_append_new(is, x);
    }
    return json_pack("{s:o, s:o, s:b}", "containers", cs, "images", is, "truncated", truncated);
oom:
    json_decref(cs);
    json_decref(is);
    return NULL;
}

/* --- lineage of dangling images --- */

#define LINEAGE_IMAGES_MAX 5000
#define LINEAGE_DEPTH_MAX 256
#define LINEAGE_STEPS_MAX (2u * 1000 * 1000)

struct lnode {
    const char *id;
    int parent;         /* index, -1: none */
    int tagged;         /* has a real tag */
    int marked;         /* an ancestor-or-self of a tagged image */
    int children;
    int64_t size;       /* with its parents' layers, as /images/json says */
};

static int node_of(struct lnode *n, int count, const char *id)
{
    if (!id || !*id)
        return -1;
    for (int i = 0; i < count; i++)
        if (strcmp(n[i].id, id) == 0)
            return i;
    return -1;
}

static int has_tag(json_t *img)
{
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(img, "RepoTags"), i, t) {
        const char *s = json_string_value(t);
        if (s && strcmp(s, "<none>:<none>") != 0)
            return 1;
    }
    return 0;
}

/* The tags of every tagged image whose chain passes through a. */
static json_t *lineage_of(struct lnode *n, int count, json_t *all, int a, size_t *steps)
{
    json_t *tags = json_array(), *t;
    size_t k;
    for (int i = 0; tags && i < count; i++) {
        if (!n[i].tagged)
            continue;
        int on = 0;
        for (int x = i, d = 0; x >= 0 && d < LINEAGE_DEPTH_MAX && !on; x = n[x].parent, d++) {
            on = x == a;
            if (++*steps > LINEAGE_STEPS_MAX)
                goto fail;
        }
        if (!on)
            continue;
        json_array_foreach(json_object_get(json_array_get(all, (size_t)i), "RepoTags"), k, t) {
            const char *s = json_string_value(t);
            if (!s || strcmp(s, "<none>:<none>") == 0)
                continue;
            if (json_array_size(tags) >= DOCKER_LINEAGE_MAX || !ref_ok(s))
                goto fail;
            json_array_append(tags, t);
        }
    }
    return tags;
fail:
    json_decref(tags);
    return NULL;
}

void docker_df_lineage(json_t *summary, json_t *all)
{
    size_t count = json_array_size(all), i, steps = 0;
    json_t *im;
    if (!count || count > LINEAGE_IMAGES_MAX)
        return;
    struct lnode *n = calloc(count, sizeof *n);
    if (!n)
        return;
    for (i = 0; i < count; i++) {
        json_t *a = json_array_get(all, i);
        const char *id = json_string_value(json_object_get(a, "Id"));
        n[i].id = id ? id : "";
        n[i].tagged = has_tag(a);
        n[i].size = counter_or(json_object_get(a, "Size"), 0);
    }
    for (i = 0; i < count; i++) {
        n[i].parent = node_of(n, (int)count,
                              json_string_value(json_object_get(json_array_get(all, i),
                                                                "ParentId")));
        if (n[i].parent >= 0)
            n[n[i].parent].children++;
    }
    /* what removing each image frees: its layers down to the first
     * ancestor that stays (tagged, or with another child) */
    json_array_foreach(json_object_get(summary, "images"), i, im) {
        int x = node_of(n, (int)count, json_string_value(json_object_get(im, "id")));
        if (x < 0)
            continue;
        int a = n[x].parent, d = 0;
        while (a >= 0 && !n[a].tagged && n[a].children == 1 && d++ < LINEAGE_DEPTH_MAX)
            a = n[a].parent;
        int64_t keep = a >= 0 ? n[a].size : 0;
        json_object_set_new(im, "unique", json_integer(n[x].size > keep ? n[x].size - keep : 0));
    }
    /* mark every ancestor-or-self of a tagged image */
    for (i = 0; i < count; i++) {
        if (!n[i].tagged)
            continue;
        for (int x = (int)i, d = 0; x >= 0 && d < LINEAGE_DEPTH_MAX && !n[x].marked;
             x = n[x].parent, d++)
            n[x].marked = 1;
    }
    json_array_foreach(json_object_get(summary, "images"), i, im) {
        if (json_array_size(json_object_get(im, "tags")) ||
            json_integer_value(json_object_get(im, "containers")) != 0)
            continue;
        int x = node_of(n, (int)count, json_string_value(json_object_get(im, "id")));
        if (x < 0)
            continue;
        x = n[x].parent;
        for (int d = 0; x >= 0 && d < LINEAGE_DEPTH_MAX && !n[x].marked; d++)
            x = n[x].parent;
        if (x < 0 || !n[x].marked || steps > LINEAGE_STEPS_MAX)
            continue;
        json_t *tags = lineage_of(n, (int)count, all, x, &steps);
        if (tags)
            json_object_set_new(im, "lineage", tags);
    }
    free(n);
}

/* --- children: git and docker build --- */

static int run_child(struct docker *d, char *const *argv, char *const *envp, const char *cwd, int timeout_s,
                     int new_session, docker_output_cb on_output, docker_exit_cb on_exit, void *arg,
                     struct child **out, char *err, size_t errlen)
{
    struct child_spec s = {.argv = argv, .envp = envp, .cwd = cwd, .capture = 1, .out_fd = -1,
                           .new_session = new_session, .timeout_s = timeout_s};
    return child_start(d->ctx, d->vh, &s, on_output, on_exit, arg, out, err, errlen);
}

int docker_build(struct docker *d, const struct docker_build_spec *s, docker_output_cb on_output,
                 docker_exit_cb on_exit, void *arg, struct child **out, char *err, size_t errlen)
{
    char mem[32], quota[32], host[PATH_MAX + 8];
    char *argv[24];
    char **envp = NULL;
    int n = 0, rc = -1;

    if (!ref_ok(s->image) || s->image[0] == '-' || !s->context_dir || !*s->context_dir ||
        (s->dockerfile && !*s->dockerfile)) {
        snprintf(err, errlen, "build: bad image name, context or Dockerfile");
        goto done;
    }
    argv[n++] = "docker";
    argv[n++] = "build";
    argv[n++] = "--force-rm";
    argv[n++] = "-t";
    argv[n++] = (char *)s->image;
    if (s->dockerfile) {
        argv[n++] = "-f";
        argv[n++] = (char *)s->dockerfile;
    }
    if (s->memory_bytes > 0) {
        snprintf(mem, sizeof mem, "%lld", (long long)s->memory_bytes);
        argv[n++] = "--memory";
        argv[n++] = mem;
    }
    if (s->cpus > 0) {
        snprintf(quota, sizeof quota, "%lld", (long long)(s->cpus * 100000 + 0.5));
        argv[n++] = "--cpu-period";
        argv[n++] = "100000";
        argv[n++] = "--cpu-quota";
        argv[n++] = quota;
    }
    argv[n++] = "--";
    argv[n++] = (char *)s->context_dir;
    argv[n] = NULL;
    snprintf(host, sizeof host, "unix://%s", docker_socket(d));
    envp = child_env_base();
    if (!envp || child_env_add(&envp, "DOCKER_BUILDKIT", "0") < 0 ||
        child_env_add(&envp, "DOCKER_HOST", host) < 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    log_info(C, "building %s from %s", s->image, s->context_dir);
    rc = run_child(d, argv, envp, s->context_dir, s->timeout_s, s->new_session, on_output, on_exit, arg, out,
                   err, errlen);
done:
    child_env_free(envp);
    return rc;
}

int docker_askpass_helper(const char *helper_dir, char *out, size_t outlen)
{
    static const char script[] =
        "#!/bin/sh\n"
        "# berth-runner: answers git's credential prompts from the environment\n"
        "# the runner gave this one git process. It holds no secret itself.\n"
        "case \"$1\" in\n"
        "Username*) printf '%s\\n' \"${BERTH_GIT_USERNAME-}\" ;;\n"
        "*) printf '%s\\n' \"${BERTH_GIT_PASSWORD-}\" ;;\n"
        "esac\n";
    int w = snprintf(out, outlen, "%s/git-askpass", helper_dir);
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    if (util_write_file_atomic(out, script, sizeof script - 1, 0700) < 0)
        return -1;
    return chmod(out, 0700);
}

/* scheme://user:password@host/...: a password in the URL would reach
 * argv, the step report and git's own messages. */
static int url_has_password(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    p += 3;
    size_t host_end = strcspn(p, "/?#");
    const char *at = memchr(p, '@', host_end);
    return at && memchr(p, ':', (size_t)(at - p)) != NULL;
}

static int write_key_file(const char *path, const char *key)
{
    size_t kl = strlen(key);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, key, kl) == (ssize_t)kl && (kl && key[kl - 1] == '\n' ? 1 : write(fd, "\n", 1) == 1);
    close(fd);
    if (!ok)
        unlink(path);
    return ok ? 0 : -1;
}

int docker_git_clone(struct docker *d, const struct docker_clone_spec *s, docker_output_cb on_output,
                     docker_exit_cb on_exit, void *arg, struct child **out, char *err, size_t errlen)
{
    static const char script[] =
        "set -e\n"
        "git init -q -- \"$1\"\n"
        "cd -- \"$1\"\n"
        "if [ -n \"$3\" ] && [ ${#3} -ge 40 ]; then\n"
        "  git -c credential.helper= fetch -q --no-tags --depth 1 -- \"$2\" \"$3\"\n"
        "  git -c advice.detachedHead=false checkout -q FETCH_HEAD\n"
        "elif [ -n \"$3\" ]; then\n"
        "  git -c credential.helper= fetch -q --no-tags -- \"$2\" \"refs/heads/$4\"\n"
        "  git -c advice.detachedHead=false checkout -q --detach \"$3\"\n"
        "else\n"
        "  git -c credential.helper= fetch -q --no-tags --depth 1 -- \"$2\" \"refs/heads/$4\"\n"
        "  git -c advice.detachedHead=false checkout -q FETCH_HEAD\n"
        "fi\n"
        "git rev-parse HEAD\n";
    char helper[PATH_MAX], sshcmd[2 * PATH_MAX + 200];
    const char *commit = s->commit ? s->commit : "", *branch = s->branch ? s->branch : "";
    char **envp = NULL;
    int rc = -1;

    if (!s->url || !*s->url || s->url[0] == '-' || strpbrk(s->url, " \n\r") || !s->dir || !*s->dir ||
        !s->helper_dir || (*commit && !util_lower_hex(commit, 4, 64)) ||
        (strlen(commit) < 40 && (!*branch || branch[0] == '-')) || strpbrk(branch, " \n\r")) {
        snprintf(err, errlen, "clone: bad url, branch, commit or directory");
        goto done;
    }
    if (url_has_password(s->url)) {
        snprintf(err, errlen, "clone: credentials belong in the secret, not in the URL");
        goto done;
    }
    envp = child_env_base();
    if (!envp || child_env_add(&envp, "GIT_TERMINAL_PROMPT", "0") < 0 ||
        child_env_add(&envp, "GIT_CONFIG_NOSYSTEM", "1") < 0 ||
        child_env_add(&envp, "GIT_CONFIG_GLOBAL", "/dev/null") < 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (s->password) {
        if (docker_askpass_helper(s->helper_dir, helper, sizeof helper) < 0) {
            snprintf(err, errlen, "cannot write the askpass helper: %s", strerror(errno));
            goto done;
        }
        if (child_env_add(&envp, "GIT_ASKPASS", helper) < 0 ||
            child_env_add(&envp, "BERTH_GIT_USERNAME", s->username && *s->username ? s->username
                                                                                  : "x-access-token") < 0 ||
            child_env_add(&envp, "BERTH_GIT_PASSWORD", s->password) < 0) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    if (s->ssh_key) {
        /* Host keys: known_hosts, trust on first use: a host seen for the
         * first time is recorded (accept-new), a changed key afterwards
         * fails the clone ("Host key verification failed"). Pre-seed the
         * file to pin a host from the start (docs/webhooks.md). */
        if (!s->key_file || !s->known_hosts || strchr(s->key_file, '\'') || strchr(s->known_hosts, '\'')) {
            /* both are quoted below for ssh's sh -c */
            snprintf(err, errlen, "no usable key file path (a quote in the state directory's path?)");
            goto done;
        }
        if (write_key_file(s->key_file, s->ssh_key) < 0) {
            snprintf(err, errlen, "cannot write the deploy key file");
            goto done;
        }
        snprintf(sshcmd, sizeof sshcmd,
                 "ssh -i '%s' -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes "
                 "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='%s'",
                 s->key_file, s->known_hosts);
        if (child_env_add(&envp, "GIT_SSH_COMMAND", sshcmd) < 0) {
            unlink(s->key_file);
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    char *argv[] = {"/bin/sh", "-c", (char *)script, "berth-clone", (char *)s->dir, (char *)s->url,
                    (char *)commit, (char *)branch, NULL};
    log_info(C, "cloning %s at %s", s->url, *commit ? commit : branch);
    rc = run_child(d, argv, envp, NULL, s->timeout_s, s->new_session, on_output, on_exit, arg, out, err, errlen);
    if (rc < 0 && s->ssh_key)
        unlink(s->key_file);
done:
    child_env_free(envp);
    return rc;
}

int docker_clone_commit(const char *out, size_t len, char *commit, size_t n)
{
    size_t e = len;
    while (e && (out[e - 1] == '\n' || out[e - 1] == '\r' || out[e - 1] == ' '))
        e--;
    size_t b = e;
    while (b && out[b - 1] != '\n')
        b--;
    if (e - b >= n || e - b < 40)
        return -1;
    memcpy(commit, out + b, e - b);
    commit[e - b] = '\0';
    return util_lower_hex(commit, 40, 64) ? 0 : -1;
}
