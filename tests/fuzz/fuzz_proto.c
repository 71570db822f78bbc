/* fuzz_proto.c - a runner protocol frame as either side reads it
 * (src/core/proto.c): proto_parse, then every parser of both directions on
 * the object whatever its type (hub.c and link.c pick one by type; a
 * hostile peer picks the type), the job-state entries in both forms, a
 * job's script spec and deploy spec (the runner's only way to read one),
 * precheck's check items, a job.log chunk read as deploy step reports
 * (berthd's way), and the input as a --url (proto_ws_url). A frame a
 * parser accepts must build again with the matching builder, dump, and
 * parse back to the same type; a deploy spec or a step report the parser
 * takes must build again and parse back with the same fields. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define ERR 160

/* Builds msg's frame again: dumped, it must parse back to the same type. */
static void rebuilt(json_t *msg, enum proto_type t)
{
    assert(msg);
    size_t n = 0;
    char *d = proto_dump(msg, &n);
    assert(d);
    json_t *back = NULL;
    enum proto_type bt = PROTO_UNKNOWN;
    char err[ERR];
    assert(proto_parse(d, n, &back, &bt, err, sizeof err) == 0 && bt == t);
    json_decref(back);
    free(d);
    json_decref(msg);
}

static size_t job_states(json_t *arr, int welcome_form, struct proto_job_state *out, size_t max)
{
    size_t i, n = 0;
    json_t *it;
    char err[ERR];
    json_array_foreach(arr, i, it) {
        struct proto_job_state s;
        err[0] = '\0';
        if (proto_parse_job_state(it, welcome_form, &s, err, sizeof err) == 0) {
            assert(proto_job_id_valid(s.job) && s.seq >= 0);
            if (n < max)
                out[n++] = s;
        } else {
            assert(err[0]);
        }
    }
    return n;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The deploy spec: accepted -> the builder makes it again, and that
 * parses back to the same fields. */
static void deploy_spec(json_t *spec)
{
    char err[ERR];
    struct proto_deploy_spec a, b;
    err[0] = '\0';
    if (proto_parse_deploy_spec(spec, &a, err, sizeof err) < 0) {
        assert(err[0]);
        proto_deploy_spec_release(&a);
        return;
    }
    assert(a.container_port >= 1 && a.container_port <= 65535 && a.ndomains <= PROTO_DEPLOY_DOMAINS_MAX &&
           a.nenv <= PROTO_DEPLOY_ENV_MAX && a.health_tries >= 1 && a.memory >= 0 && a.cpus >= 0);
    json_t *again = proto_deploy_spec(&a);
    assert(again);
    assert(proto_parse_deploy_spec(again, &b, err, sizeof err) == 0);
    assert(same(a.deployment, b.deployment) && same(a.kind, b.kind) && same(a.image, b.image) &&
           same(a.rollback_image, b.rollback_image) && same(a.commit, b.commit) && same(a.branch, b.branch) &&
           same(a.container_name, b.container_name) && a.container_port == b.container_port &&
           a.ndomains == b.ndomains && a.nenv == b.nenv && same(a.git.auth, b.git.auth) &&
           same(a.prev_deployment, b.prev_deployment) && a.public_port == b.public_port &&
           a.health_timeout_s == b.health_timeout_s);
    proto_deploy_spec_release(&b);
    json_decref(again);
    proto_deploy_spec_release(&a);
}

/* Each line of a job.log chunk as berthd reads step reports and a
 * failed container's lines. */
static void step_reports(const char *data, size_t len)
{
    char err[ERR];
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        json_t *hold = NULL;
        struct proto_deploy_step st, back;
        if (proto_parse_deploy_step(p, (size_t)(e - p), &hold, &st, err, sizeof err) == 0) {
            assert(proto_deploy_step_index(st.step) >= 0);
            size_t n = 0;
            char *line = proto_deploy_step_line(&st, &n);
            assert(line && n && line[n - 1] == '\n');
            json_t *h2 = NULL;
            assert(proto_parse_deploy_step(line, n, &h2, &back, err, sizeof err) == 0);
            assert(same(st.step, back.step) && same(st.status, back.status) && same(st.commit, back.commit) &&
                   same(st.image_id, back.image_id) && st.serving == back.serving);
            json_decref(h2);
            free(line);
        }
        json_decref(hold);
        /* a failed container's line: within its caps, rebuilt the same */
        struct proto_tail_line tl, tb;
        hold = NULL;
        if (proto_parse_tail_line(p, (size_t)(e - p), &hold, &tl) == 0) {
            assert(tl.len <= PROTO_TAIL_LINE_MAX && tl.ts >= 0);
            size_t n = 0;
            char *line = proto_tail_line(&tl, &n);
            assert(line && n && line[n - 1] == '\n');
            json_t *h2 = NULL;
            assert(proto_parse_tail_line(line, n - 1, &h2, &tb) == 0);
            assert(tb.len == tl.len && !memcmp(tb.text, tl.text, tl.len) && tb.ts == tl.ts &&
                   tb.err == tl.err && tb.cut == tl.cut);
            json_decref(h2);
            free(line);
        }
        json_decref(hold);
        p = nl ? nl + 1 : end;
    }
}

