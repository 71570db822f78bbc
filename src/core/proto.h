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
    /* channels, either way (chan.h) */
    PROTO_CHAN_OPEN,
    PROTO_CHAN_OPENED,
    PROTO_CHAN_CREDIT,
    PROTO_CHAN_RESIZE,
    PROTO_CHAN_CLOSE,
    /* container management: a call and its result (docs/protocol.md) */
    PROTO_DOCKER_CALL,
    PROTO_DOCKER_RESULT,
    /* application logs: a query and its answer (docs/protocol.md "App logs") */
    PROTO_LOGS_QUERY,
    PROTO_LOGS_CANCEL,
    PROTO_LOGS_DATA,
    PROTO_LOGS_END,
    /* HTTPS on the edge: a domain's certificate status (runner -> berthd) */
    PROTO_DOMAIN_CERT,
    PROTO_NTYPES, /* not a type: how many there are */
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
    int64_t logs_bytes;                   /* the app log store on disk; -1 unknown/off */
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

/* --- container management: docker.call -> docker.result --- */

#define PROTO_CALL_ID_MAX 24            /* decimal */
#define PROTO_CALL_ERROR_MAX 1024
#define PROTO_CONTAINER_REF_MAX 128     /* a container's name or id */
#define PROTO_PRUNE_ITEMS_MAX 1000      /* items in one prune call */
#define PROTO_PRUNE_TAGS_MAX 16         /* tags of one image item */
#define PROTO_IMAGE_REF_MAX 255         /* an image tag "name:tag" */

enum proto_docker_op {
    PROTO_OP_LIST = 1,   /* every container on the host, summarised */
    PROTO_OP_INSPECT,    /* one container, env values of berth's redacted */
    PROTO_OP_START,
    PROTO_OP_STOP,
    PROTO_OP_RESTART,
    PROTO_OP_REMOVE,     /* forced: a running one is killed first */
    PROTO_OP_PRUNE_SCAN, /* what prune may take: /system/df, summarised */
    PROTO_OP_PRUNE,      /* remove items (each re-checked first) */
    PROTO_OP_NONE,
};
const char *proto_docker_op_name(enum proto_docker_op op);

struct proto_docker_call {
    const char *id;                     /* decimal, berthd's */
    enum proto_docker_op op;
    const char *target;                 /* a container (all ops but list and the prunes) */
    json_t *items;                      /* prune: the items (borrowed), checked with
                                           proto_prune_item */
};
/* {"type":"docker.call","id","op","target"?,"items"?}. NULL on a bad field. */
json_t *proto_docker_call(const struct proto_docker_call *c);
int proto_parse_docker_call(json_t *msg, struct proto_docker_call *out, char *err,
                            size_t errlen);

struct proto_docker_result {
    const char *id;
    int ok;
    const char *error;                  /* !ok: why (Docker's message, at most 1 KiB) */
    int status;                         /* Docker's HTTP status, 0: none */
    json_t *result;                     /* ok: an object or array (borrowed), or NULL */
};
/* {"type":"docker.result","id","ok","status","error"?,"result"?}; result is
 * borrowed (not consumed). NULL on a bad field. */
json_t *proto_docker_result(const struct proto_docker_result *r);
int proto_parse_docker_result(json_t *msg, struct proto_docker_result *out, char *err,
                              size_t errlen);

/* --- application logs: logs.query -> logs.data*, logs.end (docs/protocol.md) --- */

#define PROTO_LOGS_TAIL_MAX 100000
#define PROTO_LOGS_LIMIT_MAX 1000000
#define PROTO_LOGS_Q_MAX 256
#define PROTO_LOGS_TEXT_MAX 65536       /* a stored line (longer ones are split) */
#define PROTO_LOGS_CID_MAX 64
#define PROTO_LOGS_FRAME_TEXT (256u * 1024) /* text one logs.data carries, about */

struct proto_logs_query {
    const char *id;                     /* decimal, berthd's */
    const char *app;                    /* the app's id (label berth.app) */
    int64_t since, until;               /* unix ns; 0: open */
    int64_t tail;                       /* the last N matches, 0: all (0..100000) */
    int64_t limit;                      /* at most this many lines (1..1000000) */
    const char *q;                      /* NULL, or a substring of 1..256 bytes */
    int streams;                        /* bit 0 stdout, bit 1 stderr; 0: both */
    const char *deployment;             /* NULL, or a decimal id */
    int follow;                         /* then keep sending new lines */
    const char *re;                     /* NULL, or a regular expression (logre.h's rules) */
};
json_t *proto_logs_query(const struct proto_logs_query *q);
int proto_parse_logs_query(json_t *msg, struct proto_logs_query *out, char *err, size_t errlen);

