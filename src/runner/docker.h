/* docker.h - the runner's Docker Engine client (API v1.41 over the unix
 * socket) plus the two children a deploy runs before it: `git` (an exact
 * commit, shallow) and `docker build` (legacy builder).
 *
 * The one implementation of both in the runner: deploy.c and everything
 * after it use it, and tests/tools/deployctl drives this same code.
 *
 * Every operation is non-blocking on the lws loop: API calls are lws HTTP
 * client connections to "+<socket path>" (one connection per request),
 * children are child.c processes. Each operation calls back exactly once,
 * on the loop thread, unless docker_free() (requests) or child_forget()
 * (children) came first.
 *
 * Secrets: container env values travel only in the create request's body
 * (wiped after it is written); git credentials only in the environment of
 * the git child, read back by a 0700 GIT_ASKPASS helper that holds no
 * secret itself. Neither ever reaches argv, a URL, a log line or a file we
 * write. (Docker itself keeps a container's env in its own config store.)
 */
#ifndef BERTH_RUNNER_DOCKER_H
#define BERTH_RUNNER_DOCKER_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
#define DOCKER_API "/v1.41"

struct docker;
struct child;

/* status: HTTP status (0 if the request never got an answer).
 * body: the parsed JSON answer (borrowed: valid during the call; NULL if
 * the answer was empty or not JSON). err: NULL on 2xx, else a one-line
 * reason (Docker's "message" when it sent one). */
typedef void (*docker_cb)(void *arg, int status, json_t *body, const char *err);

/* The HTTP client protocol; the vhost passed to docker_new must list it
 * (and child_pipe_protocol for builds and clones). */
extern const struct lws_protocols docker_protocol;

/* The runner's one Docker endpoint (a unix socket path), resolved once at
 * start: flag (--docker-host) if given, else $DOCKER_HOST, else
 * DOCKER_DEFAULT_SOCKET. Both forms name a unix socket: "unix:///path" or
 * "/path" (an absolute path). 0, or -1 with the reason in err (tcp://,
 * ssh:// and relative paths are refused: the runner speaks to Docker over
 * a unix socket only). */
int docker_endpoint_parse(const char *value, char *path, size_t n, char *err, size_t errlen);
int docker_endpoint_resolve(const char *flag, char *path, size_t n, char *err, size_t errlen);

/* socket: the endpoint's path (NULL: DOCKER_DEFAULT_SOCKET). 0 or -1 (out
 * of memory). */
int docker_new(struct lws_context *ctx, struct lws_vhost *vh, const char *socket, struct docker **out);
/* Drops in-flight requests without calling back. */
void docker_free(struct docker *d);
/* The socket path it talks to. */
const char *docker_socket(const struct docker *d);

/* Any API call: method, path below /v1.41 (e.g. "/containers/json"),
 * optional JSON body (borrowed). timeout_s <= 0: 60 s. */
int docker_request(struct docker *d, const char *method, const char *path, const json_t *body,
                   int timeout_s, docker_cb cb, void *arg);

/* A GET whose 2xx answer is not JSON: its bytes go to on_data as they
 * come (nothing is buffered), then cb once as for docker_request (body
 * NULL; err set on a non-2xx answer, a cut connection or the timeout,
 * after whatever on_data already got). */
typedef void (*docker_data_cb)(void *arg, const char *data, size_t len);
int docker_request_stream(struct docker *d, const char *path, int timeout_s, docker_data_cb on_data,
                          docker_cb cb, void *arg);

int docker_ping(struct docker *d, docker_cb cb, void *arg);       /* GET /_ping */
int docker_version(struct docker *d, docker_cb cb, void *arg);    /* GET /version */

struct docker_container_spec {
    const char *name;              /* optional container name */
    const char *image;
    const char *app, *deployment, *color;  /* labels berth.app / .deployment / .color */
    const char *const *env;        /* "NAME=value", env_count of them; memory only */
    size_t env_count;
    int port;                      /* container TCP port (exposed), 0: none */
    const char *publish_ip;        /* publish port on this host IP, random host port */
    int64_t memory_bytes;          /* 0: no limit */
    double cpus;                   /* 0: no limit */
    const char *restart;           /* restart policy name, NULL: "unless-stopped" */
    const char *network;           /* NULL: the default bridge */
    const char *owner;             /* label berth.runner (which runner made it), NULL: none */
};

