/* main.c - berth-runner's command line, `uninstall`, signal handling and
 * the lws event loop (one thread; the fingerprint worker is the only
 * other thread). Owns struct runner and the secrets read at startup: the
 * registration token is taken from BERTH_RUNNER_TOKEN (then removed from
 * the environment so jobs never see it), --token-file, or --token (then
 * wiped from argv so `ps` does not show it). */
#include "chans.h"
#include "applogs.h"
#include "dockerops.h"
#include "runner.h"

#include "child.h"
#include "docker.h"
#include "edge.h"
#include "acme.h"

#include "crypto.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define C "runner"
#define UNIT_PATH "/etc/systemd/system/berth-runner.service"

static struct runner R;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berth-runner [options]\n"
            "       berth-runner uninstall [--prefix DIR] [--state-dir DIR] [--yes]\n"
            "\n"
            "First start (registers this server, then keeps running):\n"
            "  BERTH_RUNNER_TOKEN=brg_... berth-runner --url https://berth.example\n"
            "  berth-runner --url URL --token-file FILE\n"
            "Later starts read the URL and credential from the state directory.\n"
            "\n"
            "options:\n"
            "  --url URL             berthd's address: http(s)://HOST[:PORT][/PREFIX] (its base\n"
            "                        URL) or ws(s)://HOST[:PORT]/runner/v1\n"
            "  --token-file FILE     read the one-time registration token from FILE\n"
            "  --token TOKEN         registration token on the command line (visible to\n"
            "                        other users until wiped: prefer the env or a file)\n"
            "  --state-dir DIR       state directory (default %s)\n"
            "  --heartbeat SECONDS   heartbeat interval (default 5; berthd may override)\n"
            "  --ca-file FILE        trust only this CA for wss:// (default: system CAs)\n"
            "  --min-free-disk GIB   precheck threshold for free disk (default 1)\n"
            "  --log-level LEVEL     debug, info, warn, error (default info)\n"
            "  --edge-bind ADDR      address the edge proxy's public ports bind (default: all)\n"
            "  --edge-http-port N    the edge's shared port for apps by domain (default 80, 0: none)\n"
            "  --edge-https-port N   its HTTPS twin, certificates by ACME (default 443, 0: none)\n"
            "  --acme-http-port N    loopback port of the ACME client's HTTP-01 listener (default 8402)\n"
            "  --acme-renew-days N   renew a certificate N days before it expires (default 30)\n"
            "  --docker-host SOCKET  Docker's unix socket, unix:///path or /path (default:\n"
            "                        $DOCKER_HOST, else /var/run/docker.sock)\n"
            "  --stdio               speak the protocol on stdin/stdout (not supported yet)\n"
            "  --version, --help\n"
            "exit codes: 0 stopped, 1 error, 2 usage, 3 registration token refused\n",
            RUNNER_DEFAULT_STATE_DIR);
}

static void on_signal(int sig)
{
    (void)sig;
    R.stop = 1;
    if (R.ctx)
        lws_cancel_service(R.ctx);
}

static void lws_log_bridge(int level, const char *line)
{
    char msg[512];
    util_strlcpy(msg, line, sizeof msg);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", "%s", msg);
}

static char *take_secret_file(const char *path)
{
    char *b = NULL;
    size_t len;
    if (util_read_file(path, 4096, &b, &len) < 0) {
        log_error(C, "cannot read token file %s: %s", path, strerror(errno));
        return NULL;
    }
    while (len && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' '))
        b[--len] = '\0';
    return b;
}

