/* main.c - berthd's command line: `serve` (default), `init`, `routes`.
 *
 *   berthd [serve] [--data DIR] [--listen ADDR:PORT] [--db URL]
 *                  [--tls-cert FILE --tls-key FILE] [--web-dir DIR]
 *   berthd init --data DIR --admin-email EMAIL [--org NAME]
 *   berthd routes
 *
 * Each flag also comes from the environment (BERTH_DATA, BERTH_LISTEN,
 * BERTH_DB, BERTH_TLS_CERT, BERTH_TLS_KEY); a flag wins.
 */
#include "access.h"
#include "acme.h"
#include "api.h"
#include "audit.h"
#include "channels.h"
#include "applogs.h"
#include "containers.h"
#include "berthd.h"
#include "crypto.h"
#include "http.h"
#include "deploy.h"
#include "domains.h"
#include "guard.h"
#include "hub.h"
#include "job.h"
#include "term.h"
#include "log.h"
#include "metrics.h"
#include "outbound.h"
#include "pool.h"
#include "prune.h"
#include "ratelimit.h"
#include "events.h"
#include "router.h"
#include "scheduler.h"
#include "store.h"
#include "util.h"
#include "web.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define BERTH_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berthd [serve] [--data DIR] [--listen ADDR:PORT] [--db URL]\n"
            "              [--tls-cert FILE --tls-key FILE] [--log-level LEVEL]\n"
            "              [--web-dir DIR]   (serve the dashboard from DIR, for development)\n"
            "              [--acme-domain NAME]... [--acme-email EMAIL] [--acme-directory URL]\n"
            "              [--acme-ca-file FILE] [--acme-http-port PORT] [--acme-renew-days N]\n"
            "              [--acme-check-interval SECONDS]   (own certificate by ACME)\n"
            "       berthd init --data DIR --admin-email EMAIL [--org NAME]\n"
            "       berthd routes\n"
            "       berthd --version\n"
            "\n"
            "serve   run the control plane (the default)\n"
            "init    create the data directory, master key, first organization and\n"
            "        its admin; the password comes from BERTH_ADMIN_PASSWORD or stdin\n"
            "routes  print the route table as JSON (method, path, auth, scope)\n"
            "\n"
            "Environment: BERTH_DATA, BERTH_LISTEN, BERTH_DB, BERTH_TLS_CERT,\n"
            "BERTH_TLS_KEY, BERTH_LOG_LEVEL, BERTH_ACCESS_LOG=1, BERTH_MASTER_KEY,\n"
            "BERTH_ACME_DOMAIN (comma-separated), BERTH_ACME_DIRECTORY, BERTH_ACME_EMAIL,\n"
            "BERTH_ACME_CA_FILE, BERTH_ACME_HTTP_PORT, BERTH_ACME_RENEW_DAYS,\n"
            "BERTH_ACME_CHECK_INTERVAL.\n");
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[1024];
    if (util_strlcpy(tmp, path, sizeof tmp) < 0)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int read_password(char *out, size_t n)
{
    const char *env = getenv("BERTH_ADMIN_PASSWORD");
    if (env && *env)
        return util_strlcpy(out, env, n);
    int tty = isatty(0);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "Admin password: ");
        tcgetattr(0, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSANOW, &quiet);
    }
    char *got = fgets(out, (int)n, stdin);
    if (tty) {
        tcsetattr(0, TCSANOW, &old);
        fprintf(stderr, "\n");
    }
    if (!got)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int open_store(struct config *c, struct store **st)
{
    char err[512];
    if (store_open(c->data_dir, c->db_url, st, err, sizeof err) != STORE_OK) {
        log_error("berthd", "%s", err);
        return -1;
    }
    if (store_migrate(*st) < 0) {
        log_error("berthd", "database migration failed: %s", store_errmsg(*st));
        store_free(*st);
        return -1;
    }
    return 0;
}

