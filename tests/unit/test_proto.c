/* test_proto.c - runner protocol v1 builders and parsers (src/core/proto.c):
 * every message round-trips, and each parser names the field it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Dumps msg and parses it back the way the other side would. */
static json_t *roundtrip(json_t *msg, enum proto_type want)
{
    size_t len;
    char err[128];
    enum proto_type t;
    json_t *back = NULL;
    assert_non_null(msg);
    char *text = proto_dump(msg, &len);
    assert_non_null(text);
    assert_int_equal(proto_parse(text, len, &back, &t, err, sizeof err), 0);
    assert_int_equal(t, want);
    free(text);
    json_decref(msg);
    return back;
}

static void type_names(void **state)
{
    for (int t = PROTO_HELLO; t < PROTO_NTYPES; t++)
        assert_int_equal(proto_type_of(proto_type_name((enum proto_type)t)), t);
    assert_int_equal(proto_type_of("terminal.input"), PROTO_UNKNOWN);
    assert_int_equal(proto_type_of(NULL), PROTO_UNKNOWN);
    assert_null(proto_type_name(PROTO_UNKNOWN));
}

#define F1 "{\"type\":\"future.thing\",\"x\":1}"

static void parse_frames(void **state)
{
    json_t *m = NULL;
    enum proto_type t;
    char err[128];
    assert_int_equal(proto_parse(F1, strlen(F1), &m, &t, err, sizeof err), 0);
    assert_int_equal(t, PROTO_UNKNOWN); /* ignored, not an error */
    json_decref(m);
    assert_int_equal(proto_parse("[1]", 3, &m, &t, err, sizeof err), -1);
    assert_null(m);
    assert_int_equal(proto_parse("{\"type\":1}", 10, &m, &t, err, sizeof err), -1);
    assert_int_equal(proto_parse("{\"type\":\"ack\"", 13, &m, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed"));
    assert_int_equal(proto_parse("{\"type\":\"a\",\"type\":\"b\"}", 23, &m, &t, err, sizeof err), -1);
    assert_int_equal(proto_parse("{}", PROTO_FRAME_MAX + 1, &m, &t, err, sizeof err), -1);
}

static void job_ids(void **state)
{
    assert_true(proto_job_id_valid("42"));
    assert_true(proto_job_id_valid("job_1.a-b"));
    assert_false(proto_job_id_valid(""));
    assert_false(proto_job_id_valid(NULL));
    assert_false(proto_job_id_valid("../etc"));
    assert_false(proto_job_id_valid("a/b"));
    assert_false(proto_job_id_valid(".hidden"));
    char longid[PROTO_JOB_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_false(proto_job_id_valid(longid));
    longid[PROTO_JOB_ID_MAX] = '\0';
    assert_true(proto_job_id_valid(longid));
}

static void hello_and_welcome(void **state)
{
    struct proto_job_state jobs[] = {{"7", 12, 1}, {"8", 0, 0}};
    char err[128];
    json_t *m = roundtrip(proto_hello("0.1.0", "host1", jobs, 2), PROTO_HELLO);
    struct proto_hello_msg h;
    assert_int_equal(proto_parse_hello(m, &h, err, sizeof err), 0);
    assert_int_equal(h.proto, PROTO_VERSION);
    assert_string_equal(h.hostname, "host1");
    assert_int_equal(json_array_size(h.jobs), 2);
    struct proto_job_state st;
    assert_int_equal(proto_parse_job_state(json_array_get(h.jobs, 0), 0, &st, err, sizeof err), 0);
    assert_string_equal(st.job, "7");
    assert_int_equal(st.seq, 12);
    assert_int_equal(st.flag, 1);
    /* the hello form is not the welcome form */
    assert_int_equal(proto_parse_job_state(json_array_get(h.jobs, 0), 1, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "acked_seq"));
    json_decref(m);

    struct proto_job_state acks[] = {{"7", 10, 0}};
    m = roundtrip(proto_welcome("5", 7, acks, 1), PROTO_WELCOME);
    struct proto_welcome_msg w;
    assert_int_equal(proto_parse_welcome(m, &w, err, sizeof err), 0);
    assert_string_equal(w.server_id, "5");
    assert_int_equal(w.heartbeat_s, 7);
    assert_int_equal(proto_parse_job_state(json_array_get(w.jobs, 0), 1, &st, err, sizeof err), 0);
    assert_int_equal(st.seq, 10);
    assert_int_equal(st.flag, 0);
    json_decref(m);

    /* heartbeat_s absent -> default; out of range -> refused */
    m = json_pack("{s:s,s:s}", "type", "welcome", "server_id", "5");
    assert_int_equal(proto_parse_welcome(m, &w, err, sizeof err), 0);
    assert_int_equal(w.heartbeat_s, PROTO_HEARTBEAT_S);
    json_object_set_new(m, "heartbeat_s", json_integer(0));
    assert_int_equal(proto_parse_welcome(m, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "heartbeat_s"));
    json_decref(m);
    /* a bad job id in a list is refused by the builder */
    struct proto_job_state bad[] = {{"../x", 1, 0}};
    assert_null(proto_hello("v", "h", bad, 1));
}

static void register_registered(void **state)
{
    char err[128];
    const char *sid;
    json_t *m = roundtrip(proto_register("9", "brc_secret"), PROTO_REGISTER);
    struct proto_register_msg r;
    assert_int_equal(proto_parse_register(m, &r, err, sizeof err), 0);
    assert_string_equal(r.server_id, "9");
    assert_string_equal(r.credential, "brc_secret");
    json_object_set_new(m, "credential", json_string(""));
    assert_int_equal(proto_parse_register(m, &r, err, sizeof err), -1);
    json_object_del(m, "credential");
    assert_int_equal(proto_parse_register(m, &r, err, sizeof err), -1);
    assert_string_equal(err, "field \"credential\" is missing");
    json_decref(m);
    m = roundtrip(proto_registered("9"), PROTO_REGISTERED);
    assert_int_equal(proto_parse_registered(m, &sid, err, sizeof err), 0);
    assert_string_equal(sid, "9");
    json_decref(m);
}

static void heartbeat(void **state)
{
    struct proto_metrics in = {.cpu_pct = 12.5, .mem_total = 1 << 30, .mem_used = 1 << 20,
                               .disk_total = 5000000000LL, .disk_used = 1000,
                               .load1 = 0.5, .load5 = 0.25, .load15 = 0.125,
                               .net = {1, 2, -1, -1}, .logs_bytes = 3LL << 30};
    struct proto_metrics out;
    char err[128];
    json_t *m = roundtrip(proto_heartbeat(&in), PROTO_HEARTBEAT);
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), 0);
    assert_int_equal(out.logs_bytes, 3LL << 30);
    assert_true(out.cpu_pct == 12.5);
    assert_int_equal(out.mem_total, 1 << 30);
    assert_int_equal(out.disk_total, 5000000000LL);
    assert_true(out.load15 == 0.125);
    assert_int_equal(out.net.rx_v4, 1);
    assert_int_equal(out.net.tx_v4, 2);
    assert_int_equal(out.net.rx_v6, -1); /* unknown travels as null */
    assert_true(json_is_null(json_object_get(json_object_get(json_object_get(m, "metrics"), "net"), "rx_v6")));
    json_decref(m);
    /* counters at and past 2^63, negative, huge: saturate, never a UB cast */
    m = json_loads("{\"type\":\"heartbeat\",\"metrics\":{\"mem_total\":1e300,"
                   "\"mem_used\":-1e300,\"disk_total\":9223372036854775807,"
                   "\"disk_used\":9.223372036854775807e18,\"net\":{\"rx_v4\":"
                   "9223372036854775807,\"tx_v4\":1.8e19,\"rx_v6\":-5,\"tx_v6\":0.5}}}",
                   0, NULL);
    assert_non_null(m);
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), 0);
    assert_true(out.mem_total == INT64_MAX);
    assert_int_equal(out.mem_used, -1);
    assert_true(out.disk_total == INT64_MAX);
    assert_true(out.disk_used == INT64_MAX);
    assert_true(out.net.rx_v4 == INT64_MAX);
    assert_true(out.net.tx_v4 == INT64_MAX);
    assert_int_equal(out.net.rx_v6, -1);
    assert_int_equal(out.net.tx_v6, 0);
    assert_int_equal(out.logs_bytes, -1); /* absent (an older runner): unknown */
    json_decref(m);
    m = json_pack("{s:s,s:{s:s}}", "type", "heartbeat", "metrics", "logs_bytes", "big");
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "logs_bytes"));
    json_decref(m);
    assert_true(proto_count(0.0 / 0.0) == -1); /* NaN */
    assert_true(proto_count(-0.0) == 0);
    assert_true(proto_count(9223372036854774784.0) == 9223372036854774784LL); /* < 2^63 */
    assert_true(proto_count(1.0 / 0.0) == INT64_MAX);
    m = json_pack("{s:s,s:{s:s}}", "type", "heartbeat", "metrics", "cpu_pct", "high");
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "cpu_pct"));
    json_decref(m);
}

