/* chans.c - the runner's end of channels (src/core/chan.h, docs/protocol.md
 * "Channels"): a shell or an exec on this host, or in a container, with
 * its bytes relayed over the link under credit both ways.
 *
 * A tty channel runs its process on a new PTY (forkpty: a session of its
 * own, the PTY its controlling terminal); a plain exec gets pipes for
 * stdin, stdout and stderr. A container's shell or exec runs
 * `docker exec [-it] CONTAINER ...` on that PTY or those pipes, so the
 * container side is the Engine API's attached exec and resizing the PTY
 * resizes it. Output fds are adopted onto the lws loop; reading stops while
 * berthd's credit is used up (the kernel buffer then holds the process on
 * write) and resumes with chan.credit. stdin is written as it comes;
 * berthd never has more than our window in flight, and the window is
 * renewed only for bytes written.
 *
 * Owns: every struct chproc (this file's list), from chan.open until its
 * end: the process exited and its output was sent (chan.close with the
 * exit code), berthd closed it, it was idle for idle_s, or the link was
 * lost. Each end kills the process's whole session (SIGHUP, then SIGKILL
 * to every process whose session it leads), so nothing started from a
 * channel outlives it.
 */
#include "chans.h"
#include "chan.h"
#include "buf.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define C "chans"
#define WINDOW CHAN_WINDOW_DEFAULT  /* what berthd may send us in flight */
#define REAP_US (100 * 1000)
#define EXIT_GRACE_US (500 * 1000)  /* output after the exit, then close */
#define CHANS_MAX 64
#define STDIN_RETRY_US (5 * 1000)    /* a full PTY or pipe is tried again after */
#define REAP_MAX 64                  /* killed processes waiting to be reaped */

struct chproc;

struct chfd {
    struct chproc *p;
    struct lws *wsi;
    enum chan_stream stream;
    int open;
};

struct chproc {
    struct chproc *next;
    struct runner *r;
    uint32_t id;
    pid_t pid;
    int tty;
    int in_fd;                  /* pty master (dup) or stdin pipe; -1 when closed */
    struct chfd out[2];         /* pty master / stdout pipe, stderr pipe */
    struct chan_credit tx;      /* what we may still send berthd */
    int64_t consumed;           /* stdin bytes written since the last grant */
    struct buf pending;         /* stdin that did not fit yet (<= WINDOW) */
    lws_sorted_usec_list_t sul_in;
    int exited, exit_code;
    int64_t exited_at;          /* usec */
    int idle_s;
    int64_t last_us;            /* last byte either way */
    lws_sorted_usec_list_t sul;
    int closing;
};

static struct chproc *procs;
static int nprocs;
static pid_t reap[REAP_MAX];  /* killed, not yet waited for */
static lws_sorted_usec_list_t sul_reap;
static struct lws_context *reap_ctx;

static int64_t now_us(void) { return (int64_t)lws_now_usecs(); }

static struct chproc *find(uint32_t id)
{
    for (struct chproc *p = procs; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void send_close(struct runner *r, uint32_t id, const char *reason, int code)
{
    json_t *m = chan_close_msg(id, reason, code);
    if (m)
        link_send(r, m);
    json_decref(m);
}

/* Every process whose session sid leads gets sig (a shell's jobs run in
 * process groups of their own, all in its session). */
static void kill_session(pid_t sid, int sig)
{
    if (sid <= 0)
        return;
    kill(-sid, sig);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[64], buf[512];
        int64_t pid;
        if (util_parse_i64(e->d_name, &pid) < 0)
            continue;
        snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* pid (comm) state ppid pgrp session ...: comm may hold spaces */
        char *rp = strrchr(buf, ')');
        long ppid, pgrp, session;
        char st;
        if (rp && sscanf(rp + 1, " %c %ld %ld %ld", &st, &ppid, &pgrp, &session) == 4 &&
            session == sid)
            kill((pid_t)pid, sig);
    }
    if (d)
        closedir(d);
}

static void reap_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    int left = 0;
    for (int i = 0; i < REAP_MAX; i++) {
        if (!reap[i])
            continue;
        pid_t w = waitpid(reap[i], NULL, WNOHANG);
        if (w == reap[i] || (w < 0 && errno == ECHILD))
            reap[i] = 0;
        else
            left = 1;
    }
    if (left && reap_ctx)
        lws_sul_schedule(reap_ctx, 0, &sul_reap, reap_tick, REAP_US);
}

