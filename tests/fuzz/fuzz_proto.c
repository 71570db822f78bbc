/* fuzz_proto.c - a runner protocol frame as either side reads it
 * (src/core/proto.c): proto_parse, then every parser of both directions on
 * the object whatever its type (hub.c and link.c pick one by type; a
 * hostile peer picks the type), the job-state entries in both forms and a
 * job's script spec. A frame a parser accepts must build again with the
 * matching builder, dump, and parse back to the same type. */
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

static void all_parsers(json_t *msg)
{
    char err[ERR];
    struct proto_job_state js[16];
    const char *s = NULL;
    int64_t seq = 0;
    int ok = 0;

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
    if (proto_parse_precheck(msg, &ok, err, sizeof err) == 0)
        assert(ok == 0 || ok == 1);
    struct proto_log_msg l;
    if (proto_parse_log(msg, &l, err, sizeof err) == 0) {
        assert(l.len <= PROTO_CHUNK_MAX && l.seq >= 1 && l.ts_ms >= 0);
        rebuilt(proto_job_log(l.job, l.seq, l.stream, l.ts_ms, l.data, l.len), PROTO_JOB_LOG);
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *msg = NULL;
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
