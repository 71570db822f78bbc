/* child.h - child processes for the deploy pipeline (docker build, git,
 * haproxy), run without ever blocking the lws loop.
 *
 * fork/exec (no shell unless the argv names one), optional stdout/stderr
 * pipes adopted onto the loop (LWS_ADOPT_RAW_FILE_DESC), exit noticed at
 * once through the child's pidfd (pidfd_open, Linux 5.3+) adopted the same
 * way, then waitpid(pid, WNOHANG); a sul timer polls waitpid every 100 ms
 * where there is no pidfd, every 500 ms as a safety net otherwise (no
 * SIGCHLD handler, no waitpid(-1), so other modules' children are left
 * alone). A child's environment is built explicitly by the caller: secrets
 * go there (or in an inherited fd), never in argv.
 *
 * Owns: struct child, freed by this module right after its exit callback
 * returns. The caller may child_kill() it until then.
 */
#ifndef BERTH_RUNNER_CHILD_H
#define BERTH_RUNNER_CHILD_H

#include <libwebsockets.h>
#include <stddef.h>
#include <sys/types.h>

struct child;

/* stream: 1 stdout, 2 stderr. Data is not NUL-terminated. */
typedef void (*child_output_cb)(void *arg, int stream, const char *data, size_t len);
/* status: exit code, 128 + signal if killed, -1 if it could not be run. */
typedef void (*child_exit_cb)(void *arg, int status);

struct child_spec {
    char *const *argv;       /* argv[0] is an absolute path or found in PATH */
    char *const *envp;       /* the child's whole environment; NULL: inherit */
    const char *cwd;         /* NULL: inherit */
    int capture;             /* 1: stdout/stderr to output_cb on the loop */
    int out_fd;              /* capture == 0: stdout+stderr go here (-1: /dev/null) */
    int new_session;         /* setsid(): outlives our process group's signals */
    int timeout_s;           /* > 0: SIGTERM then SIGKILL 5 s later */
};

extern const struct lws_protocols child_pipe_protocol;

/* Starts the child. 0 and *out set (may be NULL if not wanted), or -1 with
 * a reason in err. Callbacks run on the loop thread. */
int child_start(struct lws_context *ctx, struct lws_vhost *vh, const struct child_spec *spec,
                child_output_cb on_output, child_exit_cb on_exit, void *arg,
                struct child **out, char *err, size_t errlen);
/* Signals the child's process group (or the child if it kept ours). */
void child_kill(struct child *c, int sig);
pid_t child_pid(const struct child *c);
/* The signal that ended the child, 0 if it exited (read it in the exit
 * callback: the child is freed when that returns). */
int child_signal(const struct child *c);
/* Stops (1) or resumes (0) reading its output: the pipes fill and the
 * child blocks on write until resumed. */
void child_pause(struct child *c, int paused);
/* Stops calling back (the caller is going away); the child is still
 * reaped so no zombie stays, and its pipes are drained and dropped. */
void child_forget(struct child *c);

/* Builds "NAME=value" (malloc'ed) for an envp array. */
char *child_env_pair(const char *name, const char *value);
/* The environment of every child the runner starts for itself (git, docker
 * build, curl): PATH (a default when unset), HOME, DOCKER_CONFIG and TMPDIR
 * as the runner has them, and LC_ALL=C; nothing else of the runner's leaks
 * in (DOCKER_HOST is docker.c's to set, from the runner's one Docker
 * endpoint). NULL-terminated, malloc'ed; NULL when out of memory. */
char **child_env_base(void);
/* Appends NAME=value to an envp array built by child_env_base (it grows).
 * 0, or -1 when out of memory (the array is left as it was). */
int child_env_add(char ***envp, const char *name, const char *value);
/* Frees an envp array built by the caller, wiping each entry first (they
 * may hold secrets). */
void child_env_free(char **envp);

#endif