/* Waits for a killed child without blocking the loop (no zombie stays). */
static void reap_later(struct runner *r, pid_t pid)
{
    if (waitpid(pid, NULL, WNOHANG) == pid)
        return;
    for (int i = 0; i < REAP_MAX; i++)
        if (!reap[i]) {
            reap[i] = pid;
            reap_ctx = r->ctx;
            lws_sul_schedule(r->ctx, 0, &sul_reap, reap_tick, REAP_US);
            return;
        }
    waitpid(pid, NULL, 0); /* 64 waiting already: it was SIGKILLed, this is short */
}

static void proc_free(struct chproc *p)
{
    for (struct chproc **pp = &procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    nprocs--;
    lws_sul_cancel(&p->sul);
    lws_sul_cancel(&p->sul_in);
    buf_release(&p->pending);
    for (int i = 0; i < 2; i++)
        if (p->out[i].wsi) { /* lws closes the fd; RAW_CLOSE_FILE sees p gone */
            lws_set_opaque_user_data(p->out[i].wsi, NULL);
            lws_set_timeout(p->out[i].wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    if (p->in_fd >= 0)
        close(p->in_fd);
    if (p->pid != 0) { /* < 0: it exited and was reaped, its session may live on */
        pid_t sid = p->pid > 0 ? p->pid : -p->pid;
        kill_session(sid, SIGHUP);
        kill_session(sid, SIGKILL);
        if (p->pid > 0)
            reap_later(p->r, p->pid);
    }
    free(p);
}

/* Ends p: tells berthd unless it asked, frees. */
static void finish(struct chproc *p, const char *reason, int code, int tell)
{
    if (tell)
        send_close(p->r, p->id, reason, code);
    log_info(C, "channel %u closed: %s", p->id, reason);
    proc_free(p);
}

static int outputs_open(const struct chproc *p)
{
    return p->out[0].open || p->out[1].open;
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct chproc *p = lws_container_of(sul, struct chproc, sul);
    int64_t now = now_us();
    if (!p->exited && p->pid > 0) {
        int st;
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid || (w < 0 && errno == ECHILD)) {
            p->exited = 1;
            p->exited_at = now;
            p->exit_code = w != p->pid ? -1 : WIFEXITED(st) ? WEXITSTATUS(st)
                                                            : 128 + WTERMSIG(st);
            if (p->exit_code > 255)
                p->exit_code = 255;
            p->pid = -p->pid; /* its session may live on: killed at free */
        }
    }
    if (p->exited && (!outputs_open(p) || now - p->exited_at > EXIT_GRACE_US)) {
        char why[64];
        snprintf(why, sizeof why, "exited with %d", p->exit_code);
        finish(p, why, p->exit_code, 1); /* what is left of its session is killed */
        return;
    }
    if (p->idle_s > 0 && now - p->last_us > (int64_t)p->idle_s * 1000000) {
        char why[64];
        snprintf(why, sizeof why, "idle for %d s", p->idle_s);
        finish(p, why, -1, 1);
        return;
    }
    lws_sul_schedule(p->r->ctx, 0, &p->sul, tick, REAP_US);
}

/* ---- output: adopted fds ---- */

static void pause_out(struct chproc *p, int paused)
{
    for (int i = 0; i < 2; i++)
        if (p->out[i].wsi)
            lws_rx_flow_control(p->out[i].wsi, !paused);
}

static int fd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    (void)user, (void)in, (void)len;
    struct chfd *f = lws_get_opaque_user_data(wsi);
    uint8_t b[CHAN_HDR + CHAN_DATA_MAX];
    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT_FILE:
        if (f)
            f->wsi = wsi;
        break;
    case LWS_CALLBACK_RAW_RX_FILE: {
        if (!f)
            return -1;
        struct chproc *p = f->p;
        size_t want = CHAN_DATA_MAX;
        if (p->tx.avail < (int64_t)want)
            want = (size_t)p->tx.avail;
        if (!want) { /* no credit: the process waits on a full buffer */
            pause_out(p, 1);
            return 0;
        }
        /* as much as is there, up to one frame: fewer, fuller frames */
        size_t got = 0;
        int eof = 0;
        while (got < want) {
            ssize_t r = read(lws_get_socket_fd(wsi), b + CHAN_HDR + got, want - got);
            if (r > 0) {
                got += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            eof = !(r < 0 && errno == EAGAIN); /* EOF, or EIO once the PTY's writers left */
            break;
        }
        if (!got)
            return eof ? -1 : 0;
        ssize_t n = (ssize_t)got;
        chan_data_header(b, p->id, f->stream);
        if (link_send_binary(p->r, b, CHAN_HDR + (size_t)n) < 0)
            return 0; /* the link is going: its end frees p */
        chan_credit_take(&p->tx, (size_t)n);
        p->last_us = now_us();
        if (!p->tx.avail)
            pause_out(p, 1);
        if (eof)
            return -1; /* what came before the end was sent */
        break;
    }
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (f) {
            f->wsi = NULL;
            f->open = 0;
            lws_set_opaque_user_data(wsi, NULL);
        }
        break;
    default:
        break;
    }
    return 0;
}

const struct lws_protocols chans_fd_protocol = {
    .name = "berth-chan-fd",
    .callback = fd_callback,
};

static int adopt_out(struct chproc *p, int i, int fd, enum chan_stream stream)
{
    struct chfd *f = &p->out[i];
    f->p = p;
    f->stream = stream;
    f->open = 1;
    lws_adopt_desc_t a;
    memset(&a, 0, sizeof a);
    a.vh = p->r->vh;
    a.type = LWS_ADOPT_RAW_FILE_DESC;
    a.fd.filefd = fd;
    a.vh_prot_name = chans_fd_protocol.name;
    a.opaque = f;
    if (!lws_adopt_descriptor_vhost_via_info(&a)) {
        f->open = 0; /* lws closed fd */
        return -1;
    }
    return 0;
}

/* ---- starting ---- */

static void child_setup(void)
{
    sigset_t none;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close_range(3, ~0u, 0);
}

/* argv for the channel: the shell, the exec, or docker exec around them. */
static int build_argv(const struct chan_open *o, char **argv, size_t max, char *shell,
                      size_t shelln, char *argv0, size_t argv0n)
{
    size_t n = 0;
    struct passwd *pw = getpwuid(getuid());
    const char *sh = pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";
    util_strlcpy(shell, sh, shelln);
    if (o->container) {
        argv[n++] = "docker";
        argv[n++] = "exec";
        argv[n++] = o->tty ? "-it" : "-i";
        argv[n++] = (char *)o->container;
        if (o->kind == CHAN_SHELL) { /* the container's own shell, whichever it has */
            argv[n++] = "/bin/sh";
            argv[n++] = "-c";
            argv[n++] = "if command -v bash >/dev/null 2>&1; then exec bash -l; "
                        "else exec sh -l; fi";
        }
    } else if (o->kind == CHAN_SHELL) {
        const char *base = strrchr(shell, '/');
        snprintf(argv0, argv0n, "-%s", base ? base + 1 : shell); /* a login shell */
        argv[n++] = shell;
    }
    for (size_t i = 0; i < o->argc && n + 1 < max; i++)
        argv[n++] = (char *)o->argv[i];
    argv[n] = NULL;
    return (int)n;
}

static char **child_env(const char *home)
{
    static const char *const keep[] = {"PATH", "DOCKER_HOST", "DOCKER_CONFIG", "LANG", "TZ",
                                       "USER", "LOGNAME", NULL};
    char **env = calloc(16, sizeof *env);
    size_t n = 0;
    if (!env)
        return NULL;
    for (int i = 0; keep[i]; i++) {
        const char *v = getenv(keep[i]);
        if (v && asprintf(&env[n], "%s=%s", keep[i], v) >= 0)
            n++;
    }
    if (asprintf(&env[n], "HOME=%s", home) >= 0)
        n++;
    if (asprintf(&env[n], "TERM=xterm-256color") >= 0)
        n++;
    return env;
}

static void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

static int start(struct chproc *p, const struct chan_open *o, char *err, size_t errlen)
{
    char *argv[CHAN_ARGV_MAX + 8], shell[256], argv0[260];
    argv0[0] = '\0';
    build_argv(o, argv, sizeof argv / sizeof argv[0], shell, sizeof shell, argv0, sizeof argv0);
    struct passwd *pw = getpwuid(getuid());
    const char *home = pw && pw->pw_dir ? pw->pw_dir : "/";
    char **env = child_env(home);
    if (!env) {
        util_strlcpy(err, "out of memory", errlen);
        return -1;
    }
    const char *file = argv[0];
    if (argv0[0])
        argv[0] = argv0;
    int fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int master = -1;
    pid_t pid, parent = getpid();
    if (o->tty) {
        struct winsize ws = {.ws_row = (unsigned short)o->rows, .ws_col = (unsigned short)o->cols};
        pid = forkpty(&master, NULL, NULL, &ws);
    } else {
        for (int i = 0; i < 3; i++)
            if (pipe2(fds[i], O_CLOEXEC) < 0) {
                snprintf(err, errlen, "pipe: %s", strerror(errno));
                for (int k = 0; k < 3; k++)
                    for (int j = 0; j < 2; j++)
                        if (fds[k][j] >= 0)
                            close(fds[k][j]);
                env_free(env);
                return -1;
            }
        pid = fork();
        if (pid == 0) {
            setsid();
            dup2(fds[0][0], 0);
            dup2(fds[1][1], 1);
            dup2(fds[2][1], 2);
        }
    }
    if (pid == 0) {
        /* the runner dying (even SIGKILL) takes the process with it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* it died before prctl */
            _exit(126);
        child_setup();
        if (chdir(home) < 0 && chdir("/") < 0)
            _exit(126);
        if (strchr(file, '/'))
            execve(file, argv, env);
        else
            execvpe(file, argv, env);
        dprintf(2, "berth-runner: cannot run %s: %s\r\n", file, strerror(errno));
        _exit(127);
    }
    env_free(env);
    if (pid < 0) {
        snprintf(err, errlen, "cannot start the process: %s", strerror(errno));
        if (master >= 0)
            close(master);
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 2; j++)
                if (fds[k][j] >= 0)
                    close(fds[k][j]);
        return -1;
    }
    p->pid = pid;
    if (o->tty) {
        fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
        fcntl(master, F_SETFD, FD_CLOEXEC);
        p->in_fd = dup(master); /* lws owns master once adopted */
        if (p->in_fd >= 0)
            fcntl(p->in_fd, F_SETFD, FD_CLOEXEC);
        adopt_out(p, 0, master, CHAN_STDIO);
    } else {
        close(fds[0][0]);
        close(fds[1][1]);
        close(fds[2][1]);
        fcntl(fds[0][1], F_SETFL, fcntl(fds[0][1], F_GETFL) | O_NONBLOCK);
        fcntl(fds[1][0], F_SETFL, fcntl(fds[1][0], F_GETFL) | O_NONBLOCK);
        fcntl(fds[2][0], F_SETFL, fcntl(fds[2][0], F_GETFL) | O_NONBLOCK);
        p->in_fd = fds[0][1];
        if (o->no_stdin) { /* EOF at once: `cat` ends, a prompt does not wait */
            close(p->in_fd);
            p->in_fd = -1;
        }
        adopt_out(p, 0, fds[1][0], CHAN_STDIO);
        adopt_out(p, 1, fds[2][0], CHAN_STDERR);
    }
    return 0;
}

