/* deployctl.c - drives the runner's deploy building blocks (docker.c,
 * edge.c, child.c: the very files berth-runner is built from, the ones
 * its deploy pipeline calls) for the integration tests, on one lws loop
 * like the runner's. The Docker endpoint is resolved as the runner does
 * (docker_endpoint_resolve: DOCKER_SOCKET here standing in for
 * --docker-host, else DOCKER_HOST, else /var/run/docker.sock).
 *
 * Reads one JSON command per line on stdin (so env values and git secrets
 * never appear in argv), answers one JSON line per command on stdout, in
 * order. Commands run one at a time (clone: url, branch, commit, dir,
 * helper_dir, username/password or ssh_key + key_file + known_hosts;
 * build: context, dockerfile, image, memory, cpus). Ops:
 *   ping, version, clone, build, run (create+start+inspect), inspect, stop,
 *   rm, ps, images, prune, rmi, edge_start, edge_app, edge_swap, edge_cmd,
 *   edge_state, edge_stop, quit.
 */
#include "docker.h"
#include "edge.h"
#include "child.h"

#include "buf.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct lws_context *ctx;
static struct lws_vhost *vh;
static struct docker *dk;
static struct edge *eg;
static int quit;
static struct buf inbuf;
static json_t *pending;            /* commands waiting to run */
static int busy;

/* the command being run */
static struct {
    json_t *cmd;
    json_t *reply;
    struct buf out;                /* child output, capped */
    int step;
    char id[128];
    int port;
    size_t prune_left;
} cur;

static void next_command(void);

static void answer(json_t *reply)
{
    char *s = json_dumps(reply, JSON_COMPACT);
    if (s) {
        printf("%s\n", s);
        fflush(stdout);
        free(s);
    }
    json_decref(reply);
    json_decref(cur.cmd);
    buf_release(&cur.out);
    memset(&cur, 0, sizeof cur);
    busy = 0;
    next_command();
}

static void fail(const char *err)
{
    json_t *r = cur.reply ? cur.reply : json_object();
    cur.reply = NULL;
    json_object_set_new(r, "ok", json_false());
    json_object_set_new(r, "error", json_string(err ? err : "failed"));
    answer(r);
}

static void succeed(void)
{
    json_t *r = cur.reply ? cur.reply : json_object();
    cur.reply = NULL;
    json_object_set_new(r, "ok", json_true());
    answer(r);
}

static const char *str(const char *k)
{
    return json_string_value(json_object_get(cur.cmd, k));
}