static int cmd_init(struct config *c, const char *email_in, const char *org)
{
    char email[256], password[1100], keypath[1200];
    uint8_t master[CRYPTO_KEY_BYTES];
    if (!email_in || util_strlcpy(email, email_in, sizeof email) < 0 ||
        !util_email_valid(email)) {
        fprintf(stderr, "berthd init: --admin-email needs a valid email address\n");
        return 2;
    }
    for (char *p = email; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!util_slug_valid(org)) {
        fprintf(stderr, "berthd init: --org must be 1-63 of a-z, 0-9, '-'\n");
        return 2;
    }
    if (read_password(password, sizeof password) < 0 || strlen(password) < 8) {
        fprintf(stderr, "berthd init: the admin password must be at least 8 characters "
                        "(BERTH_ADMIN_PASSWORD or stdin)\n");
        return 2;
    }
    if (mkdir_p(c->data_dir, 0700) < 0) {
        fprintf(stderr, "berthd init: cannot create %s: %s\n", c->data_dir, strerror(errno));
        return 1;
    }
    snprintf(keypath, sizeof keypath, "%s/master.key", c->data_dir);
    if (crypto_master_create(keypath, master) < 0) {
        fprintf(stderr, "berthd init: %s: %s\n", keypath,
                errno == EEXIST ? "already initialised (master.key exists)" : strerror(errno));
        return errno == EEXIST ? 5 : 1;
    }
    crypto_wipe(master, sizeof master);
    struct store *st;
    if (open_store(c, &st) < 0)
        return 1;
    char pwhash[CRYPTO_PWHASH_MAX];
    int rc = crypto_password_hash(password, pwhash);
    crypto_wipe(password, sizeof password);
    if (rc < 0) {
        fprintf(stderr, "berthd init: cannot hash the password\n");
        store_free(st);
        return 1;
    }
    int64_t now = util_now(), uid = 0, oid = 0;
    rc = store_begin(st);
    if (rc == STORE_OK)
        rc = store_user_create(st, email, pwhash, "active", now, &uid);
    if (rc == STORE_OK)
        rc = store_org_create(st, org, now, &oid);
    if (rc == STORE_OK)
        rc = store_member_add(st, oid, uid, "admin", now);
    if (rc != STORE_OK || store_commit(st) != STORE_OK) {
        store_rollback(st);
        fprintf(stderr, "berthd init: cannot create the first organization: %s\n",
                store_errmsg(st));
        store_free(st);
        return 1;
    }
    struct srv s = {.store = st};
    audit_event(&s, oid, uid, email, "system.init", "org:1", "success", NULL);
    store_free(st);
    printf("initialised %s\n  organization: %s\n  admin: %s\n", c->data_dir, org, email);
    return 0;
}

static int cmd_routes(void)
{
    json_t *arr = json_array();
    for (int i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        static const char *auth[] = {"public", "user", "org"};
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "method",
                                             router_method_name(rt->method), "path", rt->pattern,
                                             "auth", auth[rt->auth], "scope",
                                             rt->scope ? access_scope_name(rt->scope) : NULL,
                                             "action", rt->action));
    }
    char *s = json_dumps(arr, JSON_INDENT(2));
    puts(s);
    free(s);
    json_decref(arr);
    return 0;
}

/* With the front's context: the event streams', the runner link's and the
 * scheduler's timers. */
static int front_started(struct srv *s)
{
    if (events_start(s->events, s->ctx) < 0)
        return -1;
    if (s->hub && hub_start(s->hub, s->ctx) < 0)
        return -1;
    if (s->acme && acme_start(s->acme, s->ctx) < 0)
        return -1;
    return s->sched ? sched_start(s->sched, s->ctx) : 0;
}
/* Before the context goes: the last snapshots. */
static void front_stopping(struct srv *s)
{
    sched_stop(s->sched);
    acme_stop(s->acme); /* lego killed, the thread joined */
    containers_stop(); /* pending calls answered while their clients are there */
    applogs_stop();
    events_stop(s->events);
    if (s->hub)
        hub_stop(s->hub);
}