/* Found by tests/fuzz/fuzz_proto: byte counts past int64 (1e300, 2^63)
 * were cast to int64_t, which is undefined; they are refused now. */
static void heartbeat_counts_out_of_range(void **state)
{
    /* counts past int64 saturate, negatives are unknown (-1): no undefined
     * double -> int64 cast, and no refusal (the runner would resend them) */
    struct proto_metrics out;
    char err[128];
    json_t *m = json_pack("{s:s,s:{s:f}}", "type", "heartbeat", "metrics", "mem_total", 1e300);
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), 0);
    assert_true(out.mem_total == INT64_MAX);
    json_decref(m);
    m = json_pack("{s:s,s:{s:{s:f}}}", "type", "heartbeat", "metrics", "net", "tx_v6",
                  9223372036854775808.0);
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), 0);
    assert_true(out.net.tx_v6 == INT64_MAX);
    json_decref(m);
    m = json_pack("{s:s,s:{s:f,s:f}}", "type", "heartbeat", "metrics", "disk_used",
                  -9223372036854775808.0, "load1", 1e300);
    assert_int_equal(proto_parse_heartbeat(m, &out, err, sizeof err), 0);
    assert_true(out.disk_used == -1 && out.load1 == 1e300);
    json_decref(m);
}

static void fingerprint_precheck(void **state)
{
    struct proto_port ports[] = {{"tcp", "0.0.0.0", 22}, {"udp6", "::", 53}};
    struct proto_fingerprint f = {.os = "Debian", .kernel = "Linux 6.1", .docker = NULL,
                                  .git = "2.39.2", .curl = "7.88.1", .ports = ports,
                                  .nports = 2, .firewall = NULL};
    json_t *m = roundtrip(proto_fingerprint(&f), PROTO_FINGERPRINT);
    assert_true(json_is_null(json_object_get(m, "docker")));
    assert_string_equal(json_string_value(json_object_get(m, "firewall")), "unavailable");
    json_t *p1 = json_array_get(json_object_get(m, "ports"), 1);
    assert_string_equal(json_string_value(json_object_get(p1, "proto")), "udp6");
    assert_int_equal(json_integer_value(json_object_get(p1, "port")), 53);
    json_decref(m);

    struct proto_check ok[] = {{"docker", 1, "20.10"}, {"disk", 1, "9 GiB"}};
    struct proto_check bad[] = {{"docker", 1, "20.10"}, {"git", 0, "not found"}};
    int v;
    char err[128];
    m = roundtrip(proto_precheck(ok, 2), PROTO_PRECHECK);
    assert_int_equal(proto_parse_precheck(m, &v, err, sizeof err), 0);
    assert_int_equal(v, 1);
    json_decref(m);
    m = roundtrip(proto_precheck(bad, 2), PROTO_PRECHECK);
    assert_int_equal(proto_parse_precheck(m, &v, err, sizeof err), 0);
    assert_int_equal(v, 0);
    json_decref(m);
}

static void jobs_and_acks(void **state)
{
    char err[128];
    json_t *spec = proto_script_spec("hi", "echo hi\n", 30);
    json_t *m = roundtrip(proto_job("42", "script", spec), PROTO_JOB);
    json_decref(spec);
    struct proto_job_msg j;
    struct proto_script_spec s;
    assert_int_equal(proto_parse_job(m, &j, err, sizeof err), 0);
    assert_string_equal(j.job, "42");
    assert_string_equal(j.kind, "script");
    assert_int_equal(proto_parse_script_spec(j.spec, &s, err, sizeof err), 0);
    assert_string_equal(s.body, "echo hi\n");
    assert_int_equal(s.timeout_s, 30);
    json_object_del(j.spec, "name");
    json_object_del(j.spec, "timeout_s");
    assert_int_equal(proto_parse_script_spec(j.spec, &s, err, sizeof err), 0);
    assert_string_equal(s.name, "script");
    assert_int_equal(s.timeout_s, 0);
    json_object_set_new(j.spec, "timeout_s", json_integer(-1));
    assert_int_equal(proto_parse_script_spec(j.spec, &s, err, sizeof err), -1);
    json_object_set_new(m, "job", json_string("../../x"));
    assert_int_equal(proto_parse_job(m, &j, err, sizeof err), -1);
    assert_string_equal(err, "field \"job\" is not a valid job id");
    json_decref(m);

    const char *job;
    int64_t seq;
    m = roundtrip(proto_ack("42", 17), PROTO_ACK);
    assert_int_equal(proto_parse_ack(m, &job, &seq, err, sizeof err), 0);
    assert_string_equal(job, "42");
    assert_int_equal(seq, 17);
    json_decref(m);
    m = roundtrip(proto_ack_done("42"), PROTO_ACK_DONE);
    assert_int_equal(proto_parse_job_ref(m, &job, err, sizeof err), 0);
    json_decref(m);
    m = roundtrip(proto_job_cancel("42"), PROTO_JOB_CANCEL);
    assert_int_equal(proto_parse_job_ref(m, &job, err, sizeof err), 0);
    json_decref(m);
    m = roundtrip(proto_job_accepted("42"), PROTO_JOB_ACCEPTED);
    assert_int_equal(proto_parse_job_ref(m, &job, err, sizeof err), 0);
    json_decref(m);
    assert_null(proto_ack("a b", 1));
}