/* HTTPS on the edge: domain.cert (built again, same fields), the acme
 * spec (built again) and the tls flags of a job spec. */
static void https_parsers(json_t *msg)
{
    char err[ERR];
    struct proto_domain_cert c, c2;
    struct proto_acme_spec a;
    int redirect, hsts;
    if (proto_parse_domain_cert(msg, &c, err, sizeof err) == 0) {
        json_t *m = proto_domain_cert(&c);
        assert(m);
        assert(proto_parse_domain_cert(m, &c2, err, sizeof err) == 0);
        assert(c2.status == c.status && !strcmp(c2.name, c.name) && !strcmp(c2.app_id, c.app_id) &&
               c2.expires_at == (c.status == PROTO_CERT_ISSUED ? c.expires_at : 0));
        rebuilt(m, PROTO_DOMAIN_CERT);
    }
    if (proto_parse_acme_spec(msg, &a, err, sizeof err) == 0 && a.directory) {
        json_t *spec = json_object();
        assert(proto_acme_spec_add(spec, a.directory, a.email, a.ca_pem) == 0);
        struct proto_acme_spec b;
        assert(proto_parse_acme_spec(spec, &b, err, sizeof err) == 0 && !strcmp(b.directory, a.directory));
        json_decref(spec);
    }
    if (proto_parse_tls_flags(msg, &redirect, &hsts, err, sizeof err) == 0)
        assert((redirect == 0 || redirect == 1) && (hsts == 0 || hsts == 1));
}