static void front_tls_ctx(struct srv *s, void *ssl_ctx) { acme_tls_ctx(s->acme, ssl_ctx); }

static int cmd_serve(struct config *c)
{
    struct srv s;
    memset(&s, 0, sizeof s);
    s.cfg = *c;
    char keypath[1200];
    uint8_t master[CRYPTO_KEY_BYTES];
    snprintf(keypath, sizeof keypath, "%s/master.key", c->data_dir);
    if (crypto_master_load(keypath, master) < 0) {
        log_error("berthd", "cannot read the master key %s; run `berthd init --data %s "
                            "--admin-email EMAIL` first", keypath, c->data_dir);
        return 1;
    }
    crypto_subkey(master, 1, "tokens__", s.token_key);
    crypto_subkey(master, 2, "secrets_", s.secret_key);
    crypto_wipe(master, sizeof master);
    if (open_store(c, &s.store) < 0)
        return 1;
    int rc = 1;
    /* A throwaway hash so a login for an unknown account costs the same. */
    char dummy[CRYPTO_TOKEN_MAX];
    crypto_token_new("x", dummy);
    if (crypto_password_hash(dummy, s.dummy_pwhash) < 0)
        goto done;
    s.pool = pool_new(c->workers);
    s.metrics = metrics_new();
    s.rl_account = ratelimit_new(c->login_max_account, c->login_window, 16384);
    s.rl_address = ratelimit_new(c->login_max_address, c->login_window, 16384);
    s.hub = hub_new(&s);
    s.jobs = jobs_new(&s);
    s.channels = channels_new(&s);
    s.events = events_new(&s);
    s.sched = sched_new(&s);
    if (!s.pool || !s.metrics || !s.rl_account || !s.rl_address || !s.hub || !s.jobs ||
        !s.channels || !s.events || !s.sched) {
        log_error("berthd", "out of memory");
        goto done;
    }
    /* The job kinds, and the job frames of the runner link (job.c). */
    if (job_kind_register(s.jobs, &script_job_kind) < 0 ||
        job_kind_register(s.jobs, &deploy_job_kind) < 0 || job_kind_register(s.jobs, &edge_job_kind) < 0 || jobs_start(s.jobs, s.hub) < 0 ||
        channels_start(s.channels, s.hub) < 0 || containers_start(&s, s.hub) < 0 ||
        applogs_start(&s, s.hub) < 0 || domains_start(&s, s.hub) < 0)
        goto done;
    deploy_boot(&s); /* queued deployments whose app slot is free */
    /* The front's WebSocket endpoints and what starts with its context. */
    static struct lws_protocols ws[3] = {HUB_PROTOCOL};
    ws[1] = term_protocol;
    s.upgrades[s.nupgrades++] = (struct srv_upgrade){hub_is_path, hub_confirm_upgrade};
    s.upgrades[s.nupgrades++] = (struct srv_upgrade){term_is_path, term_confirm_upgrade};
    s.ws_protocols = ws;
    s.guard = guard_check;
    s.audit = audit_request;
    s.unrouted = web_serve; /* the dashboard, and /install.sh's embedded copy */
    s.started = front_started;
    if (c->acme_domains[0]) { /* berthd's own certificate (acme.c) */
        s.acme = acme_new(&s);
        if (!s.acme || acme_prepare(s.acme) < 0)
            goto done;
        s.tls_ctx = front_tls_ctx;
    }
    s.stopping_hook = front_stopping;
    s.outbound = outbound_new(c, s.pool);
    if (!s.outbound) {
        log_error("berthd", "cannot start the outbound client (see above)");
        goto done;
    }
    if (web_init(c->web_dir) < 0) { /* the dashboard's table, gzip made once */
        rc = 1;
        goto done;
    }
    rc = http_run(&s) < 0 ? 1 : 0;
    web_release();
done:
    outbound_free(s.outbound); /* its completions go to s.pool's queue */
    pool_free(s.pool);
    acme_free(s.acme); /* after the pool: its last completions may be installs */
    channels_free(s.channels);
    events_free(s.events);
    sched_free(s.sched);
    jobs_free(s.jobs);
    hub_free(s.hub);
    metrics_free(s.metrics);
    ratelimit_free(s.rl_account);
    ratelimit_free(s.rl_address);
    prune_stop(); /* the previews */
    store_free(s.store);
    crypto_wipe(&s, sizeof s);
    return rc;
}

