/* fingerprint.c - what the host is and whether it can take deployments.
 *
 * Collection can block (a Docker API call, `git --version`, `iptables -S`),
 * so it runs on a short-lived worker thread every 60 s (and a few seconds
 * after each job, which may have changed ports or Docker). The thread
 * hands two ready frames (fingerprint, precheck) back through a mutex'ed
 * slot + lws_cancel_service(); the loop thread picks them up in
 * fingerprint_on_wake() and sends them when they changed or a minute has
 * passed. Children run via fork/execve with a fixed argv and a minimal
 * environment, never through a shell, and are waited for by pid only (the
 * job reaper never uses waitpid(-1)).
 *
 * Owns: the worker thread, the pending and latest frame texts. */
#include "runner.h"

#include "log.h"
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define C "fingerprint"
#define FP_PERIOD_S 60
#define FP_MAX_PORTS 256

struct fp_task {
    struct lws_context *ctx;
    char state_dir[PATH_MAX];
    char docker_sock[PATH_MAX];    /* r->docker_endpoint */
    int64_t min_free;
};

static pthread_mutex_t fp_mu = PTHREAD_MUTEX_INITIALIZER;
static char *pending_fp, *pending_pc;      /* set by the worker */
static int pending_ready;
static pthread_t fp_thread;
static int fp_busy;                        /* loop thread only */
static struct fp_task fp_task;
static char *latest_fp, *latest_pc;        /* loop thread only */
static uint64_t last_sent_us;
static lws_sorted_usec_list_t fp_sul;

/* --- children --- */

int fingerprint_run_capture(char *const argv[], int timeout_ms, size_t cap, char **out)
{
    int pfd[2], status = 0, rc = -1;
    char path_env[1024];
    const char *path = getenv("PATH");
    snprintf(path_env, sizeof path_env, "PATH=%s",
             path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    char *envp[] = {path_env, "LC_ALL=C", NULL};
    char *b = malloc(cap + 1);
    size_t len = 0;
    *out = NULL;
    if (!b)
        return -1;
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        free(b);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        free(b);
        return -1;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 2);
        }
        dup2(pfd[1], 1);
        close_range(3, ~0u, 0);
        execvpe(argv[0], argv, envp);
        _exit(127);
    }
    close(pfd[1]);
    uint64_t deadline = util_mono_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        uint64_t now = util_mono_us();
        if (now >= deadline) {
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int n = poll(&p, 1, (int)((deadline - now) / 1000u) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        char tmp[4096];
        ssize_t got = read(pfd[0], tmp, sizeof tmp);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t take = (size_t)got;
        if (take > cap - len)
            take = cap - len;  /* keep draining, drop the excess */
        memcpy(b + len, tmp, take);
        len += take;
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    b[len] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) != 127) {
        rc = WEXITSTATUS(status);
        *out = b;
        b = NULL;
    }
    free(b);
    return rc;
}

/* GET /version on the Docker Engine API over its unix socket (the
 * runner's one endpoint, r->docker_endpoint). */
static int docker_version(const char *sock, char *out, size_t outlen, char *why, size_t whylen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 3};
    static const char req[] = "GET /version HTTP/1.0\r\nHost: docker\r\n\r\n";
    size_t cap = 64 * 1024, len = 0;
    char *resp = NULL;
    int rc = -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    util_strlcpy(sa.sun_path, sock, sizeof sa.sun_path);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(why, whylen, "cannot connect to %.120s: %s", sock, strerror(errno));
        goto done;
    }
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        snprintf(why, whylen, "cannot talk to the Docker daemon: %s", strerror(errno));
        goto done;
    }
    resp = malloc(cap + 1);
    if (!resp)
        goto done;
    for (;;) {
        ssize_t n = recv(fd, resp + len, cap - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap)
            break;
    }
    resp[len] = '\0';
    if (procfs_docker_version(resp, len, out, outlen) == 0)
        rc = 0;
    else
        snprintf(why, whylen, "the Docker daemon did not answer GET /version");