/* ---- frames from berthd ---- */

void chans_on_open(struct runner *r, json_t *msg)
{
    struct chan_open_msg m;
    char err[256];
    if (chan_parse_open(msg, &m, err, sizeof err) < 0) {
        json_t *id = json_object_get(msg, "chan");
        if (json_is_integer(id) && json_integer_value(id) > 0 &&
            json_integer_value(id) <= UINT32_MAX)
            send_close(r, (uint32_t)json_integer_value(id), err, -1);
        log_warn(C, "bad chan.open: %s", err);
        return;
    }
    if (find(m.o.id)) {
        chan_open_release(&m);
        return; /* a repeat: the first one stands */
    }
    if (nprocs >= CHANS_MAX) {
        send_close(r, m.o.id, "this runner has too many open channels", -1);
        chan_open_release(&m);
        return;
    }
    struct chproc *p = calloc(1, sizeof *p);
    if (!p) {
        send_close(r, m.o.id, "out of memory", -1);
        chan_open_release(&m);
        return;
    }
    p->r = r;
    p->id = m.o.id;
    p->tty = m.o.tty;
    p->in_fd = -1;
    buf_init(&p->pending, WINDOW);
    p->tx.avail = m.o.window;
    p->idle_s = m.o.idle_s;
    p->last_us = now_us();
    p->next = procs;
    procs = p;
    nprocs++;
    if (start(p, &m.o, err, sizeof err) < 0) {
        chan_open_release(&m);
        finish(p, err, -1, 1);
        return;
    }
    log_info(C, "channel %u: %s%s%s (pid %d)", p->id, m.o.kind == CHAN_SHELL ? "shell" : "exec",
             m.o.container ? " in " : " on the host", m.o.container ? m.o.container : "",
             (int)p->pid);
    chan_open_release(&m);
    json_t *ok = chan_opened_msg(p->id, WINDOW);
    link_send(r, ok);
    json_decref(ok);
    lws_sul_schedule(r->ctx, 0, &p->sul, tick, REAP_US);
}