static void log_and_done(void **state)
{
    char err[128];
    struct proto_log_msg l;
    json_t *m = roundtrip(proto_job_log("42", 3, "stderr", 1700000000000LL, "a\tb\n", 4), PROTO_JOB_LOG);
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), 0);
    assert_int_equal(l.seq, 3);
    assert_string_equal(l.stream, "stderr");
    assert_int_equal(l.ts_ms, 1700000000000LL);
    assert_int_equal(l.len, 4);
    assert_memory_equal(l.data, "a\tb\n", 4);
    json_object_set_new(m, "stream", json_string("stdin"));
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "stream"));
    json_decref(m);
    /* contract checks in the builder */
    assert_null(proto_job_log("42", 0, "stdout", 0, "x", 1));
    assert_null(proto_job_log("42", 1, "bogus", 0, "x", 1));
    assert_null(proto_job_log("42", 1, "stdout", 0, "\xff", 1));   /* not UTF-8 */
    char *big = malloc(PROTO_CHUNK_MAX + 1);
    memset(big, 'x', PROTO_CHUNK_MAX + 1);
    assert_null(proto_job_log("42", 1, "stdout", 0, big, PROTO_CHUNK_MAX + 1));
    assert_non_null(m = proto_job_log("42", 1, "stdout", 0, big, PROTO_CHUNK_MAX));
    json_decref(m);
    free(big);

    struct proto_done_msg d;
    m = roundtrip(proto_job_done("42", 3, "FAILED", 2, "exit code 2"), PROTO_JOB_DONE);
    assert_int_equal(proto_parse_done(m, &d, err, sizeof err), 0);
    assert_int_equal(d.last_seq, 3);
    assert_string_equal(d.status, "FAILED");
    assert_int_equal(d.exit_code, 2);
    assert_string_equal(d.error, "exit code 2");
    json_decref(m);
    m = roundtrip(proto_job_done("42", 0, "SUCCEEDED", 0, NULL), PROTO_JOB_DONE);
    assert_int_equal(proto_parse_done(m, &d, err, sizeof err), 0);
    assert_null(d.error);
    json_object_set_new(m, "status", json_string("DONE"));
    assert_int_equal(proto_parse_done(m, &d, err, sizeof err), -1);
    json_decref(m);
    assert_null(proto_job_done("42", 0, "MAYBE", 0, NULL));
    /* caps on what a runner sends: seq, ts, last_seq, exit_code, chunk size */
    m = roundtrip(proto_job_log("42", 1, "stdout", 1, "x", 1), PROTO_JOB_LOG);
    json_object_set_new(m, "seq", json_integer(PROTO_SEQ_MAX + 1));
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "seq"));
    json_object_set_new(m, "seq", json_integer(PROTO_SEQ_MAX));
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), 0);
    json_object_set_new(m, "ts", json_integer(-1));
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), -1);
    json_object_set_new(m, "ts", json_integer(PROTO_TS_MAX + 1));
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "ts"));
    json_object_set_new(m, "ts", json_integer(1));
    json_object_set_new(m, "job", json_integer(42)); /* ids are strings */
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), -1);
    big = calloc(1, PROTO_CHUNK_MAX + 2);
    memset(big, 'y', PROTO_CHUNK_MAX + 1);
    json_object_set_new(m, "job", json_string("42"));
    json_object_set_new(m, "data", json_string(big));
    assert_int_equal(proto_parse_log(m, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "16 KiB"));
    free(big);
    json_decref(m);
    m = roundtrip(proto_job_done("42", 1, "FAILED", 1, NULL), PROTO_JOB_DONE);
    json_object_set_new(m, "last_seq", json_integer(INT64_MAX));
    assert_int_equal(proto_parse_done(m, &d, err, sizeof err), -1);
    json_object_set_new(m, "last_seq", json_integer(1));
    json_object_set_new(m, "exit_code", json_integer((json_int_t)INT32_MAX + 1));
    assert_int_equal(proto_parse_done(m, &d, err, sizeof err), -1);
    json_object_set_new(m, "exit_code", json_integer(INT32_MIN));
    assert_int_equal(proto_parse_done(m, &d, err, sizeof err), 0);
    json_decref(m);
}

struct pieces {
    char text[256];
    size_t len, n, longest;
};

static void collect(void *arg, const char *piece, size_t n)
{
    struct pieces *p = arg;
    size_t used, outlen;
    char check[64];
    assert_true(n > 0 && n <= sizeof check && p->len + n < sizeof p->text);
    used = proto_utf8_sanitize(piece, n, 0, check, &outlen); /* whole characters only */
    assert_int_equal(used, n);
    assert_memory_equal(check, piece, n);
    memcpy(p->text + p->len, piece, n);
    p->len += n;
    p->n++;
    if (n > p->longest)
        p->longest = n;
}

/* A stream cut at every byte, in reads of every size, comes out whole and
 * in pieces of whole characters no longer than asked. */
static void utf8_stream_joins_cut_characters(void **state)
{
    (void)state;
    static const char text[] = "caf\xc3\xa9 \xe2\x82\xac 1 \xf0\x9f\x98\x80!";
    size_t len = sizeof text - 1;
    for (size_t step = 1; step <= len; step++) {
        struct proto_utf8_carry c = {0};
        struct pieces p = {0};
        for (size_t off = 0; off < len; off += step) {
            size_t n = len - off < step ? len - off : step;
            proto_utf8_stream(&c, text + off, n, 0, 6, collect, &p);
        }
        proto_utf8_stream(&c, NULL, 0, 1, 6, collect, &p);
        assert_int_equal(p.len, len);
        assert_memory_equal(p.text, text, len);
        assert_true(p.longest <= 6);
        assert_int_equal(c.len, 0);
    }
    /* a cut character at the end of the stream goes out replaced */
    struct proto_utf8_carry c = {0};
    struct pieces p = {0};
    proto_utf8_stream(&c, "ab\xe2\x82", 4, 0, 64, collect, &p);
    assert_int_equal(p.len, 2);
    assert_int_equal(c.len, 2);
    proto_utf8_stream(&c, NULL, 0, 1, 64, collect, &p);
    assert_int_equal(p.len, 4);
    assert_memory_equal(p.text, "ab??", 4);
}

static void utf8_sanitize(void **state)
{
    char out[64];
    size_t n, used;
    /* valid text passes through */
    used = proto_utf8_sanitize("caf\xc3\xa9 \xe2\x82\xac", 9, 0, out, &n);
    assert_int_equal(used, 9);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "caf\xc3\xa9 \xe2\x82\xac", 9);
    /* invalid bytes, overlongs, surrogates and NUL become '?' */
    used = proto_utf8_sanitize("a\xff" "b\xc0\xaf" "\xed\xa0\x80" "\0", 9, 1, out, &n);
    assert_int_equal(used, 9);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "a?b?????" "?", 9);
    /* an incomplete tail is held back unless final */
    used = proto_utf8_sanitize("ab\xe2\x82", 4, 0, out, &n);
    assert_int_equal(used, 2);
    assert_int_equal(n, 2);
    used = proto_utf8_sanitize("ab\xe2\x82", 4, 1, out, &n);
    assert_int_equal(used, 4);
    assert_memory_equal(out, "ab??", 4);
    /* in place */
    char buf[] = "x\xfey";
    used = proto_utf8_sanitize(buf, 3, 1, buf, &n);
    assert_string_equal(buf, "x?y");
    /* the result is accepted by json_stringn (the job.log builder) */
    json_t *m = proto_job_log("1", 1, "stdout", 0, out, 4);
    assert_non_null(m);
    json_decref(m);
}

/* precheck's items, as berthd reads them for the server's reason. */
static void precheck_checks(void **state)
{
    struct proto_check in[] = {{"docker", 1, "20.10"}, {"git", 0, NULL}};
    struct proto_check c;
    char err[128];
    int ok;
    json_t *m = roundtrip(proto_precheck(in, 2), PROTO_PRECHECK);
    assert_int_equal(proto_parse_precheck(m, &ok, err, sizeof err), 0);
    json_t *checks = json_object_get(m, "checks");
    assert_int_equal(json_array_size(checks), 2);
    assert_int_equal(proto_parse_check(json_array_get(checks, 0), &c, err, sizeof err), 0);
    assert_string_equal(c.name, "docker");
    assert_int_equal(c.ok, 1);
    assert_string_equal(c.detail, "20.10");
    assert_int_equal(proto_parse_check(json_array_get(checks, 1), &c, err, sizeof err), 0);
    assert_string_equal(c.name, "git");
    assert_int_equal(c.ok, 0);
    assert_string_equal(c.detail, "");  /* the builder sends "" for none */
    json_object_set_new(json_array_get(checks, 1), "ok", json_string("yes"));
    assert_int_equal(proto_parse_check(json_array_get(checks, 1), &c, err, sizeof err), -1);
    assert_string_equal(err, "field \"ok\" must be a boolean");
    json_t *str = json_string("x");
    assert_int_equal(proto_parse_check(str, &c, err, sizeof err), -1);
    json_decref(str);
    json_decref(m);
}

static const char *const doms[] = {"web.example.com", "www.example.com"};
static const struct proto_env_var env[] = {{"DATABASE_URL", "postgres://u:secret@db/x"}, {"MODE", ""}};