done:
    free(resp);
    close(fd);
    return rc;
}

static int tool_version(const char *tool, char *out, size_t outlen)
{
    char *argv[] = {(char *)tool, "--version", NULL};
    char *text = NULL;
    int st = fingerprint_run_capture(argv, 3000, 4096, &text);
    int rc = (st == 0 && procfs_version_word(text, out, outlen) == 0) ? 0 : -1;
    free(text);
    return rc;
}

static void firewall_summary(char *out, size_t outlen)
{
    char *ipt_argv[] = {"iptables", "-S", NULL};
    char *nft_argv[] = {"nft", "list", "ruleset", NULL};
    char a[512] = "", b[256] = "";
    char *text = NULL;
    if (fingerprint_run_capture(ipt_argv, 3000, 256 * 1024, &text) == 0)
        procfs_iptables_summary(text, a, sizeof a);
    free(text);
    text = NULL;
    if (fingerprint_run_capture(nft_argv, 3000, 256 * 1024, &text) == 0)
        procfs_nft_summary(text, b, sizeof b);
    free(text);
    if (!a[0] && !b[0])
        util_strlcpy(out, "unavailable", outlen);
    else
        snprintf(out, outlen, "%s%s%s", a, a[0] && b[0] ? "; " : "", b);
}

static char *dump_and_free(json_t *m)
{
    size_t len;
    char *s = m ? proto_dump(m, &len) : NULL;
    json_decref(m);
    return s;
}

static void *collect(void *arg)
{
    struct fp_task *t = arg;
    struct proto_fingerprint f;
    struct utsname u;
    struct statvfs sv;
    char os[256], kernel[256], docker[128], git[64], curl[64], fw[800];
    char docker_why[256] = "", disk_detail[PATH_MAX + 96];
    struct procfs_port *ports = calloc(FP_MAX_PORTS, sizeof *ports);
    struct proto_port *pp = calloc(FP_MAX_PORTS, sizeof *pp);
    size_t np = 0;
    static const char *const files[][2] = {{"/proc/net/tcp", "tcp"}, {"/proc/net/tcp6", "tcp6"},
                                           {"/proc/net/udp", "udp"}, {"/proc/net/udp6", "udp6"}};

    memset(&f, 0, sizeof f);
    if (procfs_os_release("/etc/os-release", os, sizeof os) == 0 ||
        procfs_os_release("/usr/lib/os-release", os, sizeof os) == 0)
        f.os = os;
    if (uname(&u) == 0) {
        snprintf(kernel, sizeof kernel, "%s %s %s", u.sysname, u.release, u.machine);
        f.kernel = kernel;
    }
    int docker_ok = docker_version(t->docker_sock, docker, sizeof docker, docker_why, sizeof docker_why) == 0;
    f.docker = docker_ok ? docker : NULL;
    f.git = tool_version("git", git, sizeof git) == 0 ? git : NULL;
    f.curl = tool_version("curl", curl, sizeof curl) == 0 ? curl : NULL;
    if (ports && pp) {
        for (size_t i = 0; i < 4; i++)
            procfs_ports(files[i][0], files[i][1], ports, FP_MAX_PORTS, &np);
        for (size_t i = 0; i < np; i++) {
            pp[i].proto = ports[i].proto;
            pp[i].addr = ports[i].addr;
            pp[i].port = ports[i].port;
        }
        f.ports = pp;
        f.nports = np;
    }
    firewall_summary(fw, sizeof fw);
    f.firewall = fw;

    int64_t avail = -1;
    if (statvfs(t->state_dir, &sv) == 0)
        avail = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    snprintf(disk_detail, sizeof disk_detail, "%.1f GiB free in %s (need %.1f GiB)",
             avail < 0 ? 0.0 : (double)avail / 1073741824.0, t->state_dir,
             (double)t->min_free / 1073741824.0);
    struct proto_check checks[] = {
        {"docker", docker_ok, docker_ok ? docker : docker_why},
        {"git", f.git != NULL, f.git ? git : "git not found on PATH"},
        {"curl", f.curl != NULL, f.curl ? curl : "curl not found on PATH"},
        {"disk", avail >= t->min_free, disk_detail},
    };

    char *fp = dump_and_free(proto_fingerprint(&f));
    char *pc = dump_and_free(proto_precheck(checks, sizeof checks / sizeof checks[0]));
    free(ports);
    free(pp);

    pthread_mutex_lock(&fp_mu);
    free(pending_fp);
    free(pending_pc);
    pending_fp = fp;
    pending_pc = pc;
    pending_ready = 1;
    pthread_mutex_unlock(&fp_mu);
    lws_cancel_service(t->ctx);
    return NULL;
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct runner *r = lws_context_user(fp_task.ctx);
    if (!fp_busy) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 256 * 1024);
        fp_task.min_free = r->min_free_disk;
        if (pthread_create(&fp_thread, &a, collect, &fp_task) == 0)
            fp_busy = 1;
        else
            log_warn(C, "cannot start the fingerprint thread");
        pthread_attr_destroy(&a);
    }
    lws_sul_schedule(fp_task.ctx, 0, &fp_sul, tick, (lws_usec_t)FP_PERIOD_S * LWS_USEC_PER_SEC);
}