void chans_on_credit(struct runner *r, json_t *msg)
{
    (void)r;
    uint32_t id;
    int64_t bytes;
    char err[160];
    struct chproc *p;
    if (chan_parse_credit(msg, &id, &bytes, err, sizeof err) < 0 || !(p = find(id)))
        return;
    int was_empty = p->tx.avail == 0;
    chan_credit_grant(&p->tx, bytes);
    if (was_empty)
        pause_out(p, 0);
}

void chans_on_resize(struct runner *r, json_t *msg)
{
    (void)r;
    uint32_t id;
    int cols, rows;
    char err[160];
    struct chproc *p;
    if (chan_parse_resize(msg, &id, &cols, &rows, err, sizeof err) < 0 || !(p = find(id)) ||
        !p->tty || p->in_fd < 0)
        return;
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(p->in_fd, TIOCSWINSZ, &ws); /* the kernel sends the session SIGWINCH */
}

void chans_on_close(struct runner *r, json_t *msg)
{
    (void)r;
    struct chan_close cl;
    char err[160];
    struct chproc *p;
    if (chan_parse_close(msg, &cl, err, sizeof err) < 0 || !(p = find(cl.id)))
        return;
    finish(p, cl.reason[0] ? cl.reason : "closed by berthd", -1, 0);
}