/* Answer: {"Id": "...", "Warnings": [...]}. */
int docker_container_create(struct docker *d, const struct docker_container_spec *s, docker_cb cb, void *arg);
int docker_container_start(struct docker *d, const char *id, docker_cb cb, void *arg);
int docker_container_inspect(struct docker *d, const char *id, docker_cb cb, void *arg);
int docker_container_stop(struct docker *d, const char *id, int timeout_s, docker_cb cb, void *arg);
int docker_container_remove(struct docker *d, const char *id, int force, docker_cb cb, void *arg);
/* GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1&tail=N (no
 * follow): Docker's framing, for logparse.c. */
int docker_container_logs_tail(struct docker *d, const char *id, int tail, int timeout_s,
                               docker_data_cb on_data, docker_cb cb, void *arg);
/* label: "key" or "key=value"; all: include stopped containers. */
int docker_container_list(struct docker *d, const char *label, int all, docker_cb cb, void *arg);
int docker_image_list(struct docker *d, const char *label, docker_cb cb, void *arg);
/* Every tag of repository repo (filter "reference"). */
int docker_image_list_repo(struct docker *d, const char *repo, docker_cb cb, void *arg);
int docker_image_remove(struct docker *d, const char *id, int force, docker_cb cb, void *arg);
/* GET /images/{ref}/json: is it on this host? */
int docker_image_inspect(struct docker *d, const char *ref, docker_cb cb, void *arg);

/* An answer's body and status as docker_request's callback gets them:
 * *body is the parsed JSON (any value; NULL when empty or not JSON; the
 * caller decrefs). 0 on 2xx, else -1 with the reason in err (Docker's
 * "message", or the status). */
int docker_answer_parse(const char *data, size_t len, int status, json_t **body, char *err,
                        size_t errlen);

/* Inspect helpers (on a /containers/{id}/json answer). 0 or -1. */
/* IP address on network (NULL: the first network that has one). */
int docker_inspect_ip(json_t *inspect, const char *network, char *out, size_t outlen);
/* Host address and port a container TCP port is published on. */
int docker_inspect_published(json_t *inspect, int port, char *ip, size_t iplen, int *host_port);
/* State.Status ("running", "exited", ...) or NULL. */
const char *docker_inspect_status(json_t *inspect);

/* Pruning: of the images in list (a /images/json answer, sorted newest
 * first by Created), the ones past the first keep, except the one tagged
 * in_use (the serving deployment's image); fills refs with what to remove
 * (borrowed from list): each of such an image's tags (one image can carry
 * several deployments' tags when a build changed nothing), or its id when
 * it has none. Returns their count. */
size_t docker_images_to_prune(json_t *list, size_t keep, const char *in_use, const char **refs, size_t max);

/* --- usage and disk (pure: on answers Docker sent; fuzzed) --- */

/* One /containers/{id}/stats?stream=false&one-shot=true answer, read the
 * way `docker stats` reads it on Linux. cpu_total / system_total /
 * online_cpus: the CPU counters (0 when absent); mem_bytes: usage minus
 * the page cache that can go (cgroup v1 total_inactive_file, v2
 * inactive_file, else cache), -1 when absent; mem_limit: -1 when absent. */
struct docker_usage {
    uint64_t cpu_total, system_total;
    unsigned online_cpus;
    int64_t mem_bytes, mem_limit;
};
void docker_stats_usage(json_t *stats, struct docker_usage *out);
/* CPU use between two samples of one container, in percent of one CPU
 * times online CPUs (as `docker stats`); -1 when it cannot be told (no
 * progress of the system counter, counters went back). */
double docker_cpu_percent(const struct docker_usage *prev, const struct docker_usage *now);

#define DOCKER_DF_MAX 1000 /* containers, and images, in a df summary (1 MiB frames) */
/* A /system/df answer summarised for prune (docs/containers.md):
 * {"containers":[{"id","name","image_id","state","labels"{berth.*},"size"}],
 *  "images":[{"id","tags","created","size","shared","containers"}],
 *  "truncated"}. Only well-formed entries (a full id) are kept. NULL only
 * when out of memory. */
