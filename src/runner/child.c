/* child.c - fork/exec with pipes on the lws loop; exits noticed through a
 * pidfd on the loop, with a slow polling reaper behind it. See child.h.
 * The list of live children and the reaper timer are module state (lws
 * runs one service thread here, LWS_MAX_SMP 1). */
#include "child.h"

#include "crypto.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* With a pidfd the exit wakes the loop at once and the timer is only the
 * pipe-grace check and a safety net; without one (kernels before 5.3) it
 * is how exits are noticed. */
#define REAP_INTERVAL_US (100 * 1000)
#define REAP_SLOW_US (500 * 1000)
#define PIPE_GRACE_US (2 * 1000 * 1000)
#define PIPE_DRAIN_MAX_US (60 * 1000 * 1000)
#define KILL_GRACE_US (5 * 1000 * 1000)

extern char **environ;

struct child_pipe {
    struct child *c;
    int stream;                    /* 1 stdout, 2 stderr, 0 the pidfd */
    struct lws *wsi;               /* NULL once closed */
    int open;                      /* adopted and not yet closed */
};

struct child {
    struct child *next;
    struct lws_context *ctx;
    pid_t pid;                     /* > 0 until reaped */
    int own_group;
    int status;
    int termsig;                   /* the signal that ended it, else 0 */
    lws_usec_t exited_at;          /* 0 while running */
    lws_usec_t last_rx;            /* the last read of output */
    int paused;                    /* child_pause: its pipes are not read */
    struct child_pipe pipes[2];
    struct child_pipe pidw;        /* the pidfd, readable once the child exited */
    child_output_cb on_output;
    child_exit_cb on_exit;
    void *arg;
    int forgotten;
    int killing;
    lws_sorted_usec_list_t sul_kill;
};

static struct child *children;
static lws_sorted_usec_list_t reap_sul;
static struct lws_context *reap_ctx;
static int reaping;

static void reap_tick(lws_sorted_usec_list_t *sul);

static void reap_schedule(void)
{
    int slow = 1;
    for (struct child *c = children; c; c = c->next)
        if (c->pid > 0 && !c->pidw.open)
            slow = 0;
    if (!reaping && reap_ctx) {
        reaping = 1;
        lws_sul_schedule(reap_ctx, 0, &reap_sul, reap_tick, slow ? REAP_SLOW_US : REAP_INTERVAL_US);
    }
}

