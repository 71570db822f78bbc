/* cli.h - what the berth CLI's modules share: the invocation context, the
 * error contract (exit codes + code/message), and each module's entry
 * points.
 *
 * Ownership: main() owns the one `struct cli`; cli_release() frees what
 * it holds (config strings, the pending error). Commands borrow it. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <jansson.h>

#include "buf.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_VERSION "0.1.0"
#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

/* Exit codes: the contract scripts rely on (docs/cli.md). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_OTHER = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_AUTH = 3,     /* 401 / 403, or not logged in */
    CLI_EXIT_NOTFOUND = 4, /* 404 */
    CLI_EXIT_CONFLICT = 5, /* 409 */
};

/* ---- args.c: the option table and the parsed command line ---- */

enum cli_opt {
    OPT_HELP, OPT_JSON, OPT_URL, OPT_CACERT, OPT_VERBOSE, OPT_YES, OPT_DRY_RUN, OPT_ORG,
    OPT_EMAIL, OPT_ROLE, OPT_NAME, OPT_SCOPE, OPT_EXPIRES_IN, OPT_ACTOR, OPT_ACTION,
    OPT_SINCE, OPT_UNTIL, OPT_LIMIT, OPT_CURSOR, OPT_ALL, OPT_FILE, OPT_SERVER, OPT_FOLLOW,
    OPT_TIMEOUT,
    /* applications and deployments (cmd_app.c, cmd_deploy.c) */
    OPT_REPO, OPT_BRANCH, OPT_DOCKERFILE, OPT_CONTEXT, OPT_PORT, OPT_HEALTH_PATH,
    OPT_PUBLIC_PORT, OPT_DOMAIN, OPT_AUTO_DEPLOY, OPT_NO_AUTO_DEPLOY, OPT_MEMORY, OPT_CPUS,
    OPT_KEEP_IMAGES, OPT_DRAIN_SECONDS, OPT_REF, OPT_HTTPS_REDIRECT, OPT_NO_HTTPS_REDIRECT, OPT_HSTS,
    OPT_NO_HSTS,
    /* terminal and exec (cmd_terminal.c, cmd_exec.c) */
    OPT_CONTAINER, OPT_APP,
    /* app logs (cmd_app.c) */
    OPT_TAIL, OPT_GREP, OPT_REGEX, OPT_DEPLOYMENT,
    /* schedules (cmd_schedule.c) */
    OPT_SCRIPT, OPT_CRON, OPT_EVERY, OPT_TZ, OPT_CATCH_UP,
    /* certificates (cmd_cert.c) */
    OPT_CERT, OPT_KEY, OPT_FORCE,
    OPT_COUNT
};

/* Option masks are 64-bit: there are more than 32 options. */
typedef unsigned long long cli_optmask;
#define OPTB(o) ((cli_optmask)1 << (o))
/* Every command takes these. */
#define OPTS_COMMON (OPTB(OPT_HELP) | OPTB(OPT_JSON) | OPTB(OPT_URL) | OPTB(OPT_CACERT) | \
                     OPTB(OPT_VERBOSE))
/* Every command that changes something takes these too. */
#define OPTS_MUTATE (OPTB(OPT_YES) | OPTB(OPT_DRY_RUN))
/* An application's settings (app create, app set). */
#define OPTS_APP_FIELDS                                                                        \
    (OPTB(OPT_SERVER) | OPTB(OPT_REPO) | OPTB(OPT_BRANCH) | OPTB(OPT_DOCKERFILE) |             \
     OPTB(OPT_CONTEXT) | OPTB(OPT_PORT) | OPTB(OPT_HEALTH_PATH) | OPTB(OPT_PUBLIC_PORT) |      \
     OPTB(OPT_DOMAIN) | OPTB(OPT_AUTO_DEPLOY) | OPTB(OPT_NO_AUTO_DEPLOY) | OPTB(OPT_MEMORY) |  \
     OPTB(OPT_CPUS) | OPTB(OPT_KEEP_IMAGES) | OPTB(OPT_DRAIN_SECONDS) |                         \
     OPTB(OPT_HTTPS_REDIRECT) | OPTB(OPT_NO_HTTPS_REDIRECT) | OPTB(OPT_HSTS) | OPTB(OPT_NO_HSTS))

/* exec takes a command line: SERVER plus up to 64 words (berthd's limit). */
#define CLI_POS_MAX 72
#define CLI_MULTI_MAX 32

