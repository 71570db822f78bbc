/* fuzz_docker.c - Docker Engine API answers as berth-runner reads them
 * (src/runner/docker.c): the answer body and status (docker_answer_parse,
 * the error message of a non-2xx), then every reader deploy.c applies to
 * the JSON: a container inspect (IP per network, published port, state)
 * and an image list to prune; and dockerops.c's: a stats answer's CPU and
 * memory use, and a /system/df summary for prune (only full ids, every
 * array capped). Input: one status byte, then the body. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

static const int statuses[] = {200, 201, 204, 304, 400, 404, 409, 500, 0, 101, 299, 300};

static void inspect(json_t *body)
{
    char ip[64];
    int port = 0;
    const char *key;
    json_t *v;
    docker_inspect_status(body);
    docker_inspect_ip(body, NULL, ip, sizeof ip);
    json_object_foreach(json_object_get(json_object_get(body, "NetworkSettings"), "Networks"), key, v)
        if (docker_inspect_ip(body, key, ip, sizeof ip) == 0)
            assert(strlen(ip) < sizeof ip);
    json_object_foreach(json_object_get(json_object_get(body, "NetworkSettings"), "Ports"), key, v) {
        int p = atoi(key);
        if (docker_inspect_published(body, p, ip, 8, &port) == 0)
            assert(port >= 1 && port <= 65535 && strlen(ip) < 8);
    }
    assert(docker_inspect_published(body, 0, ip, sizeof ip, &port) <= 0);
}

static void prune(json_t *body)
{
    const char *refs[16];
    const char *in_use = NULL;
    json_t *first = json_array_get(body, 0);
    if (first)
        in_use = json_string_value(json_array_get(json_object_get(first, "RepoTags"), 0));
    for (size_t keep = 0; keep < 3; keep++) {
        size_t n = docker_images_to_prune(body, keep, in_use, refs, 16);
        assert(n <= 16);
        for (size_t i = 0; i < n; i++)
            assert(refs[i] && (!in_use || strcmp(refs[i], in_use) != 0));
    }
}

static void usage(json_t *body)
{
    struct docker_usage a, b;
    docker_stats_usage(body, &a);
    assert(a.mem_bytes >= -1 && a.mem_limit >= -1 && a.online_cpus <= 4096);
    assert(a.mem_bytes <= json_integer_value(json_object_get(json_object_get(body,
                                                                             "memory_stats"),
                                                             "usage")) ||
           a.mem_bytes == -1);
    b = a;
    b.cpu_total += 1000;
    b.system_total += 1000;
    double p = docker_cpu_percent(&a, &b);
    assert(p == -1 || (p >= 0 && p <= 100.0 * b.online_cpus));
    assert(docker_cpu_percent(&b, &a) == -1);
}

static void df(json_t *body)
{
    json_t *s = docker_df_summary(body), *v;
    size_t i;
    if (!s)
        return;
    assert(json_array_size(json_object_get(s, "containers")) <= DOCKER_DF_MAX);
    assert(json_array_size(json_object_get(s, "images")) <= DOCKER_DF_MAX);
    json_array_foreach(json_object_get(s, "containers"), i, v) {
        assert(strlen(json_string_value(json_object_get(v, "id"))) == 64);
        assert(json_integer_value(json_object_get(v, "size")) >= 0);
    }
    docker_df_lineage(s, body); /* the answer as an /images/json?all=1 too */
    docker_df_lineage(s, json_object_get(body, "Images"));
    json_array_foreach(json_object_get(s, "images"), i, v) {
        assert(strlen(json_string_value(json_object_get(v, "id"))) == 71);
        assert(json_array_size(json_object_get(v, "tags")) <= 16);
        assert(json_array_size(json_object_get(v, "lineage")) <= DOCKER_LINEAGE_MAX);
    }
    json_decref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    json_t *body = NULL;
    char err[256] = "";
    int rc = docker_answer_parse((const char *)data + 1, size - 1, status, &body, err, sizeof err);
    assert(rc == ((status >= 200 && status <= 299) ? 0 : -1));
    assert(rc == 0 || (err[0] && strlen(err) < sizeof err));
    inspect(body);
    prune(body);
    usage(body);
    df(body);
    json_decref(body);
    return 0;
}