json_t *docker_df_summary(json_t *df);
/* Where a summary's dangling images (no tag, no container) come from, on
 * a /images/json?all=1 answer (every image with its ParentId): each gets
 * "lineage", the tags of the tagged images that descend from its nearest
 * ancestor that has any (so a failed build's leftover layer on top of an
 * app's cached layers names that app's images; one on top of a shared
 * base image names the base too). Lineages past DOCKER_LINEAGE_MAX tags,
 * or not found within the walk's budget, are left out. And every image
 * gets "unique": the bytes its removal frees, its size less that of its
 * nearest ancestor that stays (tagged, or with another child). */
#define DOCKER_LINEAGE_MAX 16
void docker_df_lineage(json_t *summary, json_t *all);

/* --- children --- */

/* stream 1 stdout, 2 stderr; status as child.h (exit code, 128+sig, -1). */
typedef void (*docker_output_cb)(void *arg, int stream, const char *data, size_t len);
typedef void (*docker_exit_cb)(void *arg, int status);

/* Both children below are child.c processes: *out (may be NULL) gets the
 * child, which the caller may child_kill / child_pid / child_forget until
 * its exit callback returned, exactly as with child_start. docker_free
 * does not touch them. Their environment is child_env_base() plus what
 * each needs; secrets only ever go there or in a 0600 file. */

struct docker_build_spec {
    const char *context_dir;       /* the build context (resolved: no link left in it) */
    const char *dockerfile;        /* -f: absolute, or relative to context_dir; NULL: none */
    const char *image;             /* -t: the image name and tag (berthd's) */
    int64_t memory_bytes;          /* --memory for RUN steps, 0: none */
    double cpus;                   /* --cpu-quota (with 100 ms period), 0: none */
    int timeout_s;                 /* > 0: child.c kills it after that long */
    int new_session;               /* its own process group (crash recovery kills it) */
};
/* Runs `docker build --force-rm -t IMAGE [-f FILE] [limits] -- CONTEXT`
 * with DOCKER_BUILDKIT=0 and DOCKER_HOST set to this client's socket, in
 * context_dir. No --label: the legacy builder turns each into a last
 * LABEL step (a container and a commit, about 1 s) rerun whenever a layer
 * changed; images are found by name, containers carry the labels. */
int docker_build(struct docker *d, const struct docker_build_spec *s, docker_output_cb on_output,
                 docker_exit_cb on_exit, void *arg, struct child **out, char *err, size_t errlen);

struct docker_clone_spec {
    const char *url;               /* no password in it */
    const char *branch;            /* fetched when commit is not a full id */
    const char *commit;            /* NULL/"": the branch's head; 40 or 64 hex: that
                                      commit, shallow; 4..39 hex: a prefix, resolved
                                      in the branch's history */
    const char *dir;               /* created; must not exist or be empty */
    const char *helper_dir;        /* where the 0700 askpass helper is written */
    const char *username;          /* optional HTTP credentials (memory only) */
    const char *password;
    const char *ssh_key;           /* optional deploy key (memory only) ... */
    const char *key_file;          /* ... written here (0600) for ssh -i; the caller
                                      removes it once git exited */
    const char *known_hosts;       /* ssh's UserKnownHostsFile (trust on first use) */
    int timeout_s;                 /* > 0: child.c kills it after that long */
    int new_session;
};
/* git init DIR; git fetch (shallow when it can); git checkout; and last
 * `git rev-parse HEAD` on stdout (docker_clone_commit reads it). argv[0]
 * of the shell is "berth-clone" (crash recovery looks for it). */
int docker_git_clone(struct docker *d, const struct docker_clone_spec *s, docker_output_cb on_output,
                     docker_exit_cb on_exit, void *arg, struct child **out, char *err, size_t errlen);
/* The commit a clone checked out: its stdout's last line (40 or 64 lower
 * hex). 0, or -1 if there is none. */
int docker_clone_commit(const char *out, size_t len, char *commit, size_t n);

/* Writes (or rewrites) helper_dir/git-askpass, mode 0700, and puts its
 * path in out. The script answers git's prompts from the environment
 * variables BERTH_GIT_USERNAME / BERTH_GIT_PASSWORD. */
int docker_askpass_helper(const char *helper_dir, char *out, size_t outlen);

#endif
