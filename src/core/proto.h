/* proto.h - runner protocol v1 messages (docs/protocol.md), shared by
 * berthd's hub and berth-runner.
 *
 * Pure functions over jansson: no I/O, no globals. Builders return a new
 * reference (json_t *, caller json_decref()s) or NULL when out of memory or
 * when an argument breaks the contract (bad job id, oversized chunk).
 * Parsers take a message object, fill a struct whose string pointers borrow
 * from that object (valid while the caller holds it), and return 0, or -1
 * with a one-line reason naming the field written into err.
 */
#ifndef BERTH_PROTO_H
#define BERTH_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_SUBPROTOCOL "berth-runner.v1"
#define PROTO_PATH "/runner/v1"
#define PROTO_FRAME_MAX (1024 * 1024)   /* larger frames are refused */
#define PROTO_CHUNK_MAX (16 * 1024)     /* job.log data, bytes */
#define PROTO_JOB_ID_MAX 64             /* job id length, without NUL */
#define PROTO_SEQ_MAX (INT64_C(1) << 40) /* job.log seq, last_seq, acked_seq */
#define PROTO_TS_MAX INT64_C(253402300799999) /* job.log ts: 9999-12-31, unix ms */
#define PROTO_HEARTBEAT_S 5
#define PROTO_CLOSE_MALFORMED 1003      /* WebSocket close status */

enum proto_type {
    PROTO_UNKNOWN = 0,
    /* runner -> berthd */
    PROTO_HELLO,
    PROTO_REGISTERED,
    PROTO_HEARTBEAT,
    PROTO_FINGERPRINT,
    PROTO_PRECHECK,
    PROTO_JOB_ACCEPTED,
    PROTO_JOB_LOG,
    PROTO_JOB_DONE,
    /* berthd -> runner */
    PROTO_REGISTER,
    PROTO_WELCOME,
    PROTO_JOB,
    PROTO_ACK,
    PROTO_ACK_DONE,
    PROTO_JOB_CANCEL,
};

/* "hello", "job.log", ...; NULL for PROTO_UNKNOWN. */
const char *proto_type_name(enum proto_type t);
/* PROTO_UNKNOWN for names this version does not know. */
enum proto_type proto_type_of(const char *name);

/* Parses one frame: must be a JSON object with a string "type", at most
 * PROTO_FRAME_MAX bytes. *out gets the object (caller decrefs), *type its
 * type (PROTO_UNKNOWN is not an error: callers ignore such frames). */
int proto_parse(const char *data, size_t len, json_t **out,
                enum proto_type *type, char *err, size_t errlen);

/* Job ids are strings of 1..64 chars from [A-Za-z0-9_.-], not starting
 * with '.', so they are safe as file names. 1 if valid. */
int proto_job_id_valid(const char *id);

/* The runner link's WebSocket URL from what a person gives --url:
 *   ws://HOST[:PORT][/PATH], wss://...   kept; an empty path is PROTO_PATH
 *   http://HOST[:PORT][/PREFIX]          ws://HOST[:PORT]/PREFIX/runner/v1
 *   https://...                          wss://..., the same way
 * (http(s) is berthd's base URL, as `make up` and install.sh print it; a
 * PREFIX already ending in /runner/v1 is not doubled). The scheme is
 * case-insensitive; HOST must be there; no spaces or control characters.
 * 0, or -1 with the reason in err. */
int proto_ws_url(const char *url, char *out, size_t n, char *err, size_t errlen);

/* Serialises a message compactly (malloc'ed, NUL-terminated). */
char *proto_dump(const json_t *msg, size_t *len);

/* --- shared pieces --- */

/* One job in hello (seq = last_seq, flag = done) or welcome
 * (seq = acked_seq, flag = done_acked). */
struct proto_job_state {
    const char *job;
    int64_t seq;
    int flag;
};

struct proto_net {
    int64_t rx_v4, tx_v4, rx_v6, tx_v6;   /* bytes since boot; -1 unknown */
};

struct proto_metrics {
    double cpu_pct;                       /* -1 unknown */
    int64_t mem_total, mem_used;          /* bytes */
    int64_t disk_total, disk_used;        /* bytes */
    double load1, load5, load15;
    struct proto_net net;
};

struct proto_port {
    const char *proto;                    /* "tcp", "tcp6", "udp", "udp6" */
    const char *addr;                     /* "0.0.0.0", "::1", ... */
    int port;
};

struct proto_fingerprint {
    const char *os, *kernel, *docker, *git, *curl;   /* NULL -> null */
    const struct proto_port *ports;
    size_t nports;
    const char *firewall;                            /* NULL -> "unavailable" */
};

struct proto_check {
    const char *name;
    int ok;
    const char *detail;
};

/* --- builders, runner -> berthd --- */

json_t *proto_hello(const char *version, const char *hostname,
                    const struct proto_job_state *jobs, size_t njobs);