int main(int argc, char **argv)
{
    struct config c;
    umask(077); /* the data directory holds secrets: keep it to ourselves */
    config_defaults(&c);
    config_from_env(&c);
    const char *lvl = getenv("BERTH_LOG_LEVEL");
    enum log_level level;
    if (lvl && log_parse_level(lvl, &level) == 0)
        log_set_level(level);
    if (crypto_init() < 0) {
        fprintf(stderr, "berthd: libsodium failed to initialise\n");
        return 1;
    }

    const char *cmd = "serve";
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        argv++;
        argc--;
    }
    const char *email = NULL, *org = "default";
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},     {"listen", required_argument, 0, 'l'},
        {"db", required_argument, 0, 'b'},       {"tls-cert", required_argument, 0, 'c'},
        {"tls-key", required_argument, 0, 'k'},  {"admin-email", required_argument, 0, 'e'},
        {"org", required_argument, 0, 'o'},      {"log-level", required_argument, 0, 'L'},
        {"web-dir", required_argument, 0, 'W'},
        {"acme-domain", required_argument, 0, 'A'},
        {"acme-directory", required_argument, 0, 'A'},
        {"acme-email", required_argument, 0, 'A'},
        {"acme-ca-file", required_argument, 0, 'A'},
        {"acme-http-port", required_argument, 0, 'A'},
        {"acme-renew-days", required_argument, 0, 'A'},
        {"acme-check-interval", required_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'},           {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    char aerr[256];
    if (config_acme_from_env(&c, aerr, sizeof aerr) < 0) {
        fprintf(stderr, "berthd: %s\n", aerr);
        return 2;
    }
    int ch, oi = -1, acme_domain_flag = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, &oi)) != -1) {
        switch (ch) {
        case 'd': util_strlcpy(c.data_dir, optarg, sizeof c.data_dir); break;
        case 'l':
            if (config_parse_listen(&c, optarg) < 0) {
                fprintf(stderr, "berthd: --listen wants ADDR:PORT, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'b': util_strlcpy(c.db_url, optarg, sizeof c.db_url); break;
        case 'c': util_strlcpy(c.tls_cert, optarg, sizeof c.tls_cert); break;
        case 'k': util_strlcpy(c.tls_key, optarg, sizeof c.tls_key); break;
        case 'W': util_strlcpy(c.web_dir, optarg, sizeof c.web_dir); break;
        case 'A': /* every --acme-* flag: config_acme_option, by name */
            if (oi >= 0 && strcmp(opts[oi].name, "acme-domain") == 0 && !acme_domain_flag++)
                c.acme_domains[0] = '\0'; /* flags replace BERTH_ACME_DOMAIN's names */
            if (oi < 0 || config_acme_option(&c, opts[oi].name, optarg, aerr, sizeof aerr) < 0) {
                fprintf(stderr, "berthd: %s\n", oi < 0 ? "bad --acme option" : aerr);
                return 2;
            }
            break;
        case 'e': email = optarg; break;
        case 'o': org = optarg; break;
        case 'L':
            if (log_parse_level(optarg, &level) < 0) {
                fprintf(stderr, "berthd: --log-level is debug, info, warn or error\n");
                return 2;
            }
            log_set_level(level);
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("berthd %s\n", BERTH_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berthd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&c);
    if (strcmp(cmd, "init") == 0)
        return cmd_init(&c, email, org);
    if (strcmp(cmd, "routes") == 0)
        return cmd_routes();
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "berthd: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
