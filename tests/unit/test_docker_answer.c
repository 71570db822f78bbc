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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(empty_message),
    };
    return cmocka_run_group_tests_name("docker_answer", tests, NULL, NULL);
}