/* One line of logs.data's "lines". Strings borrowed. */
struct proto_logs_line {
    int64_t ts;                         /* unix ns, >= 0 */
    int err;                            /* stream: 0 stdout, 1 stderr */
    int partial;                        /* a piece of a longer line */
    const char *container;              /* hex, 1..64 */
    const char *deployment;             /* "" or a decimal id */
    const char *text;                   /* UTF-8, at most PROTO_LOGS_TEXT_MAX bytes */
    size_t tlen;
};
/* The item; NULL on a bad field (text is sanitised to UTF-8 by the caller). */
json_t *proto_logs_line(const struct proto_logs_line *l);
int proto_parse_logs_line(json_t *item, struct proto_logs_line *out, char *err, size_t errlen);
/* {"type":"logs.data","id","lines":[...]}; lines is stolen (also on NULL). */
json_t *proto_logs_data(const char *id, json_t *lines);
/* lines borrowed from msg: items through proto_parse_logs_line. */
int proto_parse_logs_data(json_t *msg, const char **id, json_t **lines, char *err, size_t errlen);
/* {"type":"logs.end","id","ok","error"?,"truncated"}: the query's last frame
 * (a follow ends only on logs.cancel, an error or the link). */
json_t *proto_logs_end(const char *id, int ok, const char *error, int truncated);
int proto_parse_logs_end(json_t *msg, const char **id, int *ok, const char **error,
                         int *truncated, char *err, size_t errlen);
json_t *proto_logs_cancel(const char *id);
int proto_parse_logs_cancel(json_t *msg, const char **id, char *err, size_t errlen);
/* One item of a prune call: {"kind":"container"|"image","id":"<64 hex>"
 * (an image's with "sha256:"),"tags":[...]} (tags: an image's, at most
 * PROTO_PRUNE_TAGS_MAX, each [A-Za-z0-9][A-Za-z0-9_.:/-]*). kind, id
 * borrowed; *is_image set. 0 or -1. */
int proto_prune_item(json_t *item, int *is_image, const char **id, json_t **tags, char *err,
                     size_t errlen);

/* precheck's checks, one item: name and detail (may be NULL) borrowed. */
int proto_parse_check(json_t *item, struct proto_check *out, char *err, size_t errlen);

/* --- the deploy job (kind "deploy"; docs/protocol.md "Deploy jobs") --- */

#define PROTO_DEPLOY_DOMAINS_MAX 50     /* berthd's own limit per app */
#define PROTO_DEPLOY_ENV_MAX 1000
#define PROTO_DEPLOY_ID_MAX 24          /* decimal ids: deployment, app */
#define PROTO_DEPLOY_NAME_MAX 120       /* container names */
#define PROTO_DEPLOY_REF_MAX 255        /* image references, paths, branch */
#define PROTO_DEPLOY_URL_MAX 1023

struct proto_env_var {
    const char *name, *value;           /* value is a secret: memory only */
};

struct proto_git_auth {
    const char *auth;                   /* NULL: none; "token" or "ssh_key" */
    const char *token, *username;       /* auth "token" (username NULL: x-access-token) */
    const char *ssh_key;                /* auth "ssh_key" */
};

/* Every field typed and bounded. Strings borrow from the spec object the
 * parser read (or from the caller, for the builder); NULL where absent.
 * The parser fills defaults (shown) for what berthd may leave out. */
struct proto_deploy_spec {
    const char *deployment;             /* decimal id, 1..24 digits */
    const char *kind;                   /* "deploy" (default) or "rollback" */
    const char *app_id;                 /* decimal id */
    const char *app_name;               /* <= 128 bytes; "" */
    const char *repo_url;               /* required unless rollback_image; no spaces,
                                           no leading '-' */
    const char *branch;                 /* "main"; a git branch name, no "..", no
                                           leading '-', none of " ~^:?*[\" */
    const char *commit;                 /* NULL: the branch's head; else 4..64 lower hex */
    const char *dockerfile, *context;   /* "Dockerfile", "."; relative, no "..",
                                           no leading '/' or '-' */
    const char *image;                  /* required: [A-Za-z0-9_.:/@-], starts alnum */
    const char *rollback_image;         /* NULL, or run this image (no clone, no build) */
    const char *container_name;         /* required: [A-Za-z0-9_.-], starts alnum, <= 120 */
    int container_port;                 /* required: 1..65535 */
    const char *restart_policy;         /* NULL: unless-stopped */
    int64_t memory;                     /* bytes, 0: no limit */
    double cpus;                        /* 0: no limit; else (0, 1024] */
    const char *health_path;            /* "/": starts with '/', no spaces */
    int health_tries;                   /* 10: 1..100 */
    int health_backoff_ms;              /* 500: 1..600000 */
    int health_timeout_s;               /* health.timeout_s, else timeouts.health_s, else 120 */
    int public_port;                    /* 0: none; else 1..65535 */
    const char **domains;               /* ndomains <= 50 host names */
    size_t ndomains;
    int keep_images;                    /* 5: 1..1000 */
    int drain_seconds;                  /* 30: 0..3600 */
    int clone_s, build_s, health_s;     /* timeouts: 300, 1800, 120; 0..604800 */
    const char *prev_deployment;        /* NULL: no previous deployment */
    const char *prev_image, *prev_container, *prev_commit;
    /* frame only, never stored (berthd adds them at every delivery) */
    const struct proto_env_var *env;    /* nenv <= 1000; names without '=' */
    size_t nenv;
    struct proto_git_auth git;
};