json_t *proto_registered(const char *server_id);
json_t *proto_heartbeat(const struct proto_metrics *m);
json_t *proto_fingerprint(const struct proto_fingerprint *f);
/* ok is computed: every check passed. */
json_t *proto_precheck(const struct proto_check *checks, size_t n);
json_t *proto_job_accepted(const char *job);
/* data must be valid UTF-8 (see proto_utf8_sanitize), len <= PROTO_CHUNK_MAX;
 * stream is "stdout", "stderr" or "system". */
json_t *proto_job_log(const char *job, int64_t seq, const char *stream,
                      int64_t ts_ms, const char *data, size_t len);
/* status "SUCCEEDED" or "FAILED"; error may be NULL. */
json_t *proto_job_done(const char *job, int64_t last_seq, const char *status,
                       int exit_code, const char *error);

/* --- builders, berthd -> runner --- */

json_t *proto_register(const char *server_id, const char *credential);
json_t *proto_welcome(const char *server_id, int heartbeat_s,
                      const struct proto_job_state *jobs, size_t njobs);
/* spec is borrowed (the message takes its own reference). */
json_t *proto_job(const char *job, const char *kind, json_t *spec);
/* spec for kind "script". */
json_t *proto_script_spec(const char *name, const char *body, int timeout_s);
json_t *proto_ack(const char *job, int64_t seq);
json_t *proto_ack_done(const char *job);
json_t *proto_job_cancel(const char *job);

/* --- parsers --- */

struct proto_hello_msg {
    int64_t proto;
    const char *version, *hostname;
    json_t *jobs;                 /* array; items via proto_parse_job_state */
};
struct proto_welcome_msg {
    const char *server_id;
    int heartbeat_s;
    json_t *jobs;                 /* array (may be empty) */
};
struct proto_register_msg {
    const char *server_id, *credential;
};
struct proto_job_msg {
    const char *job, *kind;
    json_t *spec;                 /* object */
};
struct proto_script_spec {
    const char *name, *body;
    int timeout_s;                /* 0 = no limit */
};
struct proto_log_msg {
    const char *job, *stream, *data;
    size_t len;
    int64_t seq, ts_ms;
};
struct proto_done_msg {
    const char *job, *status, *error;   /* error may be NULL */
    int64_t last_seq;
    int exit_code;
};

int proto_parse_hello(json_t *msg, struct proto_hello_msg *out, char *err, size_t errlen);
/* welcome_form: 1 reads acked_seq/done_acked, 0 reads last_seq/done. */
int proto_parse_job_state(json_t *item, int welcome_form, struct proto_job_state *out,
                          char *err, size_t errlen);
int proto_parse_registered(json_t *msg, const char **server_id, char *err, size_t errlen);
int proto_parse_heartbeat(json_t *msg, struct proto_metrics *out, char *err, size_t errlen);
/* precheck: *ok from the message; the checks array stays in msg. */
int proto_parse_precheck(json_t *msg, int *ok, char *err, size_t errlen);
int proto_parse_log(json_t *msg, struct proto_log_msg *out, char *err, size_t errlen);
int proto_parse_done(json_t *msg, struct proto_done_msg *out, char *err, size_t errlen);
int proto_parse_register(json_t *msg, struct proto_register_msg *out, char *err, size_t errlen);
int proto_parse_welcome(json_t *msg, struct proto_welcome_msg *out, char *err, size_t errlen);
int proto_parse_job(json_t *msg, struct proto_job_msg *out, char *err, size_t errlen);
int proto_parse_script_spec(json_t *spec, struct proto_script_spec *out, char *err, size_t errlen);
/* ack: job + seq. */
int proto_parse_ack(json_t *msg, const char **job, int64_t *seq, char *err, size_t errlen);
/* job.accepted, ack.done, job.cancel: just the job id. */
int proto_parse_job_ref(json_t *msg, const char **job, char *err, size_t errlen);

/* A counter (bytes) read as a JSON number: -1 (unknown) for a negative
 * value or NaN, INT64_MAX for anything at or past 2^63 (no undefined
 * double -> int64 cast), else the value truncated. */
int64_t proto_count(double v);

/* --- UTF-8 --- */

/* Copies in[0..len) to out (room for at least len bytes), replacing every
 * byte that is not part of a valid UTF-8 sequence (and NUL) by '?', so the
 * output is never longer than the input. Unless final, an incomplete
 * sequence at the very end is left unconsumed. Returns the number of input
 * bytes consumed; *outlen gets the bytes written. out may equal in. */
size_t proto_utf8_sanitize(const char *in, size_t len, int final, char *out, size_t *outlen);

/* A byte stream read in pieces cut anywhere (a child's pipe): the
 * incomplete UTF-8 sequence at the end of one read, kept for the next. */
struct proto_utf8_carry {
    size_t len;
    char b[4];
};
typedef void (*proto_piece_cb)(void *arg, const char *piece, size_t n);
/* Sanitises data[0..len) after c's kept bytes into pieces of whole
 * characters of at most max bytes (max <= PROTO_CHUNK_MAX) and calls fn
 * with each non-empty one; a sequence cut at the end stays in c. final:
 * the stream ended, what c keeps goes out too (sanitised). */
void proto_utf8_stream(struct proto_utf8_carry *c, const char *data, size_t len, int final,
                       size_t max, proto_piece_cb fn, void *arg);

#endif
