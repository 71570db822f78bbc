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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(empty_message),
        cmocka_unit_test(endpoint),
        cmocka_unit_test(clone_commit),
    };
    return cmocka_run_group_tests_name("docker_answer", tests, NULL, NULL);
}
