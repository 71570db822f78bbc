/* cmd_terminal.c - `berth terminal SERVER [--container C | --app A]`: an
 * interactive shell on a server's host or in a container, over berthd's
 * terminal WebSocket (GET .../servers/{server}/terminal, subprotocol
 * berth-terminal.v1; docs/cli.md).
 *
 * One libwebsockets loop (its own poll loop, one thread) holds three
 * things: the WebSocket to berthd, stdin (adopted as a raw file once the
 * upgrade succeeded) and a signalfd for SIGWINCH, SIGINT, SIGTERM and
 * SIGHUP (blocked, so no work is ever done in a handler). Keystrokes go
 * out as binary frames, a window change as {"type":"resize"}; binary frames
 * in are written to stdout as they come; {"type":"exit"} gives the exit
 * status; berthd then closes.
 *
 * The terminal: when stdin is one it is put in raw mode (cfmakeraw) only
 * after the upgrade, and put back as it was on every way out of this
 * command (the shell's exit, berthd closing, an error, a signal) through
 * tty_restore(), also registered with atexit. Off a terminal stdin is sent
 * as it is and termios is never touched; its end is not sent (the protocol
 * has no end of input, and a ^D reaching the remote terminal before its
 * shell reads is lost), so piped input ends the shell itself (`exit`).
 *
 * A refusal (401/403/404/400/409) comes back as an HTTP answer instead of
 * the upgrade; its JSON body is read and reported like any request's.
 *
 * Caps: keystrokes waiting for the socket 64 KiB (stdin is not read while
 * full), a control message 4 KiB, a refusal's body 64 KiB. The bearer
 * token goes only into the handshake's Authorization header, built in a
 * local buffer and wiped. Owns: everything in struct term, released
 * before cmd_terminal returns. */
#include "cli.h"
#include "buf.h"
#include "crypto.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <libwebsockets.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#define TERM_SUBPROTOCOL "berth-terminal.v1"
#define KEYS_MAX (64 * 1024)    /* keystrokes waiting for the socket */
#define FRAME_MAX (16 * 1024)   /* one binary frame out */
#define CTL_MAX 4096            /* a text frame from berthd */
#define REFUSAL_MAX (64 * 1024) /* the body of a refused upgrade */
#define DIM_MAX 1000            /* berthd's bound on cols and rows */

struct term {
    struct cli *c;
    struct lws_context *ctx;
    struct lws *ws;         /* the WebSocket, NULL once closed */
    struct lws *in;         /* stdin on the loop, NULL when not (yet) */
    int sigfd;
    int sig_on_loop;        /* sigfd adopted: lws closes it */
    int tty;                /* stdin is a terminal */
    int size_fd;            /* where the window size is read, or -1 */
    int cols, rows;         /* the size berthd knows */
    int resize_pending;
    int established;
    int done;
    int got_exit;
    int exit_code;
    char reason[256];
    int signo;              /* ended by this signal */
    long http_status;       /* a refused upgrade's status */
    struct buf keys;        /* keystrokes not sent yet */
    struct buf ctl;         /* a text frame being reassembled */
    struct buf refusal;     /* a refused upgrade's body */
    char url[4096];         /* ws[s]://host:port/path?query, for messages */
    char urlbuf[1024];      /* lws_parse_uri cuts this up */
    char host[300];
    char path[3072];
    const char *address;
    int port, tls;
};

/* ---- the terminal's mode: saved once, restored on every way out ---- */

static struct {
    int fd;           /* a dup of stdin, so closing fd 0 cannot lose it */
    int raw;          /* currently in raw mode */
    struct termios saved;
} tty = {-1, 0, {0}};

static void tty_restore(void)
{
    if (tty.raw) {
        tcsetattr(tty.fd, TCSANOW, &tty.saved);
        tty.raw = 0;
    }
    if (tty.fd >= 0) {
        close(tty.fd);
        tty.fd = -1;
    }
}