void fingerprint_start(struct runner *r)
{
    fp_task.ctx = r->ctx;
    util_strlcpy(fp_task.state_dir, r->state_dir, sizeof fp_task.state_dir);
    util_strlcpy(fp_task.docker_sock, r->docker_endpoint, sizeof fp_task.docker_sock);
    lws_sul_schedule(r->ctx, 0, &fp_sul, tick, 1);
}

void fingerprint_poke(struct runner *r)
{
    /* re-collect soon; tick reschedules the 60 s period itself */
    lws_sul_schedule(r->ctx, 0, &fp_sul, tick, 3 * LWS_USEC_PER_SEC);
}

static void replace(char **slot, char *v)
{
    free(*slot);
    *slot = v;
}

void fingerprint_on_wake(struct runner *r)
{
    char *fp = NULL, *pc = NULL;
    int ready;
    pthread_mutex_lock(&fp_mu);
    ready = pending_ready;
    if (ready) {
        fp = pending_fp;
        pc = pending_pc;
        pending_fp = pending_pc = NULL;
        pending_ready = 0;
    }
    pthread_mutex_unlock(&fp_mu);
    if (!ready)
        return;
    pthread_join(fp_thread, NULL);
    fp_busy = 0;
    int changed = !latest_fp || !fp || strcmp(latest_fp, fp) || !latest_pc || !pc ||
                  strcmp(latest_pc, pc);
    int due = util_mono_us() - last_sent_us >= (uint64_t)(FP_PERIOD_S - 1) * 1000000u;
    if (changed && pc && latest_pc && strcmp(latest_pc, pc))
        log_info(C, "precheck changed");
    if (fp)
        replace(&latest_fp, fp);
    else
        free(fp);
    if (pc)
        replace(&latest_pc, pc);
    if (changed || due)
        fingerprint_send_latest(r);
}

void fingerprint_send_latest(struct runner *r)
{
    if (!link_ready(r) || !latest_fp)
        return;
    link_send_raw(r, latest_fp, strlen(latest_fp));
    if (latest_pc)
        link_send_raw(r, latest_pc, strlen(latest_pc));
    last_sent_us = util_mono_us();
}

void fingerprint_release(struct runner *r)
{
    lws_sul_cancel(&fp_sul);
    if (fp_busy) {
        pthread_join(fp_thread, NULL);
        fp_busy = 0;
    }
    pthread_mutex_lock(&fp_mu);
    replace(&pending_fp, NULL);
    replace(&pending_pc, NULL);
    pending_ready = 0;
    pthread_mutex_unlock(&fp_mu);
    replace(&latest_fp, NULL);
    replace(&latest_pc, NULL);
}