/* --- uninstall --- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
        fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static int run_wait(char *const argv[])
{
    pid_t pid = fork();
    int st = 0;
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int uninstall(int argc, char **argv)
{
    const char *prefix = "/usr/local", *state = RUNNER_DEFAULT_STATE_DIR;
    int yes = 0;
    char bin[PATH_MAX];
    struct stat st;

    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--yes"))
            yes = 1;
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
            prefix = argv[++i];
        else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            state = argv[++i];
        else {
            usage(stderr);
            return RUNNER_EXIT_USAGE;
        }
    }
    if (!*state || !strcmp(state, "/")) {
        fprintf(stderr, "refusing to remove state directory \"%s\"\n", state);
        return RUNNER_EXIT_USAGE;
    }
    snprintf(bin, sizeof bin, "%s/bin/berth-runner", prefix);
    int has_unit = stat(UNIT_PATH, &st) == 0;
    printf("This removes:\n");
    if (has_unit)
        printf("  %s (stopped and disabled first)\n", UNIT_PATH);
    printf("  %s\n  %s (state, credential, spool)\n", bin, state);
    if (!yes) {
        char answer[16] = "";
        if (!isatty(0)) {
            fprintf(stderr, "not a terminal: pass --yes to confirm\n");
            return RUNNER_EXIT_USAGE;
        }
        printf("Type 'yes' to continue: ");
        fflush(stdout);
        if (!fgets(answer, sizeof answer, stdin) || strncmp(answer, "yes", 3) != 0) {
            printf("nothing removed\n");
            return RUNNER_EXIT_ERROR;
        }
    }
    if (has_unit) {
        char *disable[] = {"systemctl", "disable", "--now", "berth-runner.service", NULL};
        char *reload[] = {"systemctl", "daemon-reload", NULL};
        if (run_wait(disable) != 0)
            fprintf(stderr, "systemctl disable failed (continuing)\n");
        if (unlink(UNIT_PATH) < 0)
            fprintf(stderr, "cannot remove %s: %s\n", UNIT_PATH, strerror(errno));
        run_wait(reload);
    }
    if (unlink(bin) < 0 && errno != ENOENT)
        fprintf(stderr, "cannot remove %s: %s\n", bin, strerror(errno));
    if (stat(state, &st) == 0)
        nftw(state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    printf("berth-runner uninstalled\n");
    return RUNNER_EXIT_OK;
}

/* --- run --- */