/* berthd's spec as docs/protocol.md shows it. */
static struct proto_deploy_spec sample_spec(void)
{
    struct proto_deploy_spec s = {
        .deployment = "42", .kind = "deploy", .app_id = "3", .app_name = "web",
        .repo_url = "https://git.example.com/acme/web.git", .branch = "main", .commit = NULL,
        .dockerfile = "./Dockerfile", .context = ".", .image = "berth-5f0c2a91-3:42",
        .container_name = "berth-5f0c2a91-3-42", .container_port = 8080, .restart_policy = "unless-stopped",
        .memory = 64 << 20, .cpus = 0.5, .health_path = "/health", .health_tries = 10,
        .health_backoff_ms = 500, .health_timeout_s = 120, .public_port = 80, .domains = (const char **)doms,
        .ndomains = 2, .keep_images = 5, .drain_seconds = 30, .clone_s = 300, .build_s = 1800, .health_s = 120,
        .prev_deployment = "40", .prev_image = "berth-5f0c2a91-3:40", .prev_container = "berth-5f0c2a91-3-40",
        .prev_commit = "0123abcd0123abcd0123abcd0123abcd0123abcd",
    };
    return s;
}

static void deploy_spec_roundtrip(void **state)
{
    char err[160];
    struct proto_deploy_spec in = sample_spec(), out;
    in.env = env;
    in.nenv = 2;
    in.git.auth = "token";
    in.git.token = "ghs_x";
    json_t *spec = proto_deploy_spec(&in);
    assert_non_null(spec);
    json_t *m = roundtrip(proto_job("7", "deploy", spec), PROTO_JOB);
    json_decref(spec);
    struct proto_job_msg j;
    assert_int_equal(proto_parse_job(m, &j, err, sizeof err), 0);
    assert_int_equal(proto_parse_deploy_spec(j.spec, &out, err, sizeof err), 0);
    assert_string_equal(out.deployment, "42");
    assert_string_equal(out.kind, "deploy");
    assert_string_equal(out.app_id, "3");
    assert_string_equal(out.app_name, "web");
    assert_string_equal(out.repo_url, in.repo_url);
    assert_string_equal(out.branch, "main");
    assert_null(out.commit);
    assert_string_equal(out.dockerfile, "./Dockerfile");
    assert_string_equal(out.image, in.image);
    assert_null(out.rollback_image);
    assert_string_equal(out.container_name, in.container_name);
    assert_int_equal(out.container_port, 8080);
    assert_string_equal(out.restart_policy, "unless-stopped");
    assert_int_equal(out.memory, 64 << 20);
    assert_true(out.cpus == 0.5);
    assert_string_equal(out.health_path, "/health");
    assert_int_equal(out.health_tries, 10);
    assert_int_equal(out.health_backoff_ms, 500);
    assert_int_equal(out.health_timeout_s, 120);
    assert_int_equal(out.public_port, 80);
    assert_int_equal(out.ndomains, 2);
    assert_string_equal(out.domains[1], "www.example.com");
    assert_int_equal(out.keep_images, 5);
    assert_int_equal(out.drain_seconds, 30);
    assert_int_equal(out.clone_s, 300);
    assert_int_equal(out.build_s, 1800);
    assert_int_equal(out.health_s, 120);
    assert_string_equal(out.prev_deployment, "40");
    assert_string_equal(out.prev_container, "berth-5f0c2a91-3-40");
    assert_string_equal(out.prev_commit, in.prev_commit);
    assert_int_equal(out.nenv, 2);
    assert_string_equal(out.env[0].name, "DATABASE_URL");
    assert_string_equal(out.env[0].value, "postgres://u:secret@db/x");
    assert_string_equal(out.env[1].value, "");
    assert_string_equal(out.git.auth, "token");
    assert_string_equal(out.git.token, "ghs_x");
    assert_string_equal(out.git.username, "x-access-token");
    proto_deploy_spec_release(&out);
    json_decref(m);

    /* berthd's stored form (no secrets), the secrets added at delivery,
     * then a rollback with nothing optional */
    in = sample_spec();
    spec = proto_deploy_spec(&in);
    assert_null(json_object_get(spec, "env"));
    assert_null(json_object_get(spec, "git"));
    struct proto_git_auth key = {.auth = "ssh_key", .ssh_key = "-----BEGIN OPENSSH PRIVATE KEY-----\n"};
    assert_int_equal(proto_deploy_spec_add_secrets(spec, NULL, 0, &key), 0);  /* gitauth.c's part */
    assert_null(json_object_get(spec, "env"));
    assert_int_equal(proto_deploy_spec_add_secrets(spec, env, 0, NULL), 0);  /* no env set: {} */
    assert_int_equal(json_object_size(json_object_get(spec, "env")), 0);
    assert_int_equal(proto_deploy_spec_add_secrets(spec, env, 1, NULL), 0);  /* deploy.c's part */
    assert_int_equal(proto_parse_deploy_spec(spec, &out, err, sizeof err), 0);
    assert_int_equal(out.nenv, 1);
    assert_string_equal(out.git.auth, "ssh_key");
    assert_non_null(out.git.ssh_key);
    proto_deploy_spec_release(&out);
    json_decref(spec);

    struct proto_deploy_spec rb = {.deployment = "43", .kind = "rollback", .app_id = "3", .image = "berth-x-3:40",
                                   .rollback_image = "berth-x-3:40", .container_name = "berth-x-3-43",
                                   .container_port = 80, .health_timeout_s = 60};
    spec = proto_deploy_spec(&rb);
    assert_non_null(spec);
    assert_int_equal(proto_parse_deploy_spec(spec, &out, err, sizeof err), 0);
    assert_string_equal(out.rollback_image, "berth-x-3:40");
    assert_int_equal(out.public_port, 0);
    assert_int_equal(out.ndomains, 0);
    assert_null(out.prev_deployment);
    assert_string_equal(out.restart_policy, "unless-stopped");  /* the builder's default */
    proto_deploy_spec_release(&out);
    json_decref(spec);
}

/* A spec with the defaults berthd may leave out, then each rule broken:
 * the parser names the field (and the builder refuses to make it). */