static int tty_raw(void)
{
    static int registered;
    struct termios raw;
    if (tty.fd < 0)
        return -1;
    if (!registered && atexit(tty_restore) == 0)
        registered = 1;
    raw = tty.saved;
    cfmakeraw(&raw);
    if (tcsetattr(tty.fd, TCSANOW, &raw) < 0)
        return -1;
    tty.raw = 1;
    return 0;
}

/* The window's size into cols and rows (bounded like berthd); 0, or -1 when
 * there is no terminal to ask. */
static int window_size(int fd, int *cols, int *rows)
{
    struct winsize w;
    if (fd < 0 || ioctl(fd, TIOCGWINSZ, &w) < 0 || !w.ws_col || !w.ws_row)
        return -1;
    *cols = w.ws_col > DIM_MAX ? DIM_MAX : w.ws_col;
    *rows = w.ws_row > DIM_MAX ? DIM_MAX : w.ws_row;
    return 0;
}

/* ---- the session's end ---- */

/* Called from a callback: the loop in cmd_terminal stops once lws_service
 * returns. */
static void finish(struct term *t)
{
    t->done = 1;
}

/* Writes all of p to stdout, waiting when it is full; -1 when it is gone. */
static int write_out(const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- berthd's control messages ---- */

static void on_control(struct term *t)
{
    json_t *m = json_loadb(t->ctl.data ? t->ctl.data : "", t->ctl.len, 0, NULL);
    const char *type = json_string_value(json_object_get(m, "type"));
    buf_clear(&t->ctl);
    if (type && strcmp(type, "exit") == 0) {
        json_t *x = json_object_get(m, "exit_code");
        const char *why = json_string_value(json_object_get(m, "reason"));
        t->got_exit = 1;
        t->exit_code = json_is_integer(x) ? (int)json_integer_value(x) : -1;
        util_strlcpy(t->reason, why ? why : "", sizeof t->reason);
    } /* "opened" and anything newer need nothing from us */
    json_decref(m);
}

/* ---- what goes out ---- */

static int send_frame(struct lws *wsi, const void *p, size_t n, enum lws_write_protocol kind)
{
    static unsigned char frame[LWS_PRE + FRAME_MAX];
    memcpy(frame + LWS_PRE, p, n);
    return lws_write(wsi, frame + LWS_PRE, n, kind) < (int)n ? -1 : 0;
}

static int on_writeable(struct term *t, struct lws *wsi)
{
    if (t->resize_pending) {
        char msg[96];
        int n = snprintf(msg, sizeof msg, "{\"type\":\"resize\",\"cols\":%d,\"rows\":%d}",
                         t->cols, t->rows);
        t->resize_pending = 0;
        if (send_frame(wsi, msg, (size_t)n, LWS_WRITE_TEXT) < 0)
            return -1;
    } else if (t->keys.len) {
        size_t n = t->keys.len < FRAME_MAX ? t->keys.len : FRAME_MAX;
        if (send_frame(wsi, t->keys.data, n, LWS_WRITE_BINARY) < 0)
            return -1;
        memmove(t->keys.data, t->keys.data + n, t->keys.len - n);
        t->keys.len -= n;
        if (t->in && t->keys.len < KEYS_MAX / 2)
            lws_rx_flow_control(t->in, 1);
    } else {
        return 0;
    }
    if (t->resize_pending || t->keys.len)
        lws_callback_on_writable(wsi);
    return 0;
}

/* ---- stdin and signals on the loop ---- */

static int adopt(struct term *t, int fd, struct lws **out)
{
    lws_sock_file_fd_type d;
    struct lws_vhost *vh = lws_get_vhost_by_name(t->ctx, "default");
    d.filefd = fd;
    *out = vh ? lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d, "berth-term-io",
                                           NULL)
              : NULL;
    return *out ? 0 : -1;
}

