/* test_docker_answer.c - docker_answer_parse (src/runner/docker.c) on
 * answers captured from the Docker Engine (tests/fuzz/corpus/docker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"

static int parse(const char *body, int status, json_t **out, char *err, size_t errlen)
{
    err[0] = '\0';
    return docker_answer_parse(body, strlen(body), status, out, err, errlen);
}

static void answers(void **state)
{
    (void)state;
    json_t *b = NULL;
    char err[128];
    assert_int_equal(parse("{\"Id\":\"42406a15\",\"Warnings\":[]}", 201, &b, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(b, "Id")), "42406a15");
    json_decref(b);
    assert_int_equal(parse("OK", 200, &b, err, sizeof err), 0);
    assert_null(b);
    assert_int_equal(parse("", 204, &b, err, sizeof err), 0);
    assert_null(b);
    assert_int_equal(parse("{\"message\":\"No such container: nosuch\"}\n", 404, &b, err, sizeof err), -1);
    assert_string_equal(err, "No such container: nosuch");
    json_decref(b);
    assert_int_equal(parse("<html>", 502, &b, err, sizeof err), -1);
    assert_string_equal(err, "Docker answered HTTP 502");
}

/* Found by tests/fuzz/fuzz_docker: an error answer whose "message" is ""
 * gave an empty reason (deploy steps then failed with no text). */
static void empty_message(void **state)
{
    (void)state;
    json_t *b = NULL;
    char err[128];
    assert_int_equal(parse("{\"message\":\"\"}", 500, &b, err, sizeof err), -1);
    assert_string_equal(err, "Docker answered HTTP 500");
    json_decref(b);
    assert_int_equal(parse("{\"message\":7}", 409, &b, err, sizeof err), -1);
    assert_string_equal(err, "Docker answered HTTP 409");
    json_decref(b);
}

/* The runner's one Docker endpoint: --docker-host, else DOCKER_HOST,
 * else the default; unix sockets only. */