static void stdin_retry(lws_sorted_usec_list_t *sul);

/* Writes what stdin holds; what does not fit is tried again shortly (the
 * loop never waits on a process). Credit goes back for what was written. */
static void stdin_flush(struct chproc *p)
{
    size_t off = 0;
    while (off < p->pending.len) {
        ssize_t n = write(p->in_fd, p->pending.data + off, p->pending.len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        finish(p, "its input is closed", -1, 1);
        return;
    }
    if (off) {
        memmove(p->pending.data, p->pending.data + off, p->pending.len - off);
        p->pending.len -= off;
        p->consumed += (int64_t)off;
    }
    if (p->consumed >= WINDOW / 4) {
        json_t *m = chan_credit_msg(p->id, p->consumed);
        if (m && link_send(p->r, m) == 0)
            p->consumed = 0;
        json_decref(m);
    }
    if (p->pending.len)
        lws_sul_schedule(p->r->ctx, 0, &p->sul_in, stdin_retry, STDIN_RETRY_US);
}

static void stdin_retry(lws_sorted_usec_list_t *sul)
{
    stdin_flush(lws_container_of(sul, struct chproc, sul_in));
}

int chans_on_binary(struct runner *r, const uint8_t *data, size_t len)
{
    (void)r;
    struct chan_data d;
    char err[160];
    if (chan_data_parse(data, len, &d, err, sizeof err) < 0) {
        log_warn(C, "bad channel data from berthd: %s", err);
        return -1;
    }
    struct chproc *p = find(d.id);
    if (!p)
        return 0; /* ended meanwhile */
    if (p->in_fd < 0 || d.stream != CHAN_STDIO)
        return 0;
    p->last_us = now_us();
    if (buf_append(&p->pending, d.data, d.len) < 0) { /* past WINDOW: a breach */
        finish(p, "credit exceeded", -1, 1);
        return 0;
    }
    stdin_flush(p);
    return 0;
}

void chans_link_lost(struct runner *r)
{
    (void)r;
    while (procs)
        finish(procs, "the link to berthd was lost", -1, 0);
}

int chans_open_count(void) { return nprocs; }