/* stdin readable: keystrokes (or piped bytes) into the queue. */
static int on_stdin(struct term *t)
{
    char b[4096];
    size_t room = KEYS_MAX - t->keys.len;
    if (!room) {
        lws_rx_flow_control(t->in, 0);
        return 0;
    }
    ssize_t n = read(STDIN_FILENO, b, room < sizeof b ? room : sizeof b);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) { /* the end of stdin (or it failed): stop reading it */
        t->in = NULL;
        return -1; /* lws closes it; the session goes on until the shell ends */
    }
    buf_append(&t->keys, b, (size_t)n);
    if (t->keys.len >= KEYS_MAX)
        lws_rx_flow_control(t->in, 0);
    if (t->ws)
        lws_callback_on_writable(t->ws);
    return 0;
}

static void on_signal(struct term *t)
{
    struct signalfd_siginfo si;
    while (read(t->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo != SIGWINCH) {
            t->signo = (int)si.ssi_signo;
            finish(t);
            return;
        }
        int cols, rows;
        if (window_size(t->size_fd, &cols, &rows) == 0 && (cols != t->cols || rows != t->rows)) {
            t->cols = cols;
            t->rows = rows;
            t->resize_pending = 1;
            if (t->ws && t->established)
                lws_callback_on_writable(t->ws);
        }
    }
}

static int io_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    (void)user, (void)in, (void)len;
    struct term *t = lws_context_user(lws_get_context(wsi));
    if (!t || t->done)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        if (wsi == t->in)
            return on_stdin(t);
        on_signal(t);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (wsi == t->in)
            t->in = NULL;
        return 0;
    default:
        return 0;
    }
}

/* ---- the WebSocket ---- */

static int add_auth(struct term *t, unsigned char **p, unsigned char *end, struct lws *wsi)
{
    char hdr[CRYPTO_TOKEN_MAX + 64];
    int n = snprintf(hdr, sizeof hdr, "Bearer %s", t->c->token);
    int rc = n <= 0 || (size_t)n >= sizeof hdr ||
                     lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                                  (unsigned char *)hdr, n, p, end)
                 ? -1
                 : 0;
    crypto_wipe(hdr, sizeof hdr);
    return rc;
}

/* The upgrade was answered with something else than 101: keep the status
 * and read the (JSON error) body that came with it. */
static int on_http_answer(struct term *t, struct lws *wsi)
{
    long status = (long)lws_http_client_http_response(wsi);
    if (status == 101)
        return 0;
    t->http_status = status;
    char b[LWS_PRE + 4096], *p = b + LWS_PRE;
    int n = (int)sizeof b - LWS_PRE;
    lws_http_client_read(wsi, &p, &n); /* calls RECEIVE_CLIENT_HTTP_READ */
    return -1;                         /* no upgrade: lws reports a connection error */
}

static void on_established(struct term *t, struct lws *wsi)
{
    t->ws = wsi;
    t->established = 1;
    if (t->tty && tty_raw() < 0)
        t->tty = 0; /* could not: go on as if stdin were not a terminal */
    if (adopt(t, STDIN_FILENO, &t->in) < 0)
        t->in = NULL; /* no stdin (closed): output only */
    if (t->resize_pending)
        lws_callback_on_writable(wsi);
}

static int on_receive(struct term *t, struct lws *wsi, const void *in, size_t len)
{
    if (lws_frame_is_binary(wsi)) {
        if (write_out(in, len) < 0) {
            cli_fail(t->c, CLI_EXIT_OTHER, "output", "cannot write the terminal's output: %s",
                     strerror(errno));
            finish(t);
            return -1;
        }
        return 0;
    }
    if (buf_append(&t->ctl, in, len) < 0) {
        cli_fail(t->c, CLI_EXIT_OTHER, "bad_response",
                 "berthd sent a control message over %d bytes", CTL_MAX);
        finish(t);
        return -1;
    }
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))
        on_control(t);
    return 0;
}

