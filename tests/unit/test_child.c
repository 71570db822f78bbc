/* test_child.c - src/runner/child.c on a real lws loop: output still in a
 * pipe when its writer exits while reading is paused reaches the caller
 * (poll reports POLLHUP alone then, and lws closes the pipe at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "child.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct seen {
    struct child *c;
    size_t out;          /* stdout bytes */
    int paused_once;
    int exited;
    int status;
    lws_usec_t paused_at;
};

static void on_output(void *arg, int stream, const char *data, size_t len)
{
    struct seen *s = arg;
    (void)data;
    if (stream == 1)
        s->out += len;
    if (!s->paused_once) {    /* the first read: stop reading, as a slow link does */
        s->paused_once = 1;
        s->paused_at = lws_now_usecs();
        child_pause(s->c, 1);
    }
}

static void on_exit_cb(void *arg, int status)
{
    struct seen *s = arg;
    s->exited = 1;
    s->status = status;
}

static struct lws_context *loop_new(struct lws_vhost **vh)
{
    static struct lws_protocols p[2];  /* the pipe protocol, then the end */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    p[0] = child_pipe_protocol;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = p;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    struct lws_context *ctx = lws_create_context(&info);
    assert_non_null(ctx);
    *vh = lws_create_vhost(ctx, &info);
    assert_non_null(*vh);
    return ctx;
}

static void paused_pipe_keeps_its_tail(void **state)
{
    (void)state;
    struct lws_vhost *vh;
    struct lws_context *ctx = loop_new(&vh);
    struct seen s;
    memset(&s, 0, sizeof s);
    /* one byte, then 40000 more (less than a pipe holds) written while
     * reading is paused, then the writer exits */
    char *argv[] = {"/bin/sh", "-c", "printf x; sleep 0.3; head -c 40000 /dev/zero", NULL};
    struct child_spec spec = {.argv = argv, .capture = 1};
    char err[128];
    assert_int_equal(child_start(ctx, vh, &spec, on_output, on_exit_cb, &s, &s.c, err, sizeof err), 0);
    lws_usec_t t0 = lws_now_usecs();
    int resumed = 0;
    while (!s.exited && lws_now_usecs() - t0 < 20 * LWS_USEC_PER_SEC) {
        lws_service(ctx, 0);
        /* resume 1.5 s after the pause: the writer is long gone by then */
        if (s.paused_once && !resumed && s.c && lws_now_usecs() - s.paused_at > 1500000) {
            resumed = 1;
            if (!s.exited)
                child_pause(s.c, 0);
        }
    }
    assert_true(s.exited);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.out, 40001);
    lws_context_destroy(ctx);
}

int main(void)
{
    lws_set_log_level(LLL_ERR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paused_pipe_keeps_its_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