static json_int_t num(const char *k, json_int_t dflt)
{
    json_t *v = json_object_get(cur.cmd, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static json_t *reply(void)
{
    if (!cur.reply)
        cur.reply = json_object();
    return cur.reply;
}

/* --- docker callbacks --- */

static void on_simple(void *arg, int status, json_t *body, const char *err)
{
    json_object_set_new(reply(), "status", json_integer(status));
    if (body)
        json_object_set(reply(), "body", body);
    if (err)
        fail(err);
    else
        succeed();
}

static void on_child_output(void *arg, int stream, const char *data, size_t len)
{
    if (cur.out.len + len > 60000)
        return;  /* keep the tail short */
    buf_append(&cur.out, data, len);
}

static void on_child_exit(void *arg, int status)
{
    char commit[72];
    json_object_set_new(reply(), "exit", json_integer(status));
    json_object_set_new(reply(), "output", json_stringn(cur.out.data ? cur.out.data : "", cur.out.len));
    if (arg && docker_clone_commit(cur.out.data ? cur.out.data : "", cur.out.len, commit, sizeof commit) == 0)
        json_object_set_new(reply(), "commit", json_string(commit));
    if (arg && str("key_file"))
        unlink(str("key_file"));  /* the caller's part: the key goes once git exited */
    if (status != 0)
        fail("child failed");
    else
        succeed();
}

static void run_step(void *arg, int status, json_t *body, const char *err);

static void run_step(void *arg, int status, json_t *body, const char *err)
{
    char ip[64];
    int hp;
    if (err) {
        fail(err);
        return;
    }
    switch (cur.step++) {
    case 0: /* created */
        util_strlcpy(cur.id, json_string_value(json_object_get(body, "Id")), sizeof cur.id);
        json_object_set_new(reply(), "id", json_string(cur.id));
        if (docker_container_start(dk, cur.id, run_step, NULL) < 0)
            fail("start: bad request");
        break;
    case 1: /* started */
        if (docker_container_inspect(dk, cur.id, run_step, NULL) < 0)
            fail("inspect: bad request");
        break;
    case 2: /* inspected */
        json_object_set_new(reply(), "state", json_string(docker_inspect_status(body)));
        if (docker_inspect_ip(body, NULL, ip, sizeof ip) == 0)
            json_object_set_new(reply(), "ip", json_string(ip));
        if (cur.port && docker_inspect_published(body, cur.port, ip, sizeof ip, &hp) == 0) {
            json_object_set_new(reply(), "host_ip", json_string(ip));
            json_object_set_new(reply(), "host_port", json_integer(hp));
        }
        succeed();
        break;
    }
}

static void op_run(void)
{
    struct docker_container_spec s;
    json_t *env = json_object_get(cur.cmd, "env"), *v;
    size_t n = json_array_size(env), k;
    const char **e = calloc(n + 1, sizeof *e);
    memset(&s, 0, sizeof s);
    json_array_foreach(env, k, v)
        e[k] = json_string_value(v);
    s.name = str("name");
    s.image = str("image");
    s.app = str("app");
    s.deployment = str("deployment");
    s.color = str("color");
    s.env = e;
    s.env_count = n;
    s.port = cur.port = (int)num("port", 0);
    s.publish_ip = str("publish_ip");
    s.memory_bytes = num("memory", 0);
    s.cpus = json_number_value(json_object_get(cur.cmd, "cpus"));
    if (docker_container_create(dk, &s, run_step, NULL) < 0)
        fail("create: bad request");
    free(e);
}

static void prune_step(void *arg, int status, json_t *body, const char *err)
{
    const char *ids[64];
    if (err) {
        fail(err);
        return;
    }
    if (cur.step++ == 0) {
        size_t n = docker_images_to_prune(body, (size_t)num("keep", 3), NULL, ids, 64);
        json_t *a = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(a, json_string(ids[k]));
        json_object_set_new(reply(), "removed", a);
        cur.prune_left = n;
        if (!n) {
            succeed();
            return;
        }
        for (size_t k = 0; k < n; k++)
            docker_image_remove(dk, ids[k], 1, prune_step, NULL);
        return;
    }
    if (--cur.prune_left == 0)
        succeed();
}

/* --- edge callbacks --- */

static void on_edge(void *arg, int rc, const char *msg)
{
    if (msg)
        json_object_set_new(reply(), "message", json_string(msg));
    if (rc < 0)
        fail(msg);
    else
        succeed();
}

static void on_edge_reply(void *arg, int rc, const char *text)
{
    json_object_set_new(reply(), "text", json_string(text ? text : ""));
    if (rc < 0)
        fail(text);
    else
        succeed();
}

static void on_edge_swap(void *arg, int rc, const struct edge_swap_report *rep, const char *msg)
{
    if (rep) {
        json_object_set_new(reply(), "drain_ms", json_integer(rep->drain_ms));
        json_object_set_new(reply(), "total_ms", json_integer(rep->total_ms));
        json_object_set_new(reply(), "drained", json_boolean(rep->drained));
    }
    on_edge(arg, rc, msg);
}

static void run_command(void)
{
    const char *op = str("op");
    char err[512] = "";
    int rc = 0;
    if (!op) {
        fail("no op");
        return;
    }
    if (!strcmp(op, "quit")) {
        quit = 1;
        succeed();
        lws_cancel_service(ctx);
    } else if (!strcmp(op, "ping")) {
        rc = docker_ping(dk, on_simple, NULL);
    } else if (!strcmp(op, "version")) {
        rc = docker_version(dk, on_simple, NULL);
    } else if (!strcmp(op, "clone")) {
        struct docker_clone_spec s = {
            .url = str("url"), .branch = str("branch"), .commit = str("commit"), .dir = str("dir"),
            .helper_dir = str("helper_dir"), .username = str("username"), .password = str("password"),
            .ssh_key = str("ssh_key"), .key_file = str("key_file"), .known_hosts = str("known_hosts"),
            .timeout_s = (int)num("timeout", 600),
        };
        rc = docker_git_clone(dk, &s, on_child_output, on_child_exit, &cur, NULL, err, sizeof err);
    } else if (!strcmp(op, "build")) {
        struct docker_build_spec s = {
            .context_dir = str("context"), .dockerfile = str("dockerfile"), .image = str("image"),
            .memory_bytes = num("memory", 0), .cpus = json_number_value(json_object_get(cur.cmd, "cpus")),
            .timeout_s = (int)num("timeout", 1800),
        };
        rc = docker_build(dk, &s, on_child_output, on_child_exit, NULL, NULL, err, sizeof err);
    } else if (!strcmp(op, "run")) {
        op_run();
    } else if (!strcmp(op, "inspect")) {
        rc = docker_container_inspect(dk, str("id"), on_simple, NULL);
    } else if (!strcmp(op, "stop")) {
        rc = docker_container_stop(dk, str("id"), (int)num("timeout", 5), on_simple, NULL);
    } else if (!strcmp(op, "rm")) {
        rc = docker_container_remove(dk, str("id"), 1, on_simple, NULL);
    } else if (!strcmp(op, "ps")) {
        rc = docker_container_list(dk, str("label"), 1, on_simple, NULL);
    } else if (!strcmp(op, "images")) {
        rc = str("repo") ? docker_image_list_repo(dk, str("repo"), on_simple, NULL)
                         : docker_image_list(dk, str("label"), on_simple, NULL);
    } else if (!strcmp(op, "rmi")) {
        rc = docker_image_remove(dk, str("id"), 1, on_simple, NULL);
    } else if (!strcmp(op, "prune")) {
        rc = str("repo") ? docker_image_list_repo(dk, str("repo"), prune_step, NULL)
                         : docker_image_list(dk, str("label"), prune_step, NULL);
    } else if (!strcmp(op, "edge_start")) {
        struct edge_options o = {.dir = str("dir"), .bind_addr = str("bind")};
        if (!eg && edge_new(ctx, vh, &o, &eg) < 0) {
            fail("edge_new failed");
            return;
        }
        rc = edge_start(eg, on_edge, NULL);
    } else if (!strcmp(op, "edge_app")) {
        json_t *d = json_object_get(cur.cmd, "domains"), *v;
        size_t n = json_array_size(d), k;
        const char *doms[32];
        json_array_foreach(d, k, v)
            if (k < 32)
                doms[k] = json_string_value(v);
        rc = eg ? edge_app_set(eg, str("app"), (int)num("port", 0), doms, n < 32 ? n : 32, on_edge, NULL) : -1;
    } else if (!strcmp(op, "edge_swap")) {
        rc = eg ? edge_swap(eg, str("app"), str("server"), str("addr"), (int)num("drain_ms", 30000), on_edge_swap,
                            NULL)
                : -1;
    } else if (!strcmp(op, "edge_cmd")) {
        rc = eg ? edge_command(eg, str("cmd"), on_edge_reply, NULL) : -1;
    } else if (!strcmp(op, "edge_stop")) {
        rc = eg ? edge_stop(eg, on_edge, NULL) : -1;
    } else {
        fail("unknown op");
        return;
    }
    if (rc < 0)
        fail(err[0] ? err : "rejected");
}

static void next_command(void)
{
    if (busy || quit || !json_array_size(pending))
        return;
    busy = 1;
    cur.cmd = json_incref(json_array_get(pending, 0));
    json_array_remove(pending, 0);
    buf_init(&cur.out, 1 << 20);
    run_command();
}

static int stdin_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    char b[4096];
    ssize_t n;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        n = read(lws_get_socket_fd(wsi), b, sizeof b);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0) {
            quit = 1;  /* stdin closed: finish the current command, then exit */
            return -1;
        }
        buf_append(&inbuf, b, (size_t)n);
        for (char *nl; inbuf.data && (nl = memchr(inbuf.data, '\n', inbuf.len));) {
            size_t l = (size_t)(nl - inbuf.data);
            json_error_t je;
            json_t *c = json_loadb(inbuf.data, l, 0, &je);
            if (c)
                json_array_append_new(pending, c);
            else
                printf("{\"ok\":false,\"error\":\"bad json\"}\n");
            memmove(inbuf.data, nl + 1, inbuf.len - l - 1);
            inbuf.len -= l + 1;
            inbuf.data[inbuf.len] = '\0';
        }
        next_command();
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols stdin_protocol = {.name = "deployctl-stdin", .callback = stdin_callback};

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_protocols list[6];
    lws_adopt_desc_t a;
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    if (getenv("DEPLOYCTL_DEBUG"))
        log_set_level(LOG_DEBUG);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    memset(list, 0, sizeof list);
    list[0] = docker_protocol;
    list[1] = child_pipe_protocol;
    list[2] = edge_protocol;
    list[3] = stdin_protocol;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = list;
    info.pt_serv_buf_size = 4096;
    ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    vh = lws_get_vhost_by_name(ctx, "default");
    pending = json_array();
    buf_init(&inbuf, 1 << 20);
    char sock[PATH_MAX], why[300];
    if (docker_endpoint_resolve(getenv("DOCKER_SOCKET"), sock, sizeof sock, why, sizeof why) < 0) {
        fprintf(stderr, "deployctl: %s\n", why);
        goto done;
    }
    if (docker_new(ctx, vh, sock, &dk) < 0)
        goto done;
    fcntl(0, F_SETFL, O_NONBLOCK);
    memset(&a, 0, sizeof a);
    a.vh = vh;
    a.type = LWS_ADOPT_RAW_FILE_DESC;
    a.fd.filefd = 0;
    a.vh_prot_name = stdin_protocol.name;
    if (!lws_adopt_descriptor_vhost_via_info(&a))
        goto done;
    while (!(quit && !busy))
        if (lws_service(ctx, 0) < 0)
            break;
    rc = 0;
done:
    edge_free(eg);
    docker_free(dk);
    lws_context_destroy(ctx);
    json_decref(pending);
    buf_release(&inbuf);
    return rc;
}