static void deploy_spec_rules(void **state)
{
    char err[160];
    struct proto_deploy_spec out;
    json_t *spec = json_pack("{s:s, s:{s:s}, s:s, s:s, s:{s:s, s:i}}", "deployment", "9", "app", "id", "3",
                             "repo_url", "https://h/r.git", "image", "img:9", "container", "name", "c-9", "port",
                             80);
    assert_int_equal(proto_parse_deploy_spec(spec, &out, err, sizeof err), 0);
    assert_string_equal(out.kind, "deploy");
    assert_string_equal(out.branch, "main");
    assert_string_equal(out.dockerfile, "Dockerfile");
    assert_string_equal(out.context, ".");
    assert_string_equal(out.health_path, "/");
    assert_int_equal(out.health_tries, 10);
    assert_int_equal(out.health_timeout_s, 120);
    assert_int_equal(out.keep_images, 5);
    assert_int_equal(out.drain_seconds, 30);
    proto_deploy_spec_release(&out);

    static const struct {
        const char *key, *json, *field;
    } bad[] = {
        {"deployment", "\"4a\"", "deployment"},
        {"deployment", "42", "deployment"},
        {"kind", "\"destroy\"", "kind"},
        {"app", "{\"id\": \"x\"}", "id"},
        {"repo_url", "\"-uhttps://h\"", "repo_url"},
        {"repo_url", "\"https://h/a b\"", "repo_url"},
        {"branch", "\"a..b\"", "branch"},
        {"branch", "\"--upload-pack=x\"", "branch"},
        {"commit", "\"ABCDEF12\"", "commit"},
        {"commit", "\"abc\"", "commit"},
        {"dockerfile", "\"../../etc/passwd\"", "dockerfile"},
        {"context", "\"/\"", "context"},
        {"image", "\"-x\"", "image"},
        {"image", "\"a b\"", "image"},
        {"rollback_image", "\"x y\"", "rollback_image"},
        {"container", "{\"name\": \"-c\", \"port\": 80}", "name"},
        {"container", "{\"name\": \"c\", \"port\": 70000}", "port"},
        {"container", "{\"name\": \"c\"}", "port"},
        {"container", "{\"name\": \"c\", \"port\": 80, \"memory\": -1}", "memory"},
        {"container", "{\"name\": \"c\", \"port\": 80, \"cpus\": 1e9}", "cpus"},
        {"container", "{\"name\": \"c\", \"port\": 80, \"cpus\": \"1\"}", "cpus"},
        {"health", "{\"path\": \"health\"}", "path"},
        {"health", "{\"tries\": 0}", "tries"},
        {"health", "[]", "health"},
        {"public_port", "-1", "public_port"},
        {"domains", "[\"a b\"]", "domains"},
        {"domains", "\"x\"", "domains"},
        {"keep_images", "1e3", "keep_images"},
        {"timeouts", "{\"build_s\": -5}", "build_s"},
        {"previous", "{\"deployment\": \"x\"}", "deployment"},
        {"previous", "{\"deployment\": \"1\", \"container\": \"a/b\"}", "container"},
        {"env", "{\"A=B\": \"x\"}", "env"},
        {"env", "{\"A\": 1}", "env"},
        {"env", "[]", "env"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *c = json_deep_copy(spec);
        json_t *v = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
        char want[64];
        assert_non_null(v);
        json_object_set_new(c, bad[i].key, v);
        err[0] = '\0';
        assert_int_equal(proto_parse_deploy_spec(c, &out, err, sizeof err), -1);
        snprintf(want, sizeof want, "field \"%s\"", bad[i].field);
        if (!strstr(err, want))
            fail_msg("%s=%s: %s", bad[i].key, bad[i].json, err);
        proto_deploy_spec_release(&out);
        json_decref(c);
    }
    /* the git object: "clone: ..." (the step that would use it) */
    static const char *const git_bad[][2] = {
        {"{\"token\": \"t\"}", "clone: git credentials without an \"auth\" kind"},
        {"\"t\"", "clone: git credentials without an \"auth\" kind"},
        {"{\"auth\": \"token\"}", "clone: git auth \"token\" without a token"},
        {"{\"auth\": \"ssh_key\", \"ssh_key\": \"\"}", "clone: git auth \"ssh_key\" without a key"},
        {"{\"auth\": \"password\"}", "clone: unsupported git auth \"password\""},
    };
    for (size_t i = 0; i < sizeof git_bad / sizeof git_bad[0]; i++) {
        json_t *c = json_deep_copy(spec);
        json_object_set_new(c, "git", json_loads(git_bad[i][0], JSON_DECODE_ANY, NULL));
        assert_int_equal(proto_parse_deploy_spec(c, &out, err, sizeof err), -1);
        assert_string_equal(err, git_bad[i][1]);
        proto_deploy_spec_release(&out);
        json_decref(c);
    }
    json_decref(spec);
    assert_int_equal(proto_parse_deploy_spec(NULL, &out, err, sizeof err), -1);

    /* the builder never makes what the parser refuses */
    struct proto_deploy_spec in = sample_spec();
    in.branch = "a..b";
    assert_null(proto_deploy_spec(&in));
    in = sample_spec();
    in.container_port = 0;
    assert_null(proto_deploy_spec(&in));
    in = sample_spec();
    in.image = NULL;
    assert_null(proto_deploy_spec(&in));
}

static void deploy_step_reports(void **state)
{
    char err[160];
    size_t n;
    json_t *hold = NULL;
    struct proto_deploy_step out;
    struct proto_deploy_step in = {.step = "clone", .status = "ok", .detail = "at 0123abcd\nsecond line",
                                   .commit = "0123abcd0123abcd0123abcd0123abcd0123abcd"};
    char *line = proto_deploy_step_line(&in, &n);
    assert_non_null(line);
    assert_int_equal(line[n - 1], '\n');
    assert_int_equal(strlen(line), n);
    assert_null(memchr(line, '\n', n - 1));  /* one line */
    assert_int_equal(proto_parse_deploy_step(line, n, &hold, &out, err, sizeof err), 0);
    assert_string_equal(out.step, "clone");
    assert_string_equal(out.status, "ok");
    assert_string_equal(out.detail, "at 0123abcd second line");
    assert_string_equal(out.commit, in.commit);
    assert_null(out.image);
    assert_int_equal(out.serving, 0);
    json_decref(hold);
    free(line);

    struct proto_deploy_step st = {.step = "start", .status = "ok", .image = "img:1",
                                   .image_id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    line = proto_deploy_step_line(&st, &n);
    assert_int_equal(proto_parse_deploy_step(line, n, &hold, &out, err, sizeof err), 0);
    assert_string_equal(out.image, "img:1");
    assert_string_equal(out.image_id, st.image_id);
    json_decref(hold);
    free(line);
    struct proto_deploy_step cl = {.step = "cleanup", .status = "started", .serving = 1};
    line = proto_deploy_step_line(&cl, &n);
    assert_int_equal(proto_parse_deploy_step(line, n, &hold, &out, err, sizeof err), 0);
    assert_int_equal(out.serving, 1);
    assert_null(out.detail);
    json_decref(hold);
    free(line);

    /* a long detail is cut on a character boundary */
    char big[3000];
    memset(big, 'x', sizeof big);
    memcpy(big + 2046, "\xc3\xa9", 2);
    big[sizeof big - 1] = '\0';
    struct proto_deploy_step lg = {.step = "build", .status = "failed", .detail = big};
    line = proto_deploy_step_line(&lg, &n);
    assert_int_equal(proto_parse_deploy_step(line, n, &hold, &out, err, sizeof err), 0);
    assert_true(strlen(out.detail) <= PROTO_STEP_DETAIL_MAX);
    json_decref(hold);
    free(line);

    /* refused: a bad step or status; ignored: optional fields off their rule */
    struct proto_deploy_step no = {.step = "deploy", .status = "ok"};
    assert_null(proto_deploy_step_line(&no, &n));
    no.step = "swap";
    no.status = "done";
    assert_null(proto_deploy_step_line(&no, &n));
    static const char *const refused[] = {"[]", "{\"step\": \"swap\"}", "{\"step\": \"x\", \"status\": \"ok\"}",
                                          "{\"step\": \"swap\", \"status\": 1}", "not json"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(proto_parse_deploy_step(refused[i], strlen(refused[i]), &hold, &out, err, sizeof err), -1);
        json_decref(hold);
    }
    static const char odd[] = "{\"step\": \"start\", \"status\": \"ok\", \"commit\": \"ab\", \"image_id\": "
                              "\"sha1:x\", \"detail\": 5, \"serving\": \"yes\"}";
    assert_int_equal(proto_parse_deploy_step(odd, sizeof odd - 1, &hold, &out, err, sizeof err), 0);
    assert_null(out.commit);
    assert_null(out.image_id);
    assert_null(out.detail);
    assert_int_equal(out.serving, 0);
    json_decref(hold);
    assert_int_equal(proto_deploy_step_index("precheck"), 0);
    assert_int_equal(proto_deploy_step_index("rollback"), 7);
    assert_int_equal(proto_deploy_step_index(NULL), -1);
}

/* --url as a person types it: berthd's base URL or the link's own. */
static void ws_url(void **state)
{
    char out[256], err[300];
    static const char *const cases[][2] = {
        {"http://127.0.0.1:8080", "ws://127.0.0.1:8080/runner/v1"},
        {"http://127.0.0.1:8080/", "ws://127.0.0.1:8080/runner/v1"},
        {"https://berth.example", "wss://berth.example/runner/v1"},
        {"HTTPS://berth.example/berth//", "wss://berth.example/berth/runner/v1"},
        {"http://h:1/a/b", "ws://h:1/a/b/runner/v1"},
        {"http://h:1/runner/v1", "ws://h:1/runner/v1"},
        {"https://h/x/runner/v1/", "wss://h/x/runner/v1"},
        {"ws://127.0.0.1:8080/runner/v1", "ws://127.0.0.1:8080/runner/v1"},
        {"ws://127.0.0.1:8080", "ws://127.0.0.1:8080/runner/v1"},
        {"ws://127.0.0.1:8080/", "ws://127.0.0.1:8080/runner/v1"},
        {"wss://h/custom/path", "wss://h/custom/path"},
        {"ws://[::1]:80", "ws://[::1]:80/runner/v1"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(proto_ws_url(cases[i][0], out, sizeof out, err, sizeof err), 0);
        assert_string_equal(out, cases[i][1]);
    }
    static const char *const bad[] = {"127.0.0.1:8080", "ftp://h/", "http://", "http:///runner/v1",
                                      "http://:80/", "http://h/a b", "http://h/?x=1", "ws://h#f",
                                      "ws://h\n", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_ws_url(bad[i], out, sizeof out, err, sizeof err), -1);
    assert_int_equal(proto_ws_url(NULL, out, sizeof out, err, sizeof err), -1);
    assert_int_equal(proto_ws_url("http://a-rather-long-host-name.example", out, 20, err, sizeof err), -1);
}

/* container management: each op round-trips; targets, ids and results
 * that break their rule are refused, naming the field. */
static void docker_calls(void **state)
{
    (void)state;
    char err[128];
    struct proto_docker_call c = {"17", PROTO_OP_STOP, "berth-5dbb2359-1-13", NULL}, back;
    json_t *m = roundtrip(proto_docker_call(&c), PROTO_DOCKER_CALL);
    assert_int_equal(proto_parse_docker_call(m, &back, err, sizeof err), 0);
    assert_int_equal(back.op, PROTO_OP_STOP);
    assert_string_equal(back.target, "berth-5dbb2359-1-13");
    json_decref(m);
    struct proto_docker_call list = {"18", PROTO_OP_LIST, NULL, NULL};
    m = roundtrip(proto_docker_call(&list), PROTO_DOCKER_CALL);
    assert_int_equal(proto_parse_docker_call(m, &back, err, sizeof err), 0);
    assert_null(back.target);
    json_decref(m);
    struct proto_docker_call bad[] = {
        {"x", PROTO_OP_LIST, NULL, NULL},  {"1", PROTO_OP_STOP, NULL, NULL},
        {"1", PROTO_OP_LIST, "c", NULL},   {"1", PROTO_OP_STOP, "../x", NULL},
        {"1", PROTO_OP_STOP, "-rf", NULL}, {"1", PROTO_OP_NONE, "c", NULL},
        {"1", PROTO_OP_PRUNE, NULL, NULL}, {"1", PROTO_OP_PRUNE_SCAN, "c", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(proto_docker_call(&bad[i]));
    static const char *const refused[] = {
        "{\"type\":\"docker.call\",\"id\":\"1\",\"op\":\"exec\",\"target\":\"c\"}",
        "{\"type\":\"docker.call\",\"id\":\"1\",\"op\":\"stop\"}",
        "{\"type\":\"docker.call\",\"id\":\"1\",\"op\":\"stop\",\"target\":\"a/b\"}",
        "{\"type\":\"docker.call\",\"id\":1,\"op\":\"list\"}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_t *x = json_loads(refused[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(proto_parse_docker_call(x, &back, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        json_decref(x);
    }
    /* prune: items of the right shape only */
    const char *cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char iid[80];
    snprintf(iid, sizeof iid, "sha256:%s", cid);
    json_t *pitems = json_pack("[{s:s, s:s}, {s:s, s:s, s:[s]}, {s:s, s:s}]", "kind",
                               "container", "id", cid, "kind", "image", "id", iid, "tags",
                               "berth-5dbb2359-1:13", "kind", "image", "id", iid);
    struct proto_docker_call pc = {"19", PROTO_OP_PRUNE, NULL, pitems};
    m = roundtrip(proto_docker_call(&pc), PROTO_DOCKER_CALL);
    assert_int_equal(proto_parse_docker_call(m, &back, err, sizeof err), 0);
    assert_int_equal(back.op, PROTO_OP_PRUNE);
    assert_true(json_equal(back.items, pitems));
    json_decref(m);
    struct proto_docker_call scan = {"20", PROTO_OP_PRUNE_SCAN, NULL, NULL};
    m = roundtrip(proto_docker_call(&scan), PROTO_DOCKER_CALL);
    assert_int_equal(proto_parse_docker_call(m, &back, err, sizeof err), 0);
    assert_int_equal(back.op, PROTO_OP_PRUNE_SCAN);
    json_decref(m);
    json_decref(pitems);
    static const char *const bad_items[] = {
        "{}", "[5]", "[{\"kind\":\"volume\",\"id\":\"x\"}]",
        "[{\"kind\":\"container\",\"id\":\"abc\"}]",
        "[{\"kind\":\"image\",\"id\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef\"}]", /* an image's id says sha256: */
        "[{\"kind\":\"container\",\"id\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789ABCDEF\"}]",
        "[{\"kind\":\"container\",\"id\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef\",\"tags\":[\"a\"]}]", /* tags are an image's */
        "[{\"kind\":\"image\",\"id\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef\",\"tags\":[\"-rf\"]}]",
    };
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++) {
        json_t *bi = json_loads(bad_items[i], 0, NULL);
        assert_non_null(bi);
        struct proto_docker_call bc = {"1", PROTO_OP_PRUNE, NULL, bi};
        assert_null(proto_docker_call(&bc));
        json_t *f = json_pack("{s:s, s:s, s:s, s:O}", "type", "docker.call", "id", "1", "op",
                              "prune", "items", bi);
        err[0] = '\0';
        assert_int_equal(proto_parse_docker_call(f, &back, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        json_decref(f);
        json_decref(bi);
    }
    json_t *items = json_pack("{s:[{s:s}]}", "items", "id", "abc");
    struct proto_docker_result r = {"17", 1, NULL, 200, items}, rb;
    m = roundtrip(proto_docker_result(&r), PROTO_DOCKER_RESULT);
    assert_int_equal(proto_parse_docker_result(m, &rb, err, sizeof err), 0);
    assert_true(rb.ok);
    assert_int_equal(rb.status, 200);
    assert_true(json_equal(rb.result, items));
    json_decref(m);
    json_decref(items);
    char big[2048];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct proto_docker_result e = {"17", 0, big, 404, NULL};
    m = roundtrip(proto_docker_result(&e), PROTO_DOCKER_RESULT);
    assert_int_equal(proto_parse_docker_result(m, &rb, err, sizeof err), 0);
    assert_int_equal(strlen(rb.error), PROTO_CALL_ERROR_MAX); /* cut, not refused */
    json_decref(m);
    json_t *x = json_loads("{\"id\":\"1\",\"ok\":true,\"status\":200,\"result\":5}", 0, NULL);
    assert_int_equal(proto_parse_docker_result(x, &rb, err, sizeof err), -1);
    json_decref(x);
}

/* application logs: query, data, end and cancel round-trip; bad fields
 * are refused, naming the field. */
/* A failed container's lines (docs/deploy.md, "Container output"). */
static void container_tail_lines(void **state)
{
    (void)state;
    json_t *hold = NULL;
    struct proto_tail_line in = {1764967695117525290LL, 1, "boom \"x\"", 8, 0}, out;
    size_t n;
    char *line = proto_tail_line(&in, &n);
    assert_non_null(line);
    assert_int_equal(line[n - 1], '\n');
    assert_int_equal(proto_parse_tail_line(line, n - 1, &hold, &out), 0);
    assert_int_equal(out.ts, in.ts);
    assert_int_equal(out.err, 1);
    assert_int_equal(out.cut, 0);
    assert_int_equal(out.len, 8);
    assert_memory_equal(out.text, "boom \"x\"", 8);
    json_decref(hold);
    free(line);
    /* longer than PROTO_TAIL_LINE_MAX: cut on a character boundary */
    char big[PROTO_TAIL_LINE_MAX + 8];
    memset(big, 'a', sizeof big);
    memcpy(big + PROTO_TAIL_LINE_MAX - 1, "\xc3\xa9", 2); /* an e-acute across the cut */
    struct proto_tail_line b = {5, 0, big, sizeof big, 0};
    line = proto_tail_line(&b, &n);
    assert_int_equal(proto_parse_tail_line(line, n, &hold, &out), 0);
    assert_int_equal(out.len, PROTO_TAIL_LINE_MAX - 1);
    assert_int_equal(out.cut, 1);
    assert_int_equal(out.err, 0);
    json_decref(hold);
    free(line);
    /* what is not a container line */
    static const char *const bad[] = {
        "{\"step\":\"health\",\"status\":\"failed\"}",
        "{\"container_line\":\"x\",\"stream\":\"stdin\",\"ts\":1}",
        "{\"container_line\":\"x\",\"stream\":\"stdout\",\"ts\":-1}",
        "{\"container_line\":\"x\",\"stream\":\"stdout\",\"ts\":\"1\"}",
        "{\"container_line\":1,\"stream\":\"stdout\",\"ts\":1}",
        "{\"container_line\":\"a\\u0000b\",\"stream\":\"stdout\",\"ts\":1}",
        "[\"container_line\"]", "not json", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(proto_parse_tail_line(bad[i], strlen(bad[i]), &hold, &out), -1);
        json_decref(hold);
    }
}

static void app_logs_frames(void **state)
{
    (void)state;
    char err[128];
    struct proto_logs_query q = {"5", "12", 1000, 2000, 50, 1000, "needle", 2, "7", 1, "ne+d[a-z]?"},
                            qb;
    json_t *m = roundtrip(proto_logs_query(&q), PROTO_LOGS_QUERY);
    assert_int_equal(proto_parse_logs_query(m, &qb, err, sizeof err), 0);
    assert_string_equal(qb.app, "12");
    assert_int_equal(qb.since, 1000);
    assert_int_equal(qb.until, 2000);
    assert_int_equal(qb.tail, 50);
    assert_int_equal(qb.limit, 1000);
    assert_string_equal(qb.q, "needle");
    assert_int_equal(qb.streams, 2);
    assert_string_equal(qb.deployment, "7");
    assert_int_equal(qb.follow, 1);
    assert_string_equal(qb.re, "ne+d[a-z]?");
    json_decref(m);
    struct proto_logs_query badq[] = {{"x", "1", 0, 0, 0, 1, NULL, 0, NULL, 0, NULL},
                                      {"1", "a", 0, 0, 0, 1, NULL, 0, NULL, 0, NULL},
                                      {"1", "1", -1, 0, 0, 1, NULL, 0, NULL, 0, NULL},
                                      {"1", "1", 0, 0, 100001, 1, NULL, 0, NULL, 0, NULL},
                                      {"1", "1", 0, 0, 0, 0, NULL, 0, NULL, 0, NULL},
                                      {"1", "1", 0, 0, 0, 1, "", 0, NULL, 0, NULL},
                                      {"1", "1", 0, 0, 0, 1, NULL, 4, NULL, 0, NULL},
                                      {"1", "1", 0, 0, 0, 1, NULL, 0, "x", 0, NULL},
                                      {"1", "1", 0, 0, 0, 1, NULL, 0, NULL, 0, "(a)\\1"},
                                      {"1", "1", 0, 0, 0, 1, NULL, 0, NULL, 0, ""}};
    for (size_t i = 0; i < sizeof badq / sizeof badq[0]; i++)
        assert_null(proto_logs_query(&badq[i]));
    static const char *const refused[] = {
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"../1\"}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"stream\":\"both\"}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"tail\":-1}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"follow\":1}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"deployment\":\"a\"}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"re\":\"(x)\\\\2\"}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"re\":\"a{1,99}\"}",
        "{\"type\":\"logs.query\",\"id\":\"1\",\"app\":\"1\",\"re\":7}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_t *x = json_loads(refused[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(proto_parse_logs_query(x, &qb, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        json_decref(x);
    }
    struct proto_logs_line l = {123, 1, 1, "abc123", "4", "hello", 5}, lb;
    json_t *lines = json_array();
    json_array_append_new(lines, proto_logs_line(&l));
    m = roundtrip(proto_logs_data("5", lines), PROTO_LOGS_DATA);
    const char *id;
    json_t *items;
    assert_int_equal(proto_parse_logs_data(m, &id, &items, err, sizeof err), 0);
    assert_int_equal(proto_parse_logs_line(json_array_get(items, 0), &lb, err, sizeof err), 0);
    assert_int_equal(lb.ts, 123);
    assert_int_equal(lb.err, 1);
    assert_int_equal(lb.partial, 1);
    assert_string_equal(lb.text, "hello");
    json_decref(m);
    struct proto_logs_line badl[] = {{-1, 0, 0, "a", "", "x", 1}, {1, 0, 0, "XYZ", "", "x", 1},
                                     {1, 0, 0, "a", "q", "x", 1}, {1, 0, 0, "a", "", "\xff", 1}};
    for (size_t i = 0; i < sizeof badl / sizeof badl[0]; i++)
        assert_null(proto_logs_line(&badl[i]));
    json_t *x = json_loads("{\"ts\":1,\"stream\":\"stdin\",\"container\":\"a\",\"deployment\":\"\","
                           "\"text\":\"x\"}", 0, NULL);
    assert_int_equal(proto_parse_logs_line(x, &lb, err, sizeof err), -1);
    json_decref(x);
    int ok, trunc;
    const char *e;
    m = roundtrip(proto_logs_end("5", 0, "no such app", 1), PROTO_LOGS_END);
    assert_int_equal(proto_parse_logs_end(m, &id, &ok, &e, &trunc, err, sizeof err), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(trunc, 1);
    assert_string_equal(e, "no such app");
    json_decref(m);
    m = roundtrip(proto_logs_cancel("5"), PROTO_LOGS_CANCEL);
    assert_int_equal(proto_parse_logs_cancel(m, &id, err, sizeof err), 0);
    assert_string_equal(id, "5");
    json_decref(m);
}

/* "certs" in deploy and edge specs: built, parsed back, refused when a
 * rule breaks (nothing half-added), scrubbed. */
static void spec_certs(void **state)
{
    (void)state;
    const char *names[] = {"shop.example.com", "*.example.com"};
    const char *bad_doms[] = {"../etc/passwd"};
    struct proto_cert c = {"12", names, 2, "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n",
                           "-----BEGIN PRIVATE KEY-----\nBB\n-----END PRIVATE KEY-----\n"};
    struct proto_cert out[PROTO_CERTS_MAX];
    size_t n = 99;
    char err[160];
    json_t *spec = json_object();
    assert_int_equal(proto_parse_spec_certs(spec, out, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(proto_spec_add_certs(spec, &c, 1), 0);
    assert_int_equal(proto_parse_spec_certs(spec, out, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, "12");
    assert_int_equal(out[0].ndomains, 2);
    assert_string_equal(out[0].domains[1], "*.example.com");
    assert_string_equal(out[0].key, c.key);
    proto_spec_certs_release(out, n);
    proto_spec_certs_scrub(spec);
    assert_null(json_object_get(spec, "certs"));
    /* a name that could leave the certs directory, an id that is not one */
    struct proto_cert b = c;
    b.domains = bad_doms;
    b.ndomains = 1;
    assert_int_equal(proto_spec_add_certs(spec, &b, 1), -1);
    assert_null(json_object_get(spec, "certs"));
    b = c;
    b.id = "1x";
    assert_int_equal(proto_spec_add_certs(spec, &b, 1), -1);
    /* what a hostile frame may carry */
    const char *frames[] = {
        "{\"certs\": {}}",
        "{\"certs\": [1]}",
        "{\"certs\": [{\"id\": \"1\", \"domains\": [\"a.example.com\"], \"chain\": \"x\", "
        "\"key\": \"-----BEGIN PRIVATE KEY-----\"}]}",
        "{\"certs\": [{\"id\": \"1\", \"domains\": [\"..\"], \"chain\": "
        "\"-----BEGIN CERTIFICATE-----\", \"key\": \"-----BEGIN PRIVATE KEY-----\"}]}",
        "{\"certs\": [{\"id\": \"1\", \"domains\": [], \"chain\": "
        "\"-----BEGIN CERTIFICATE-----\", \"key\": \"-----BEGIN PRIVATE KEY-----\"}]}",
        "{\"certs\": [{\"id\": \"1\", \"domains\": [\"A.example.com\"], \"chain\": "
        "\"-----BEGIN CERTIFICATE-----\", \"key\": \"-----BEGIN PRIVATE KEY-----\"}]}",
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        json_t *f = json_loads(frames[i], 0, NULL);
        assert_non_null(f);
        err[0] = '\0';
        if (proto_parse_spec_certs(f, out, &n, err, sizeof err) == 0)
            fail_msg("accepted %s", frames[i]);
        assert_non_null(strstr(err, "certs"));
        assert_null(strstr(err, "PRIVATE"));
        proto_spec_certs_release(out, n);
        json_decref(f);
    }
    assert_int_equal(proto_cert_name_ok("a.example.com"), 1);
    assert_int_equal(proto_cert_name_ok("*.example.com"), 1);
    assert_int_equal(proto_cert_name_ok("a/b.example.com"), 0);
    assert_int_equal(proto_cert_name_ok(".example.com"), 0);
    assert_int_equal(proto_cert_name_ok("a..example.com"), 0);
    json_decref(spec);
}

/* HTTPS on the edge: domain.cert both ways, the acme spec, the tls flags */
static json_t *parse_text(const char *text)
{
    json_t *m = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(m);
    return m;
}

static void domain_cert_frames(void **state)
{
    (void)state;
    char err[160], big[2100];
    struct proto_domain_cert c = {.app_id = "42", .name = "shop.example.com", .status = PROTO_CERT_ISSUED,
                                  .expires_at = 1800000000, .issuer = "Pebble Intermediate CA"};
    struct proto_domain_cert p;
    json_t *m = proto_domain_cert(&c);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "domain.cert");
    assert_int_equal(proto_parse_domain_cert(m, &p, err, sizeof err), 0);
    assert_int_equal(p.status, PROTO_CERT_ISSUED);
    assert_int_equal(p.expires_at, 1800000000);
    assert_string_equal(p.issuer, "Pebble Intermediate CA");
    json_decref(m);
    /* a long error is clipped to 1024 bytes by the builder */
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    c.status = PROTO_CERT_FAILED;
    c.error = big;
    m = proto_domain_cert(&c);
    assert_int_equal(proto_parse_domain_cert(m, &p, err, sizeof err), 0);
    assert_int_equal(strlen(p.error), PROTO_CERT_ERROR_MAX);
    json_decref(m);
    /* the builder refuses what breaks the rules */
    c.app_id = "4x";
    assert_null(proto_domain_cert(&c));
    c.app_id = "42";
    c.name = "Shop.example.com";
    assert_null(proto_domain_cert(&c));
    /* hostile frames */
    static const char *const bad[] = {
        "{\"type\":\"domain.cert\",\"app_id\":42,\"name\":\"a.b\",\"status\":\"pending\"}",
        "{\"type\":\"domain.cert\",\"app_id\":\"42\",\"name\":\"a.b\",\"status\":\"revoked\"}",
        "{\"type\":\"domain.cert\",\"app_id\":\"42\",\"name\":\"a b\",\"status\":\"pending\"}",
        "{\"type\":\"domain.cert\",\"app_id\":\"42\",\"name\":\"a.b\",\"status\":\"issued\"}",
        "{\"type\":\"domain.cert\",\"app_id\":\"42\",\"name\":\"a.b\",\"status\":\"issued\",\"expires_at\":-1,"
        "\"issuer\":\"x\"}",
        "{\"type\":\"domain.cert\",\"app_id\":\"42\",\"name\":\"a.b\",\"status\":\"failed\"}",
        "{\"type\":\"domain.cert\",\"app_id\":\"42\",\"name\":\"a.b\",\"status\":\"pending\",\"renewal\":1}",
        "{\"type\":\"domain.cert\",\"app_id\":\"\",\"name\":\"a.b\",\"status\":\"pending\"}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        m = parse_text(bad[k]);
        err[0] = '\0';
        assert_int_equal(proto_parse_domain_cert(m, &p, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        json_decref(m);
    }
}

static void acme_spec_and_flags(void **state)
{
    (void)state;
    char err[160];
    struct proto_acme_spec a;
    int r, h;
    json_t *spec = json_object();
    assert_int_equal(proto_parse_acme_spec(spec, &a, err, sizeof err), 0);
    assert_null(a.directory);
    assert_int_equal(proto_parse_tls_flags(spec, &r, &h, err, sizeof err), 0);
    assert_int_equal(r, 1);
    assert_int_equal(h, 0);
    assert_int_equal(proto_acme_spec_add(spec, "https://acme.example/dir", "ops@example.com", NULL), 0);
    assert_int_equal(proto_parse_acme_spec(spec, &a, err, sizeof err), 0);
    assert_string_equal(a.directory, "https://acme.example/dir");
    assert_string_equal(a.email, "ops@example.com");
    assert_null(a.ca_pem);
    /* the builder refuses plain http, spaces, a non-PEM CA, an option-like email */
    assert_int_equal(proto_acme_spec_add(spec, "http://acme.example/dir", "", NULL), -1);
    assert_int_equal(proto_acme_spec_add(spec, "https://a b", "", NULL), -1);
    assert_int_equal(proto_acme_spec_add(spec, "https://a", "", "not pem"), -1);
    assert_int_equal(proto_acme_spec_add(spec, "https://a", "--server=x@y", NULL), -1);
    json_decref(spec);
    static const char *const bad[] = {
        "{\"acme\":\"https://a\"}",
        "{\"acme\":{\"directory\":5}}",
        "{\"acme\":{\"directory\":\"https://a\",\"email\":[]}}",
        "{\"acme\":{\"directory\":\"https://a\",\"ca_pem\":\"x\"}}",
        "{\"acme\":{\"directory\":\"https://a\\u0000b\"}}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_t *m = parse_text(bad[k]);
        assert_int_equal(proto_parse_acme_spec(m, &a, err, sizeof err), -1);
        json_decref(m);
    }
    json_t *m = parse_text("{\"https_redirect\":\"no\"}");
    assert_int_equal(proto_parse_tls_flags(m, &r, &h, err, sizeof err), -1);
    json_decref(m);
    m = parse_text("{\"https_redirect\":false,\"hsts\":true}");
    assert_int_equal(proto_parse_tls_flags(m, &r, &h, err, sizeof err), 0);
    assert_int_equal(r, 0);
    assert_int_equal(h, 1);
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_names),
        cmocka_unit_test(ws_url),
        cmocka_unit_test(precheck_checks),
        cmocka_unit_test(deploy_spec_roundtrip),
        cmocka_unit_test(deploy_spec_rules),
        cmocka_unit_test(deploy_step_reports),
        cmocka_unit_test(parse_frames),
        cmocka_unit_test(job_ids),
        cmocka_unit_test(hello_and_welcome),
        cmocka_unit_test(register_registered),
        cmocka_unit_test(heartbeat),
        cmocka_unit_test(heartbeat_counts_out_of_range),
        cmocka_unit_test(fingerprint_precheck),
        cmocka_unit_test(jobs_and_acks),
        cmocka_unit_test(log_and_done),
        cmocka_unit_test(utf8_sanitize),
        cmocka_unit_test(utf8_stream_joins_cut_characters),
        cmocka_unit_test(docker_calls),
        cmocka_unit_test(app_logs_frames),
        cmocka_unit_test(container_tail_lines),
        cmocka_unit_test(spec_certs),
        cmocka_unit_test(domain_cert_frames),
        cmocka_unit_test(acme_spec_and_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