static int parse_args(struct runner *r, int argc, char **argv, char **token)
{
    const char *token_file = NULL, *docker_host = NULL;
    char why[300];
    char *env;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("berth-runner %s (protocol %d)\n", RUNNER_VERSION, PROTO_VERSION);
            exit(0);
        } else if (!strcmp(a, "--stdio")) {
            fprintf(stderr, "berth-runner: --stdio is not supported yet\n");
            return -1;
        } else if (!v) {
            fprintf(stderr, "berth-runner: %s needs a value (or is unknown)\n", a);
            return -1;
        } else if (!strcmp(a, "--url")) {
            /* what a person types (berthd's http(s):// base URL) or the
             * link's ws(s):// URL: the link's URL either way */
            if (proto_ws_url(v, r->url, sizeof r->url, why, sizeof why) < 0) {
                fprintf(stderr, "berth-runner: --url: %s\n", why);
                return -1;
            }
        } else if (!strcmp(a, "--token")) {
            free(*token);
            *token = strdup(v);
            memset(argv[i + 1], 'x', strlen(argv[i + 1]));  /* hide from ps */
        } else if (!strcmp(a, "--token-file")) {
            token_file = v;
        } else if (!strcmp(a, "--state-dir")) {
            if (util_strlcpy(r->state_dir, v, sizeof r->state_dir) < 0)
                return -1;
        } else if (!strcmp(a, "--heartbeat")) {
            if (util_parse_i64(v, &n) < 0 || n < 1 || n > 3600) {
                fprintf(stderr, "berth-runner: --heartbeat takes 1..3600 seconds\n");
                return -1;
            }
            r->heartbeat_s = (int)n;
        } else if (!strcmp(a, "--ca-file")) {
            r->ca_file = v;
        } else if (!strcmp(a, "--min-free-disk")) {
            char *end;
            double g = strtod(v, &end);
            if (*end || g < 0) {
                fprintf(stderr, "berth-runner: --min-free-disk takes GiB, e.g. 1 or 0.5\n");
                return -1;
            }
            r->min_free_disk = (int64_t)(g * 1073741824.0);
        } else if (!strcmp(a, "--edge-bind")) {
            if (util_strlcpy(r->edge_bind, v, sizeof r->edge_bind) < 0 || strpbrk(v, " \n")) {
                fprintf(stderr, "berth-runner: --edge-bind takes an address, e.g. 127.0.0.1\n");
                return -1;
            }
        } else if (!strcmp(a, "--edge-http-port")) {
            int64_t hp;
            if (util_parse_i64(v, &hp) < 0 || hp < 0 || hp > 65535) {
                fprintf(stderr, "berth-runner: --edge-http-port takes a port, 0 to serve no app by name\n");
                return -1;
            }
            r->edge_http_port = (int)hp;
        } else if (!strcmp(a, "--edge-https-port") || !strcmp(a, "--acme-http-port") ||
                   !strcmp(a, "--acme-renew-days")) {
            int64_t nv;
            int days = !strcmp(a, "--acme-renew-days");
            if (util_parse_i64(v, &nv) < 0 || nv < (days || a[2] == 'e' ? 0 : 1) || nv > (days ? 3650 : 65535)) {
                fprintf(stderr, "berth-runner: %s takes %s\n", a, days ? "0..3650 days" : "a port");
                return -1;
            }
            if (days)
                r->acme_renew_days = (int)nv;
            else if (a[2] == 'e')
                r->edge_https_port = (int)nv;
            else
                r->acme_http_port = (int)nv;
        } else if (!strcmp(a, "--docker-host")) {
            docker_host = v;
        } else if (!strcmp(a, "--log-level")) {
            enum log_level l;
            if (log_parse_level(v, &l) < 0) {
                fprintf(stderr, "berth-runner: unknown log level %s\n", v);
                return -1;
            }
            log_set_level(l);
        } else {
            fprintf(stderr, "berth-runner: unknown option %s\n", a);
            return -1;
        }
        i++;
    }
    /* the one Docker endpoint, for precheck, fingerprint and deploys */
    if (docker_endpoint_resolve(docker_host, r->docker_endpoint, sizeof r->docker_endpoint, why,
                                sizeof why) < 0) {
        fprintf(stderr, "berth-runner: %s\n", why);
        return -1;
    }
    if (token_file && !*token && !(*token = take_secret_file(token_file)))
        return -1;
    env = getenv("BERTH_RUNNER_TOKEN");
    if (env && *env && !*token)
        *token = strdup(env);
    /* The string sits in the initial environment block, which
     * /proc/PID/environ shows for the process' lifetime: wipe it there
     * too, then drop the variable (children must never inherit it). */
    if (env)
        crypto_wipe(env, strlen(env));
    unsetenv("BERTH_RUNNER_TOKEN");
    return 0;
}