struct cli_args {
    const char *val[OPT_COUNT]; /* last value of each option given */
    int set[OPT_COUNT];         /* how many times each was given */
    const char *scopes[CLI_MULTI_MAX];
    int nscopes;
    const char *domains[CLI_MULTI_MAX]; /* every --domain, in order */
    int ndomains;
    const char *pos[CLI_POS_MAX];
    int npos;
};

struct cli;
/* Splits argv into options and positionals. 0, or -1 with c->err set. */
int args_parse(struct cli *c, int argc, char **argv);
/* -1 (usage error) when an option was given that mask does not allow. */
int args_check(struct cli *c, cli_optmask mask, const char *cmdname);
const char *args_opt_name(enum cli_opt o);
/* Help lines for every option in mask (without the common ones). */
void args_help(FILE *f, cli_optmask mask);
/* A time argument for berthd: "30m", "12h", "7d", "45s" become that long
 * before now as epoch seconds (in out); anything else is returned as it is
 * for berthd to parse (RFC 3339, epoch seconds). */
const char *args_time(const char *v, char *out, size_t n);

/* ---- the invocation ---- */

struct cli_err {
    int exit;          /* enum cli_exit */
    char code[64];     /* machine code: "usage", "unreachable", or the API's */
    char message[512]; /* for a person; never holds a secret */
};

struct cli_config {
    char *url;
    char *token;
    char *org;
    char path[4096];
};

struct cli_cmd;

struct cli {
    struct cli_args a;
    const struct cli_cmd *cmd;
    const char **args;      /* the command's positional arguments */
    int nargs;
    int json;
    int verbose;
    int dry_run;
    int yes;
    struct cli_config cfg;  /* the config file as loaded */
    const char *url;        /* effective: --url > BERTH_URL > config > default */
    const char *token;      /* effective: BERTH_TOKEN > config */
    const char *org;        /* effective: --org > BERTH_ORG > config */
    const char *cacert;     /* --cacert > BERTH_CACERT */
    struct cli_err err;
    int failed;
    int exit_code;          /* exit status on success (script run --follow, doctor, exec,
                               terminal) */
    long http_timeout_s;    /* total time limit of a request; 0: client.c's default */
    size_t response_max;    /* cap of an answer's body; 0: client.c's default */
};