/* The spec (no "type": it goes in proto_job's spec), env and git included
 * when given. NULL when out of memory or when s breaks a rule above (what
 * the builder makes, the parser takes). */
json_t *proto_deploy_spec(const struct proto_deploy_spec *s);
/* Adds the frame-only secrets to a spec berthd stored without them: "env"
 * {name: value} when env is not NULL (nenv may be 0: {}), "git" when git
 * and git->auth are set. 0 or -1. */
int proto_deploy_spec_add_secrets(json_t *spec, const struct proto_env_var *env, size_t nenv,
                                  const struct proto_git_auth *git);
/* Parses and checks a deploy job's spec. On 0, out's strings borrow from
 * spec and out->domains / out->env are malloc'ed arrays: release them
 * with proto_deploy_spec_release (also after -1; harmless on a zeroed
 * struct). Errors name the field; a bad git object reads "clone: ..." (the
 * step that would have used it). */
int proto_parse_deploy_spec(json_t *spec, struct proto_deploy_spec *out, char *err, size_t errlen);
void proto_deploy_spec_release(struct proto_deploy_spec *s);

/* --- custom certificates in "deploy" and "edge" specs (frame only) ---
 * "certs": [{"id": "12", "domains": [names], "chain": PEM, "key": PEM}],
 * added by berthd at every delivery for the app's domains an uploaded
 * certificate covers (docs/protocol.md "Certificates"); never stored in
 * the job's spec, wiped from the frame by the runner once written. */
#define PROTO_CERTS_MAX 50              /* one per domain at most */
#define PROTO_CERT_CHAIN_MAX (64 * 1024)
#define PROTO_CERT_KEY_MAX (16 * 1024)
#define PROTO_CERTS_BYTES_MAX (256 * 1024) /* chains + keys in one frame: room left for
                                              the rest of it under PROTO_FRAME_MAX */

struct proto_cert {
    const char *id;                     /* decimal, 1..20 digits */
    const char **domains;               /* 1..50 host names ("*." + name allowed) */
    size_t ndomains;
    const char *chain, *key;            /* PEM; key is a secret: memory only */
};

/* Sets spec's "certs" to c[0..n) (n 0: an empty array). 0, or -1 when out
 * of memory or an entry breaks a rule above (spec then has no "certs"). */
int proto_spec_add_certs(json_t *spec, const struct proto_cert *c, size_t n);
/* Reads spec's "certs" (absent or null: *n 0) into out[PROTO_CERTS_MAX];
 * strings borrow from spec, each out[i].domains is malloc'ed: release
 * with proto_spec_certs_release (also after -1). Errors name the field
 * and never quote a key. */
int proto_parse_spec_certs(json_t *spec, struct proto_cert *out, size_t *n, char *err,
                           size_t errlen);
void proto_spec_certs_release(struct proto_cert *c, size_t n);
/* 1 when s is a lower-case host name (or "*." and one) of at most 253
 * characters: no '/', no leading '.', no "..". */
int proto_cert_name_ok(const char *s);
/* Wipes every "key" string inside spec's "certs" and removes "certs". */
void proto_spec_certs_scrub(json_t *spec);

/* A deploy step report: one job.log line on stream "system". */
#define PROTO_STEP_DETAIL_MAX 2048      /* berthd keeps this much */
struct proto_deploy_step {
    const char *step;                   /* precheck, clone, build, start, health, swap,
                                           cleanup, rollback */
    const char *status;                 /* started, ok, failed */
    const char *detail;                 /* NULL or one line */
    const char *commit;                 /* NULL or 4..64 lower hex (clone ok) */
    const char *image;                  /* NULL or <= 255 bytes */
    const char *image_id;               /* NULL or "sha256:" + 64 lower hex */
    int serving;                        /* cleanup started: the new container serves */
};
/* 0..7 for a step name, -1 for anything else. */
int proto_deploy_step_index(const char *step);
/* The report as one line, '\n'-terminated, malloc'ed (*len without NUL).
 * detail is cut to PROTO_STEP_DETAIL_MAX on a character boundary and
 * UTF-8-sanitised; NULL for a bad step/status or out of memory. */