static void on_connection_error(struct term *t, const char *why)
{
    struct cli *c = t->c;
    if (t->http_status)
        client_api_error(c, t->url, t->http_status, t->refusal.data, t->refusal.len);
    else if (t->tls && why && (strcasestr(why, "ssl") || strcasestr(why, "tls") ||
                               strcasestr(why, "cert")))
        cli_fail(c, CLI_EXIT_OTHER, "tls", "TLS with berthd at %s failed: %s (a private CA? "
                 "pass --cacert FILE or set BERTH_CACERT)", c->url, why);
    else
        cli_fail(c, CLI_EXIT_OTHER, "unreachable", "cannot open a terminal through berthd at "
                 "%s: %s", c->url, why && *why ? why : "connection failed");
    finish(t);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    (void)user;
    struct term *t = lws_context_user(lws_get_context(wsi));
    if (!t)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return add_auth(t, (unsigned char **)in, *(unsigned char **)in + len, wsi);
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        return on_http_answer(t, wsi);
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (t->http_status && t->refusal.len + len <= REFUSAL_MAX)
            buf_append(&t->refusal, in, len);
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        /* the refusal's body is whole: no further transaction on this
         * connection (lws would reset its headers for one) */
        return t->http_status ? -1 : 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        t->ws = NULL;
        if (!t->done)
            on_connection_error(t, in ? (const char *)in : NULL);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        on_established(t, wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return t->done ? -1 : on_receive(t, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return t->done ? -1 : on_writeable(t, wsi);
    case LWS_CALLBACK_CLIENT_CLOSED:
        t->ws = NULL;
        finish(t);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"berth-terminal", ws_callback, 0, 16384, 0, NULL, 0},
    {"berth-term-io", io_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- setting up ---- */

/* base URL + /api/v1/orgs/{org}/servers/{server}/terminal?cols&rows[&container|&app] */
static int build_target(struct cli *c, struct term *t)
{
    const char *container, *app, *prot = NULL, *tail = NULL;
    char api[800], query[600] = "";
    if (exec_target(c, &container, &app) < 0)
        return -1;
    if (cli_org_path(c, "servers", c->args[0], api, sizeof api) < 0)
        return -1;
    if (t->cols)
        snprintf(query, sizeof query, "cols=%d&rows=%d", t->cols, t->rows);
    if (container || app) {
        char *esc = curl_easy_escape(NULL, container ? container : app, 0);
        if (!esc)
            return cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
        size_t q = strlen(query);
        int w = snprintf(query + q, sizeof query - q, "%s%s=%s", q ? "&" : "",
                         container ? "container" : "app", esc);
        curl_free(esc);
        if (w < 0 || (size_t)w >= sizeof query - q)
            return cli_usage(c, "the container or app name is too long");
    }
    util_strlcpy(t->urlbuf, c->url, sizeof t->urlbuf);
    if (strlen(c->url) >= sizeof t->urlbuf ||
        lws_parse_uri(t->urlbuf, &prot, &t->address, &t->port, &tail) ||
        (strcmp(prot, "http") && strcmp(prot, "https")) || !*t->address)
        return cli_usage(c, "the berthd URL must look like http(s)://HOST[:PORT] (got '%s')",
                         c->url);
    t->tls = strcmp(prot, "https") == 0;
    size_t tl = strlen(tail);
    while (tl && tail[tl - 1] == '/')
        tl--;
    int w = snprintf(t->path, sizeof t->path, "%s%.*s/api/v1%s/terminal%s%s", tl ? "/" : "",
                     (int)tl, tail, api, query[0] ? "?" : "", query);
    if (w < 0 || (size_t)w >= sizeof t->path)
        return cli_usage(c, "the request path is too long");
    int dflt = t->port == (t->tls ? 443 : 80);
    snprintf(t->host, sizeof t->host, dflt ? "%s" : "%s:%d", t->address, t->port);
    snprintf(t->url, sizeof t->url, "%s://%s%s", t->tls ? "wss" : "ws", t->host, t->path);
    return 0;
}

static int start(struct cli *c, struct term *t)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info i;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = t;
    info.fd_limit_per_thread = 16;
    if (t->tls && c->cacert && access(c->cacert, R_OK) < 0)
        return cli_fail(c, CLI_EXIT_OTHER, "tls", "cannot read the CA file %s: %s", c->cacert,
                        strerror(errno));
    if (t->tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (c->cacert) {
            info.client_ssl_ca_filepath = c->cacert;
            info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        }
    }
    lws_set_log_level(c->verbose ? LLL_ERR | LLL_WARN : 0, NULL);
    t->ctx = lws_create_context(&info);
    if (!t->ctx)
        return cli_fail(c, CLI_EXIT_OTHER, t->tls ? "tls" : "internal",
                        "cannot set up the WebSocket client%s", t->tls && c->cacert
                        ? " (is --cacert a readable PEM file?)" : "");
    struct lws *sig = NULL;
    if (adopt(t, t->sigfd, &sig) < 0)
        return cli_fail(c, CLI_EXIT_OTHER, "internal", "cannot watch signals");
    t->sig_on_loop = 1;
    memset(&i, 0, sizeof i);
    i.context = t->ctx;
    i.address = t->address;
    i.port = t->port;
    i.path = t->path;
    i.host = t->host; /* no Origin: berth is not a browser page */
    i.ssl_connection = t->tls ? LCCSCF_USE_SSL : 0;
    i.protocol = TERM_SUBPROTOCOL;
    i.local_protocol_name = protocols[0].name;
    if (c->verbose)
        fprintf(stderr, "berth: GET %s (WebSocket %s)\n", t->url, TERM_SUBPROTOCOL);
    if (!lws_client_connect_via_info(&i))
        return cli_fail(c, CLI_EXIT_OTHER, "unreachable", "cannot connect to berthd at %s",
                        c->url);
    return 0;
}

/* How the session ended, as the command's result. */
static int result(struct cli *c, struct term *t)
{
    if (c->failed)
        return -1;
    if (t->signo)
        return cli_fail(c, CLI_EXIT_OTHER, "cancelled", "the terminal session was ended by "
                        "signal %d (%s)", t->signo, strsignal(t->signo));
    if (!t->got_exit)
        return cli_fail(c, CLI_EXIT_OTHER, "terminal_closed", "the connection to berthd "
                        "closed before the shell ended");
    if (t->exit_code < 0 || t->exit_code > 255)
        return cli_fail(c, CLI_EXIT_OTHER, "terminal_failed", "the shell ended without an "
                        "exit status: %s", t->reason[0] ? t->reason : "no reason given");
    c->exit_code = t->exit_code;
    return 0;
}

int cmd_terminal(struct cli *c)
{
    struct term t;
    sigset_t sigs, old;
    int rc = -1;
    if (c->json)
        return cli_usage(c, "berth terminal is interactive: --json is not supported");
    if (cli_need_token(c) < 0)
        return -1;
    memset(&t, 0, sizeof t);
    t.c = c;
    t.sigfd = -1;
    t.tty = isatty(STDIN_FILENO);
    t.size_fd = t.tty ? STDIN_FILENO : isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
    if (window_size(t.size_fd, &t.cols, &t.rows) < 0)
        t.cols = t.rows = 0; /* berthd's default, 80x24 */
    if (build_target(c, &t) < 0)
        return -1;
    if (t.tty && ((tty.fd = dup(STDIN_FILENO)) < 0 || tcgetattr(tty.fd, &tty.saved) < 0)) {
        tty_restore();
        t.tty = 0;
    }
    buf_init(&t.keys, KEYS_MAX);
    buf_init(&t.ctl, CTL_MAX);
    buf_init(&t.refusal, REFUSAL_MAX);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGWINCH);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    t.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (t.sigfd < 0) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "signalfd: %s", strerror(errno));
        goto done;
    }
    if (start(c, &t) < 0)
        goto done;
    while (!t.done)
        if (lws_service(t.ctx, 0) < 0)
            break;
    tty_restore(); /* first: whatever is printed next reads as it should */
    rc = result(c, &t);
done:
    t.done = 1; /* what lws_context_destroy still calls back does nothing */
    tty_restore();
    if (t.ctx)
        lws_context_destroy(t.ctx); /* closes the socket, stdin's and the signalfd's wsi */
    if (t.sigfd >= 0 && !t.sig_on_loop)
        close(t.sigfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    buf_release(&t.keys);
    buf_release(&t.ctl);
    buf_release(&t.refusal);
    return rc;
}