/* Records an error (first one wins) and returns -1. */
int cli_fail(struct cli *c, int exit, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cli_usage(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Requires a token (exit 3 when there is none) / an organization (exit 2). */
int cli_need_token(struct cli *c);
int cli_need_org(struct cli *c);

/* ---- commands (main.c's table) ---- */

typedef int (*cli_run_fn)(struct cli *c);

struct cli_cmd {
    const char *group;   /* "org", or NULL for a top-level command */
    const char *name;    /* "list", or the top-level command's name */
    const char *args;    /* positional synopsis, e.g. "EMAIL" */
    int min_pos, max_pos;
    cli_optmask opts;    /* allowed options beyond OPTS_COMMON */
    const char *summary;
    const char *help;    /* extra paragraphs for --help, or NULL */
    cli_run_fn run;
};

int cmd_login(struct cli *c);
int cmd_logout(struct cli *c);
int cmd_whoami(struct cli *c);
int cmd_accept_invite(struct cli *c);
int cmd_org_list(struct cli *c);
int cmd_org_create(struct cli *c);
int cmd_org_use(struct cli *c);
int cmd_member_list(struct cli *c);
int cmd_member_add(struct cli *c);
int cmd_member_set_role(struct cli *c);
int cmd_member_remove(struct cli *c);
int cmd_invite_list(struct cli *c);
int cmd_invite_accept(struct cli *c);
int cmd_invite_decline(struct cli *c);
int cmd_token_create(struct cli *c);
int cmd_token_list(struct cli *c);
int cmd_token_revoke(struct cli *c);
int cmd_audit_list(struct cli *c);
int cmd_repo_add(struct cli *c);
int cmd_repo_list(struct cli *c);
int cmd_repo_remove(struct cli *c);
int cmd_repo_deliveries(struct cli *c);
int cmd_server_add(struct cli *c);
int cmd_server_list(struct cli *c);
int cmd_server_show(struct cli *c);
int cmd_server_decommission(struct cli *c);
int cmd_server_remove(struct cli *c);
int cmd_server_token(struct cli *c);
int cmd_server_metrics(struct cli *c);
int cmd_script_list(struct cli *c);
int cmd_script_show(struct cli *c);
int cmd_script_create(struct cli *c);
int cmd_script_update(struct cli *c);
int cmd_script_delete(struct cli *c);
int cmd_script_run(struct cli *c);
int cmd_job_show(struct cli *c);
int cmd_job_logs(struct cli *c);
int cmd_status(struct cli *c);
int cmd_doctor(struct cli *c);
int cmd_app_create(struct cli *c);
int cmd_app_list(struct cli *c);
int cmd_app_show(struct cli *c);
int cmd_app_set(struct cli *c);
int cmd_app_delete(struct cli *c);
int cmd_app_logs(struct cli *c);
int cmd_env_set(struct cli *c);
int cmd_env_unset(struct cli *c);
int cmd_env_list(struct cli *c);
int cmd_domain_add(struct cli *c);
int cmd_domain_rm(struct cli *c);
int cmd_domain_list(struct cli *c);
int cmd_deploy(struct cli *c);
int cmd_deployments(struct cli *c);
int cmd_deployment_show(struct cli *c);
int cmd_logs(struct cli *c);
int cmd_cancel(struct cli *c);
int cmd_rollback(struct cli *c);
int cmd_exec(struct cli *c);
int cmd_terminal(struct cli *c);
int cmd_container_prune(struct cli *c);
int cmd_container_list(struct cli *c);
int cmd_container_inspect(struct cli *c);
int cmd_container_start(struct cli *c);
int cmd_container_stop(struct cli *c);
int cmd_container_restart(struct cli *c);
int cmd_container_remove(struct cli *c);
int cmd_schedule_list(struct cli *c);
int cmd_schedule_show(struct cli *c);
int cmd_schedule_create(struct cli *c);
int cmd_schedule_pause(struct cli *c);
int cmd_schedule_resume(struct cli *c);
int cmd_schedule_delete(struct cli *c);
int cmd_schedule_runs(struct cli *c);
int cmd_cert_list(struct cli *c);
int cmd_cert_show(struct cli *c);
int cmd_cert_upload(struct cli *c);
int cmd_cert_rm(struct cli *c);
/* cmd_exec.c: --container C / --app A (NULL when not given); a usage error
 * (-1) for both or an empty name. */
int exec_target(struct cli *c, const char **container, const char **app);

/* cmd_job.c: follows job `id`'s log until the job ends, printing stdout
 * chunks on stdout and the rest on stderr (under --json it collects them
 * instead); *job gets the finished job (with "stdout"/"stderr" strings
 * added under --json). 0 or -1 with c->err set. */
int job_follow(struct cli *c, int64_t id, json_t **job);
/* The exit status a finished job maps to: 0 SUCCEEDED, else its exit code
 * capped to 1..125 (1 when it has none). */
int job_exit_status(json_t *job);
/* "/orgs/<org>/<what>" plus an optional "/<ref>", each escaped; needs an
 * organization. 0 or -1 with c->err set. */
int cli_org_path(struct cli *c, const char *what, const char *ref, char *out, size_t n);

/* ---- config.c: ~/.config/berth/config.json ---- */

/* Finds the path (BERTH_CONFIG > $XDG_CONFIG_HOME > ~/.config) and loads
 * the file if it exists. 0, or -1 with c->err set. */
int config_load(struct cli *c);
/* Writes c->cfg back (dir 0700, file 0600, atomic). 0 or -1. */
int config_save(struct cli *c);
/* Replaces one field (NULL clears it). */
void config_set(char **field, const char *value);
void config_release(struct cli_config *cfg);
/* Fills c->url/token/org/cacert from flags, env and the file. */
void config_resolve(struct cli *c);

/* ---- client.c: HTTP to berthd over libcurl ---- */

/* Sends one request. body (may be NULL) is borrowed. On 2xx returns 0 and
 * *out gets the parsed body (or NULL when empty; caller decrefs). On any
 * failure returns -1 with c->err set from the status and the API's error
 * body. auth: send the bearer token. */
int client_request(struct cli *c, const char *method, const char *path, json_t *body,
                   int auth, json_t **out);
/* GET path (a list with "next_cursor"), then each following page
 * (path + cursor=...), up to max_pages: *out is the first page's answer
 * with every page's items and next_cursor null. More pages than that is
 * an error naming the cap. */
int client_get_all(struct cli *c, const char *path, int max_pages, json_t **out);
/* The server list's page cap: 500 x 2000 = a million servers. */
#define SERVER_PAGES_MAX 2000
/* For commands that change something: under --dry-run prints what would be
 * sent (secrets in redact[] masked) and returns 1; otherwise as above. */
int client_mutate(struct cli *c, const char *method, const char *path, json_t *body, int auth,
                  const char *const *redact, json_t **out);
/* "/orgs/<escaped>" etc.: formats fmt with one escaped path segment. A
 * segment that berthd would see as a separator or a dot segment (empty,
 * ".", "..", any '/') or that does not fit is a usage error (-1). */
int client_path(struct cli *c, char *out, size_t n, const char *fmt, const char *segment);
/* Streams the body of GET path (under /api/v1) to fn as it arrives, with
 * `Accept: accept`; no total timeout (a followed log lasts as long as its
 * job), but an idle one: nothing for BERTH_FOLLOW_IDLE_S (default 60) s
 * cuts it. fn returns 0, or -1 to stop (c->err set by fn). 0 when the
 * answer ended normally, 1 when it was cut while idle (the caller looks
 * at the job and follows again), -1 with c->err set otherwise. */
typedef int (*client_data_fn)(void *arg, const char *p, size_t n);
int client_stream(struct cli *c, const char *path, const char *accept, client_data_fn fn,
                  void *arg);

/* logstream.c: a job log read as NDJSON, deduplicated by seq; printed
 * chunk by chunk, or collected for --json. */
#define LOGSTREAM_COLLECT_MAX (8u * 1024 * 1024)
typedef void (*logstream_print_fn)(void *arg, const char *stream, const char *data,
                                   size_t len, int64_t ts);
struct logstream {
    struct cli *c;
    struct buf line;           /* a partial NDJSON line */
    int64_t last;              /* highest seq handled */
    json_t *items;             /* --json: the chunks, else NULL */
    size_t collected;          /* bytes of data in items */
    size_t received;           /* bytes received by the current read */
    logstream_print_fn print;
    void *arg;
};
void logstream_init(struct logstream *ls, struct cli *c, logstream_print_fn print, void *arg);
void logstream_release(struct logstream *ls);
/* One GET of path (whole or ?follow=1); 0, 1 when it was cut while idle
 * (client_stream), or -1 (error set on c). */
int logstream_read(struct logstream *ls, const char *path);
/* What logstream_read does with the answer, for any bytes (the fuzz
 * driver): feed pieces as they arrive (arg: the logstream), then end. */
int logstream_feed(void *arg, const char *p, size_t n);
int logstream_end(struct logstream *ls);
/* A refused request's answer (status, body: may be NULL) as c->err with the
 * exit code of its status, keeping berthd's code and message; -1. */
int client_api_error(struct cli *c, const char *url, long status, const char *body,
                     size_t len);
/* GET <url>/healthz (no token): 0 and the round trip in *ms, or -1. */
int client_ping(struct cli *c, double *ms);
void client_global_init(void);
void client_global_release(void);

/* ---- output.c: the one JSON document, tables, errors ---- */

typedef void (*out_human_fn)(struct cli *c, json_t *data);
/* Prints success: {"ok":true,"data":data} under --json, else human(data).
 * Steals data. */
void out_ok(struct cli *c, json_t *data, out_human_fn human);
/* Prints c->err (stdout JSON under --json, else stderr) and returns its
 * exit code. */
int out_error(struct cli *c);
/* A table held as a JSON array of rows (arrays of strings). */
json_t *out_table_new(const char *const *headers);
void out_table_row(json_t *t, ...); /* NULL-terminated const char * cells */
void out_table_print(json_t *t);    /* prints and frees */
/* Field as text for a table cell ("-" when absent/null). */
const char *out_str(json_t *obj, const char *key, char *tmp, size_t n);

/* ---- prompt.c: secrets and confirmations from the terminal/stdin ---- */

/* Reads one line into out: from env var `env` when set, else prompts on a
 * tty (echo off when secret), else reads a line of stdin. 0 or -1. */
int prompt_line(const char *env, const char *label, int secret, char *out, size_t n);
/* Asks "Really <what>? [y/N]"; honours --yes; refuses (exit 2) when stdin
 * is not a terminal. 0 when confirmed, -1 otherwise (c->err set). */
int prompt_confirm(struct cli *c, const char *what);

#endif