static void all_parsers(json_t *msg)
{
    char err[ERR];
    struct proto_job_state js[16];
    const char *s = NULL;
    int64_t seq = 0;
    int ok = 0;

    https_parsers(msg);
    struct proto_hello_msg h;
    if (proto_parse_hello(msg, &h, err, sizeof err) == 0) {
        assert(h.proto >= 1 && h.version && h.hostname);
        size_t n = job_states(h.jobs, 0, js, 16);
        rebuilt(proto_hello(h.version, h.hostname, js, n), PROTO_HELLO);
    }
    if (proto_parse_registered(msg, &s, err, sizeof err) == 0)
        rebuilt(proto_registered(s), PROTO_REGISTERED);
    struct proto_metrics m;
    if (proto_parse_heartbeat(msg, &m, err, sizeof err) == 0)
        rebuilt(proto_heartbeat(&m), PROTO_HEARTBEAT);
    if (proto_parse_precheck(msg, &ok, err, sizeof err) == 0) {
        assert(ok == 0 || ok == 1);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(msg, "checks"), i, it) {
            struct proto_check c;
            if (proto_parse_check(it, &c, err, sizeof err) == 0)
                assert(c.name && (c.ok == 0 || c.ok == 1));
        }
    }
    struct proto_log_msg l;
    if (proto_parse_log(msg, &l, err, sizeof err) == 0) {
        assert(l.len <= PROTO_CHUNK_MAX && l.seq >= 1 && l.ts_ms >= 0);
        rebuilt(proto_job_log(l.job, l.seq, l.stream, l.ts_ms, l.data, l.len), PROTO_JOB_LOG);
        step_reports(l.data, l.len);
    }
    struct proto_done_msg d;
    if (proto_parse_done(msg, &d, err, sizeof err) == 0)
        rebuilt(proto_job_done(d.job, d.last_seq, d.status, d.exit_code, d.error), PROTO_JOB_DONE);
    struct proto_register_msg r;
    if (proto_parse_register(msg, &r, err, sizeof err) == 0)
        rebuilt(proto_register(r.server_id, r.credential), PROTO_REGISTER);
    struct proto_welcome_msg w;
    if (proto_parse_welcome(msg, &w, err, sizeof err) == 0) {
        assert(w.heartbeat_s >= 1 && w.heartbeat_s <= 3600);
        size_t n = job_states(w.jobs, 1, js, 16);
        rebuilt(proto_welcome(w.server_id, w.heartbeat_s, js, n), PROTO_WELCOME);
    }
    struct proto_job_msg j;
    if (proto_parse_job(msg, &j, err, sizeof err) == 0) {
        rebuilt(proto_job(j.job, j.kind, j.spec), PROTO_JOB);
        struct proto_script_spec sp;
        if (proto_parse_script_spec(j.spec, &sp, err, sizeof err) == 0) {
            assert(sp.timeout_s >= 0);
            json_t *spec = proto_script_spec(sp.name, sp.body, sp.timeout_s);
            assert(spec);
            json_decref(spec);
        }
        deploy_spec(j.spec);
    }
    if (proto_parse_ack(msg, &s, &seq, err, sizeof err) == 0) {
        assert(seq >= 0);
        rebuilt(proto_ack(s, seq), PROTO_ACK);
    }
    if (proto_parse_job_ref(msg, &s, err, sizeof err) == 0) {
        rebuilt(proto_job_accepted(s), PROTO_JOB_ACCEPTED);
        rebuilt(proto_ack_done(s), PROTO_ACK_DONE);
        rebuilt(proto_job_cancel(s), PROTO_JOB_CANCEL);
    }
    struct proto_docker_call dc;
    if (proto_parse_docker_call(msg, &dc, err, sizeof err) == 0)
        rebuilt(proto_docker_call(&dc), PROTO_DOCKER_CALL);
    struct proto_docker_result dr;
    if (proto_parse_docker_result(msg, &dr, err, sizeof err) == 0)
        rebuilt(proto_docker_result(&dr), PROTO_DOCKER_RESULT);
    /* application logs */
    struct proto_logs_query lq;
    if (proto_parse_logs_query(msg, &lq, err, sizeof err) == 0)
        rebuilt(proto_logs_query(&lq), PROTO_LOGS_QUERY);
    json_t *lines, *item;
    size_t i;
    if (proto_parse_logs_data(msg, &s, &lines, err, sizeof err) == 0) {
        json_t *again = json_array();
        json_array_foreach(lines, i, item) {
            struct proto_logs_line ll;
            if (proto_parse_logs_line(item, &ll, err, sizeof err) == 0) {
                json_t *b = proto_logs_line(&ll);
                assert(b);
                json_array_append_new(again, b);
            }
        }
        rebuilt(proto_logs_data(s, again), PROTO_LOGS_DATA);
    }
    int lok, trunc;
    const char *e;
    if (proto_parse_logs_end(msg, &s, &lok, &e, &trunc, err, sizeof err) == 0)
        rebuilt(proto_logs_end(s, lok, e, trunc), PROTO_LOGS_END);
    if (proto_parse_logs_cancel(msg, &s, err, sizeof err) == 0)
        rebuilt(proto_logs_cancel(s), PROTO_LOGS_CANCEL);
}

/* The input as what a person gives --url. */
static void ws_url(const uint8_t *data, size_t size)
{
    char url[512], out[600], err[ERR];
    if (size >= sizeof url)
        return;
    memcpy(url, data, size);
    url[size] = '\0';
    if (proto_ws_url(url, out, sizeof out, err, sizeof err) == 0) {
        char again[600];
        assert(!strncmp(out, "ws://", 5) || !strncmp(out, "wss://", 6));
        assert(proto_ws_url(out, again, sizeof again, err, sizeof err) == 0 && !strcmp(out, again));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *msg = NULL;
    ws_url(data, size);
    enum proto_type t = PROTO_UNKNOWN;
    char err[ERR] = "";
    if (proto_parse((const char *)data, size, &msg, &t, err, sizeof err) < 0) {
        assert(!msg && err[0]);
        return 0;
    }
    assert(json_is_object(msg));
    const char *name = proto_type_name(t);
    if (t != PROTO_UNKNOWN)
        assert(name && proto_type_of(name) == t);
    all_parsers(msg);
    json_decref(msg);
    return 0;
}