static int make_context(struct runner *r)
{
    static struct lws_protocols list[7];
    struct lws_context_creation_info info;

    list[0] = link_protocol;
    list[1] = docker_protocol;     /* deploys: Engine API over the unix socket */
    list[2] = edge_protocol;       /* deploys: HAProxy runtime API */
    list[3] = child_pipe_protocol; /* scripts, and for deploys git, docker build, curl */
    list[4] = chans_fd_protocol;   /* channels: a shell's PTY, an exec's pipes */
    list[5] = applogs_protocol;    /* app logs: Docker log streams (applogs.c) */
    memset(&list[6], 0, sizeof list[6]);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = list;
    info.user = r;
    info.fd_limit_per_thread = 256;
    info.pt_serv_buf_size = 4096;
    if (strncmp(r->url, "wss:", 4) == 0) {
        /* --ca-file: only that CA (lws loads it). Without it the system's
         * CAs, loaded by link.c (LOAD_EXTRA_CLIENT_VERIFY_CERTS) from the
         * hashed directory rather than parsed all at once from the bundle. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
                        LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        info.client_ssl_ca_filepath = r->ca_file;
    }
    r->ctx = lws_create_context(&info);
    if (!r->ctx) {
        log_error(C, "cannot create the lws context");
        return -1;
    }
    r->vh = lws_get_vhost_by_name(r->ctx, "default");
    if (!r->vh) {
        log_error(C, "no default vhost");
        return -1;
    }
    return 0;
}

static void wipe_free(char **s)
{
    if (*s) {
        crypto_wipe(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

int main(int argc, char **argv)
{
    struct runner *r = &R;
    char *token = NULL;
    int rc = RUNNER_EXIT_ERROR;

    if (argc > 1 && !strcmp(argv[1], "uninstall"))
        return uninstall(argc, argv);

    util_strlcpy(r->state_dir, RUNNER_DEFAULT_STATE_DIR, sizeof r->state_dir);
    r->heartbeat_s = PROTO_HEARTBEAT_S;
    r->min_free_disk = 1073741824;
    r->edge_http_port = 80;
    r->edge_https_port = 443;
    r->acme_http_port = 8402;
    r->acme_renew_days = 30;
    if (parse_args(r, argc, argv, &token) < 0) {
        wipe_free(&token);
        return RUNNER_EXIT_USAGE;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
    umask(077);

    char url_arg[sizeof r->url];
    util_strlcpy(url_arg, r->url, sizeof url_arg);
    if (state_prepare_dir(r) < 0 || state_load(r) < 0)
        goto done;
    if (url_arg[0] && r->credential) {
        util_strlcpy(r->url, url_arg, sizeof r->url);  /* --url overrides the saved one */
    }
    if (!r->url[0]) {
        fprintf(stderr, "berth-runner: no --url given and none saved in %s\n", r->state_dir);
        rc = RUNNER_EXIT_USAGE;
        goto done;
    }
    if (r->credential) {
        if (token)
            log_info(C, "already registered (server %s); ignoring the registration token",
                     r->server_id[0] ? r->server_id : "?");
        wipe_free(&token);
    } else {
        if (!token) {
            fprintf(stderr, "berth-runner: not registered yet: give the registration token in "
                            "BERTH_RUNNER_TOKEN or --token-file\n");
            rc = RUNNER_EXIT_USAGE;
            goto done;
        }
        r->token = token;
        token = NULL;
    }
    if (state_save(r) < 0)  /* persist the URL for later starts */
        goto done;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (link_init(r) < 0 || make_context(r) < 0 || deploy_init(r) < 0)
        goto done;
    deploy_adopt_edge(r);
    acme_start(r);  /* only when the edge serves certificates: renewals */
    applogs_init(r); /* app logs are not vital: the runner goes on without */
    if (jobs_init(r) < 0)
        goto done;
    metrics_init(r);
    fingerprint_start(r);
    link_start(r);
    log_info(C, "berth-runner %s started (state %s)", RUNNER_VERSION, r->state_dir);
    log_info(C, "Docker endpoint unix://%s", r->docker_endpoint);

    while (!r->stop)
        if (lws_service(r->ctx, 0) < 0)
            break;
    rc = r->exit_code;
    log_info(C, "stopping");
done:
    r->stop = 1;
    if (r->ctx) {
        /* timers off before the context goes; jobs freed after it, as
         * closing their pipes calls back into jobs.c */
        fingerprint_release(r);
        jobs_stop(r);
        acme_stop(r);
        chans_link_lost(r); /* no shell outlives the runner */
        applogs_stop(r);
        dockerops_release();
        link_release(r);
        lws_context_destroy(r->ctx);
        r->ctx = NULL;
    }
    jobs_release(r);
    link_release(r);
    wipe_free(&token);
    wipe_free(&r->token);
    wipe_free(&r->credential);
    return rc;
}