static void endpoint(void **state)
{
    char path[128], err[300];
    (void)state;
    assert_int_equal(docker_endpoint_parse("unix:///run/user/1000/docker.sock", path, sizeof path, err,
                                           sizeof err), 0);
    assert_string_equal(path, "/run/user/1000/docker.sock");
    assert_int_equal(docker_endpoint_parse("/var/run/docker.sock", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/var/run/docker.sock");
    assert_int_equal(docker_endpoint_parse("tcp://127.0.0.1:2375", path, sizeof path, err, sizeof err), -1);
    assert_non_null(strstr(err, "tcp://"));
    assert_int_equal(docker_endpoint_parse("unix://relative.sock", path, sizeof path, err, sizeof err), -1);
    assert_int_equal(docker_endpoint_parse("", path, sizeof path, err, sizeof err), -1);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(docker_endpoint_parse(longp, path, sizeof path, err, sizeof err), -1);

    unsetenv("DOCKER_HOST");
    assert_int_equal(docker_endpoint_resolve(NULL, path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, DOCKER_DEFAULT_SOCKET);
    setenv("DOCKER_HOST", "unix:///tmp/d.sock", 1);
    assert_int_equal(docker_endpoint_resolve(NULL, path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/tmp/d.sock");
    assert_int_equal(docker_endpoint_resolve("/srv/other.sock", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/srv/other.sock");  /* the flag wins */
    setenv("DOCKER_HOST", "ssh://me@host", 1);
    assert_int_equal(docker_endpoint_resolve(NULL, path, sizeof path, err, sizeof err), -1);
    assert_non_null(strstr(err, "DOCKER_HOST"));
    unsetenv("DOCKER_HOST");
}

/* The commit a clone checked out: its last stdout line. */
static void clone_commit(void **state)
{
    char c[72];
    static const char out[] = "warning: x\n0123456789abcdef0123456789abcdef01234567\n";
    (void)state;
    assert_int_equal(docker_clone_commit(out, sizeof out - 1, c, sizeof c), 0);
    assert_string_equal(c, "0123456789abcdef0123456789abcdef01234567");
    assert_int_equal(docker_clone_commit("abc\n", 4, c, sizeof c), -1);
    assert_int_equal(docker_clone_commit("", 0, c, sizeof c), -1);
    assert_int_equal(docker_clone_commit(out, sizeof out - 1, c, 20), -1);
    static const char upper[] = "0123456789ABCDEF0123456789abcdef01234567\n";
    assert_int_equal(docker_clone_commit(upper, sizeof upper - 1, c, sizeof c), -1);
}

static json_t *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof data - 1, f);
    fclose(f);
    data[n] = '\0';
    json_t *v = json_loads(data + 1, 0, NULL); /* past the status byte */
    assert_non_null(v);
    return v;
}

/* A running container's use, read as `docker stats` reads it. */
static void stats_usage(void **state)
{
    (void)state;
    struct docker_usage a, b;
    json_t *s = load("stats-oneshot");
    docker_stats_usage(s, &a);
    assert_int_equal(a.online_cpus, 2);
    assert_true(a.cpu_total > 0 && a.system_total > a.cpu_total);
    /* usage 1925120 minus total_inactive_file 1585152 (cgroup v1) */
    assert_int_equal(a.mem_bytes, 1925120 - 1585152);
    assert_int_equal(a.mem_limit, 25276153856LL);
    json_decref(s);
    /* cgroup v2: inactive_file; neither: cache; no usage: unknown */
    s = json_loads("{\"memory_stats\":{\"usage\":1000,\"limit\":4000,\"stats\":"
                   "{\"inactive_file\":300}},\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":50,"
                   "\"percpu_usage\":[1,2,3]},\"system_cpu_usage\":1000}}", 0, NULL);
    docker_stats_usage(s, &b);
    assert_int_equal(b.mem_bytes, 700);
    assert_int_equal(b.online_cpus, 3); /* no online_cpus: the per-CPU list */
    json_decref(s);
    s = json_loads("{\"memory_stats\":{\"usage\":1000,\"stats\":{\"cache\":5000}},"
                   "\"cpu_stats\":{\"online_cpus\":-4}}", 0, NULL);
    docker_stats_usage(s, &b);
    assert_int_equal(b.mem_bytes, 1000); /* cache past usage: usage */
    assert_int_equal(b.mem_limit, -1);
    assert_int_equal(b.online_cpus, 0);
    json_decref(s);
    docker_stats_usage(NULL, &b);
    assert_int_equal(b.mem_bytes, -1);
    /* CPU: delta of the container over delta of the system, times CPUs */
    struct docker_usage p = {.cpu_total = 1000, .system_total = 10000, .online_cpus = 2};
    struct docker_usage n = {.cpu_total = 3000, .system_total = 20000, .online_cpus = 2};
    assert_true(docker_cpu_percent(&p, &n) > 39.99 && docker_cpu_percent(&p, &n) < 40.01);
    assert_true(docker_cpu_percent(&n, &p) == -1);  /* went back (restarted) */
    assert_true(docker_cpu_percent(&n, &n) == -1);  /* no time passed */
    n.online_cpus = 0;
    assert_true(docker_cpu_percent(&p, &n) == -1);
}

/* /system/df summarised for prune: berth's labels only, full ids only. */
static void df_summary(void **state)
{
    (void)state;
    json_t *df = load("system-df"), *s = docker_df_summary(df);
    assert_non_null(s);
    json_t *c = json_array_get(json_object_get(s, "containers"), 0);
    json_t *i = json_array_get(json_object_get(s, "images"), 0);
    assert_non_null(c);
    assert_non_null(i);
    assert_int_equal(strlen(json_string_value(json_object_get(c, "id"))), 64);
    assert_int_equal(strncmp(json_string_value(json_object_get(i, "id")), "sha256:", 7), 0);
    assert_true(json_is_integer(json_object_get(i, "size")));
    assert_false(json_is_true(json_object_get(s, "truncated")));
    json_decref(s);
    json_decref(df);
    df = json_loads("{\"Containers\":[{\"Id\":\"../x\"},{\"Id\":5},"
                    "{\"Id\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
                    "\"Names\":[\"/n\"],\"SizeRw\":-5,\"Labels\":{\"berth.app\":\"1\","
                    "\"other\":\"x\"}}],\"Images\":[{\"Id\":\"sha256:zz\"},"
                    "{\"Id\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
                    "\"RepoTags\":[\"<none>:<none>\",\"a b\",\"ok:1\"]}]}", 0, NULL);
    s = docker_df_summary(df);
    assert_int_equal(json_array_size(json_object_get(s, "containers")), 1);
    c = json_array_get(json_object_get(s, "containers"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "n");
    assert_int_equal(json_integer_value(json_object_get(c, "size")), 0);
    assert_int_equal(json_object_size(json_object_get(c, "labels")), 1);
    assert_int_equal(json_array_size(json_object_get(s, "images")), 1);
    i = json_array_get(json_object_get(s, "images"), 0);
    assert_int_equal(json_array_size(json_object_get(i, "tags")), 1);
    json_decref(s);
    json_decref(df);
}

/* A dangling image's lineage: the tags that share its nearest tagged
 * ancestry. base <- app1 <- app2 (tagged app:2); app1 <- left (dangling);
 * base <- other (dangling, on the tagged base); a loop; no parent. */
static void df_lineage(void **state)
{
    (void)state;
#define H(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c c c c c
    json_t *all = json_pack(
        "[{s:s, s:s, s:[s]}, {s:s, s:s, s:[]}, {s:s, s:s, s:[s]}, {s:s, s:s, s:[]},"
        " {s:s, s:s, s:[]}, {s:s, s:s, s:[]}, {s:s, s:s, s:[]}]",
        "Id", H("a"), "ParentId", "", "RepoTags", "base:1",
        "Id", H("b"), "ParentId", H("a"), "RepoTags",
        "Id", H("c"), "ParentId", H("b"), "RepoTags", "app:2",
        "Id", H("d"), "ParentId", H("b"), "RepoTags",
        "Id", H("e"), "ParentId", H("a"), "RepoTags",
        "Id", H("f"), "ParentId", H("9"), "RepoTags",
        "Id", H("9"), "ParentId", H("f"), "RepoTags");
    json_t *sum = json_pack("{s:[], s:[{s:s, s:[], s:i}, {s:s, s:[], s:i}, {s:s, s:[], s:i},"
                            " {s:s, s:[], s:i}, {s:s, s:[s], s:i}]}", "containers", "images",
                            "id", H("d"), "tags", "containers", 0,
                            "id", H("e"), "tags", "containers", 0,
                            "id", H("f"), "tags", "containers", 0,
                            "id", H("b"), "tags", "containers", 1,
                            "id", H("c"), "tags", "app:2", "containers", 0);
    assert_non_null(all);
    assert_non_null(sum);
    docker_df_lineage(sum, all);
    json_t *im = json_object_get(sum, "images");
    json_t *want = json_pack("[s]", "app:2");
    assert_true(json_equal(json_object_get(json_array_get(im, 0), "lineage"), want));
    json_decref(want);
    want = json_pack("[s, s]", "base:1", "app:2");
    assert_true(json_equal(json_object_get(json_array_get(im, 1), "lineage"), want));
    json_decref(want);
    assert_null(json_object_get(json_array_get(im, 2), "lineage")); /* a loop: none */
    assert_null(json_object_get(json_array_get(im, 3), "lineage")); /* used */
    assert_null(json_object_get(json_array_get(im, 4), "lineage")); /* tagged */
    /* sizes: none given here, so nothing is freed */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(im, 0), "unique")), 0);
    docker_df_lineage(sum, NULL);
    json_decref(sum);
    json_decref(all);
#undef H
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(empty_message),
        cmocka_unit_test(endpoint),
        cmocka_unit_test(clone_commit),
        cmocka_unit_test(stats_usage),
        cmocka_unit_test(df_summary),
        cmocka_unit_test(df_lineage),
    };
    return cmocka_run_group_tests_name("docker_answer", tests, NULL, NULL);
}