static void unlink_child(struct child *c)
{
    for (struct child **pp = &children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

static void maybe_finish(struct child *c)
{
    if (c->pid > 0 || c->pipes[0].open || c->pipes[1].open || c->pidw.open)
        return;
    lws_sul_cancel(&c->sul_kill);
    unlink_child(c);
    if (!c->forgotten && c->on_exit)
        c->on_exit(c->arg, c->status);
    free(c);
}

/* waitpid(WNOHANG) on one child; records its status once it exited. */
static void try_reap(struct child *c, lws_usec_t now)
{
    int st;
    if (c->pid <= 0)
        return;
    pid_t p = waitpid(c->pid, &st, WNOHANG);
    if (p == c->pid || (p < 0 && errno == ECHILD)) {
        if (p != c->pid)
            c->status = -1;
        else if (WIFEXITED(st))
            c->status = WEXITSTATUS(st);
        else if (WIFSIGNALED(st)) {
            c->status = 128 + WTERMSIG(st);
            c->termsig = WTERMSIG(st);
        } else
            c->status = -1;
        c->pid = 0;
        c->exited_at = now;
    }
}

static void reap_tick(lws_sorted_usec_list_t *sul)
{
    lws_usec_t now = lws_now_usecs();
    reaping = 0;
    for (struct child *c = children, *next; c; c = next) {
        next = c->next;
        try_reap(c, now);
        /* After the exit, the pipes are read to their end. Only when
         * nothing came for PIPE_GRACE_US while they were being read (a
         * daemonised grandchild holds them open), or PIPE_DRAIN_MAX_US
         * after the exit whatever comes, does it stop listening: the grace
         * never runs while reading is paused for a slow link, so output
         * still in the pipe is not cut off. */
        lws_usec_t quiet = c->last_rx > c->exited_at ? c->last_rx : c->exited_at;
        if (c->pid == 0 && ((!c->paused && now - quiet > PIPE_GRACE_US) ||
                            now - c->exited_at > PIPE_DRAIN_MAX_US)) {
            for (int i = 0; i < 2; i++)
                if (c->pipes[i].wsi)
                    lws_set_timeout(c->pipes[i].wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
        maybe_finish(c);
    }
    if (children)
        reap_schedule();
}

/* A pipe closes with output still in it when its writers are gone while
 * reading was paused: poll then reports POLLHUP without POLLIN (POLLIN is
 * not asked for) and lws closes the wsi at once. What the pipe holds is
 * read here, before lws closes the fd: at most the pipe's capacity, so the
 * loop is bounded even if a grandchild still writes. */
static void drain_rest(struct child_pipe *p, int fd)
{
    char b[PROTO_CHUNK_MAX];
    ssize_t n;
    int cap = fd >= 0 ? fcntl(fd, F_GETPIPE_SZ) : -1;
    size_t left = cap > 0 ? (size_t)cap : 65536;

    while (fd >= 0 && left > 0 &&
           (n = read(fd, b, left < sizeof b ? left : sizeof b)) > 0) {
        left -= (size_t)n;
        p->c->last_rx = lws_now_usecs();
        if (!p->c->forgotten && p->c->on_output)
            p->c->on_output(p->c->arg, p->stream, b, (size_t)n);
    }
}

static int pipe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct child_pipe *p = lws_get_opaque_user_data(wsi);
    char b[PROTO_CHUNK_MAX]; /* a job.log chunk at most */
    ssize_t n;

    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT_FILE:
        if (p)
            p->wsi = wsi;
        break;
    case LWS_CALLBACK_RAW_RX_FILE:
        if (!p)
            return -1;
        if (p->stream == 0) {  /* the pidfd: the child exited */
            try_reap(p->c, lws_now_usecs());
            return p->c->pid > 0 ? 0 : -1;  /* -1: lws closes the pidfd */
        }
        n = read(lws_get_socket_fd(wsi), b, sizeof b);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;  /* EOF: lws closes the fd */
        p->c->last_rx = lws_now_usecs();
        if (!p->c->forgotten && p->c->on_output)
            p->c->on_output(p->c->arg, p->stream, b, (size_t)n);
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (p) {
            p->wsi = NULL;
            lws_set_opaque_user_data(wsi, NULL);
            if (p->stream)
                drain_rest(p, lws_get_socket_fd(wsi)); /* lws closes the fd after this */
            p->open = 0;
            maybe_finish(p->c);
        }
        break;
    default:
        break;
    }
    return 0;
}

const struct lws_protocols child_pipe_protocol = {
    .name = "berth-child-pipe",
    .callback = pipe_callback,
};

static void kill_tick(lws_sorted_usec_list_t *sul)
{
    struct child *c = lws_container_of(sul, struct child, sul_kill);
    if (c->pid <= 0)
        return;
    if (!c->killing) {
        c->killing = 1;
        child_kill(c, SIGTERM);
        lws_sul_schedule(c->ctx, 0, &c->sul_kill, kill_tick, KILL_GRACE_US);
    } else {
        child_kill(c, SIGKILL);
    }
}

static void child_exec(const struct child_spec *s, int out, int err)
{
    sigset_t none;
    if (s->new_session)
        setsid();
    else
        setpgid(0, 0);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0)
        dup2(nul, 0);
    if (out < 0)
        out = nul;
    if (err < 0)
        err = out;
    if (out >= 0)
        dup2(out, 1);
    if (err >= 0)
        dup2(err, 2);
    close_range(3, ~0u, 0);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (s->cwd && chdir(s->cwd) < 0)
        _exit(126);
    char *const *envp = s->envp ? s->envp : environ;
    if (strchr(s->argv[0], '/'))
        execve(s->argv[0], s->argv, envp);
    else
        execvpe(s->argv[0], s->argv, envp);
    _exit(127);
}

static int adopt(struct lws_vhost *vh, struct child_pipe *p, int fd)
{
    lws_adopt_desc_t a;
    memset(&a, 0, sizeof a);
    a.vh = vh;
    a.type = LWS_ADOPT_RAW_FILE_DESC;
    a.fd.filefd = fd;
    a.vh_prot_name = child_pipe_protocol.name;
    a.opaque = p;
    p->open = 1;
    if (!lws_adopt_descriptor_vhost_via_info(&a)) {
        p->open = 0;  /* lws closed the fd */
        return -1;
    }
    return 0;
}

int child_start(struct lws_context *ctx, struct lws_vhost *vh, const struct child_spec *spec,
                child_output_cb on_output, child_exit_cb on_exit, void *arg,
                struct child **out, char *err, size_t errlen)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    struct child *c = NULL;
    int rc = -1;

    if (out)
        *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (spec->capture && (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto done;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        if (spec->capture)
            child_exec(spec, po[1], pe[1]);
        child_exec(spec, spec->out_fd, -1);
    }
    c->ctx = ctx;
    c->pid = pid;
    c->own_group = 1;
    c->on_output = on_output;
    c->on_exit = on_exit;
    c->arg = arg;
    c->pipes[0].c = c->pipes[1].c = c->pidw.c = c;
    c->pipes[0].stream = 1;
    c->pipes[1].stream = 2;
    c->pidw.stream = 0;
    c->next = children;
    children = c;
    reap_ctx = ctx;
    int pfd = pidfd_open(pid, 0);  /* our own child, not yet reaped: cannot be another process */
    if (pfd >= 0)
        adopt(vh, &c->pidw, pfd);  /* on failure the timer notices the exit */
    if (spec->capture) {
        close(po[1]);
        close(pe[1]);
        po[1] = pe[1] = -1;
        fcntl(po[0], F_SETFL, O_NONBLOCK);
        fcntl(pe[0], F_SETFL, O_NONBLOCK);
        adopt(vh, &c->pipes[0], po[0]);  /* on failure the output is lost, not the child */
        adopt(vh, &c->pipes[1], pe[0]);
        po[0] = pe[0] = -1;
    }
    if (spec->timeout_s > 0)
        lws_sul_schedule(ctx, 0, &c->sul_kill, kill_tick, (lws_usec_t)spec->timeout_s * LWS_USEC_PER_SEC);
    reap_schedule();
    if (out)
        *out = c;
    c = NULL;
    rc = 0;
done:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    free(c);
    return rc;
}

void child_kill(struct child *c, int sig)
{
    if (!c || c->pid <= 0)
        return;
    if (kill(-c->pid, sig) < 0)
        kill(c->pid, sig);
}

pid_t child_pid(const struct child *c)
{
    return c ? c->pid : 0;
}

int child_signal(const struct child *c)
{
    return c ? c->termsig : 0;
}

void child_pause(struct child *c, int paused)
{
    if (!c)
        return;
    if (c->paused && !paused)
        c->last_rx = lws_now_usecs(); /* the grace starts again from here */
    c->paused = paused;
    for (int i = 0; i < 2; i++)
        if (c->pipes[i].wsi)
            lws_rx_flow_control(c->pipes[i].wsi, !paused);
}

void child_forget(struct child *c)
{
    if (c)
        c->forgotten = 1;
}

char *child_env_pair(const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    char *s = malloc(n + v + 2);
    if (!s)
        return NULL;
    memcpy(s, name, n);
    s[n] = '=';
    memcpy(s + n + 1, value, v + 1);
    return s;
}

char **child_env_base(void)
{
    static const char *const keep[] = {"PATH", "HOME", "DOCKER_CONFIG", "TMPDIR"};
    char **e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        const char *v = getenv(keep[k]);
        if (!v && strcmp(keep[k], "PATH") == 0)
            v = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
        if (v && child_env_add(&e, keep[k], v) < 0)
            goto fail;
    }
    if (child_env_add(&e, "LC_ALL", "C") < 0)
        goto fail;
    return e;
fail:
    child_env_free(e);
    return NULL;
}

int child_env_add(char ***envp, const char *name, const char *value)
{
    size_t n = 0;
    while ((*envp)[n])
        n++;
    char *pair = child_env_pair(name, value);
    char **e = pair ? realloc(*envp, (n + 2) * sizeof *e) : NULL;
    if (!e) {
        if (pair) {
            crypto_wipe(pair, strlen(pair));
            free(pair);
        }
        return -1;
    }
    e[n] = pair;
    e[n + 1] = NULL;
    *envp = e;
    return 0;
}

void child_env_free(char **envp)
{
    if (!envp)
        return;
    for (char **e = envp; *e; e++) {
        crypto_wipe(*e, strlen(*e));
        free(*e);
    }
    free(envp);
}