char *proto_deploy_step_line(const struct proto_deploy_step *s, size_t *len);
/* Parses one report line (a JSON object). -1 unless step and status are
 * valid; the optional fields that break their rule are NULL (ignored, as
 * docs/protocol.md says), never an error. Strings borrow from *hold
 * (caller decrefs, also after -1). */
int proto_parse_deploy_step(const char *line, size_t len, json_t **hold,
                            struct proto_deploy_step *out, char *err, size_t errlen);

/* A failed deployment's container output (docs/deploy.md, "Container
 * output"): the last lines the new container printed, read from Docker
 * before the rollback removes it, one job.log line each on stream
 * "system": {"container_line": TEXT, "stream": "stdout"|"stderr",
 * "ts": unix ns, "cut"?: true}. berthd keeps them in the deployment
 * record, at most PROTO_TAIL_LINES lines of at most PROTO_TAIL_LINE_MAX
 * bytes, PROTO_TAIL_BYTES in all (the newest kept). */
#define PROTO_TAIL_LINES 200
#define PROTO_TAIL_LINE_MAX 1024
#define PROTO_TAIL_BYTES (64 * 1024)
struct proto_tail_line {
    int64_t ts;                         /* unix ns, >= 0 */
    int err;                            /* stderr */
    const char *text;                   /* not NUL-terminated: len bytes */
    size_t len;
    int cut;                            /* the container's line was longer */
};
/* The line, '\n'-terminated, malloc'ed (*len without NUL); text cut to
 * PROTO_TAIL_LINE_MAX on a character boundary (cut set), sanitised. NULL
 * only when out of memory. */
char *proto_tail_line(const struct proto_tail_line *l, size_t *len);
/* 0 when line is a container line within its rules (text borrowed from
 * *hold, which the caller decrefs, also after -1); -1 for anything else
 * (a step report, a note, a broken line). */
int proto_parse_tail_line(const char *line, size_t len, json_t **hold, struct proto_tail_line *out);

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

/* --- HTTPS on the edge (docs/protocol.md "Certificates") ---
 * The edge and deploy job specs carry "acme" {directory, email, ca_pem?}
 * (berthd's installation settings) and the app's "https_redirect" and
 * "hsts" booleans; the runner answers with "domain.cert" frames. */
#define PROTO_ACME_URL_MAX 512
#define PROTO_ACME_EMAIL_MAX 254
#define PROTO_ACME_CA_MAX (64 * 1024)
#define PROTO_CERT_ERROR_MAX 1024
#define PROTO_CERT_ISSUER_MAX 128

struct proto_acme_spec {
    const char *directory;   /* https:// URL; NULL: the spec has no "acme" */
    const char *email;       /* "" or an address */
    const char *ca_pem;      /* NULL or PEM certificates for the directory's TLS */
};
/* Adds "acme" to a job spec. -1 if an argument breaks the rules above. */
int proto_acme_spec_add(json_t *spec, const char *directory, const char *email, const char *ca_pem);
/* "acme" absent: 0 with out->directory NULL. */
int proto_parse_acme_spec(json_t *spec, struct proto_acme_spec *out, char *err, size_t errlen);
/* "https_redirect" (default 1) and "hsts" (default 0): booleans if present. */
int proto_parse_tls_flags(json_t *spec, int *https_redirect, int *hsts, char *err, size_t errlen);

enum proto_cert_status { PROTO_CERT_PENDING = 1, PROTO_CERT_ISSUED, PROTO_CERT_FAILED };
const char *proto_cert_status_name(enum proto_cert_status s);

struct proto_domain_cert {
    const char *app_id;      /* digits */
    const char *name;        /* the host name, lower case */
    enum proto_cert_status status;
    int renewal;             /* 1: a renewal (pending/issued/failed) */
    int64_t expires_at;      /* issued: unix seconds */
    const char *issuer;      /* issued: the issuer's CN, <= PROTO_CERT_ISSUER_MAX */
    const char *error;       /* failed: <= PROTO_CERT_ERROR_MAX bytes */
};
/* {"type":"domain.cert", ...}: NULL if a field breaks the rules (the error
 * is clipped to PROTO_CERT_ERROR_MAX on a character boundary). */
json_t *proto_domain_cert(const struct proto_domain_cert *c);
int proto_parse_domain_cert(json_t *msg, struct proto_domain_cert *out, char *err, size_t errlen);

#endif
