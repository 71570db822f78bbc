/* edge-app.c - the app behind bench/edge.sh: a small static HTTP/1.1
 * server (epoll, keep-alive) that answers every request with the text of
 * /www/version, so the bench measures the proxy, not the app (busybox
 * httpd forks a process per connection: about 200 requests/s here).
 * Bench-only code: trusts its client (wrk), caps each connection's input
 * at 8 KiB and closes it when a request does not fit.
 *
 *   cc -O2 -static -o edge-app bench/edge-app.c && ./edge-app [PORT]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNS_MAX 65536
#define IN_MAX 8192

struct conn {
    size_t len;
    char in[IN_MAX];
};

static struct conn *conns[CONNS_MAX];
static char answer[512], answer_close[512];
static size_t answer_len, answer_close_len;

static void drop(int ep, int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]);
    conns[fd] = NULL;
}

/* Answers every whole request in c->in; 0 to keep the connection. */
static int serve(int fd, struct conn *c)
{
    char *end;
    while ((end = memmem(c->in, c->len, "\r\n\r\n", 4))) {
        size_t n = (size_t)(end - c->in) + 4;
        int close_it = memmem(c->in, n, "\r\nConnection: close", 19) != NULL ||
                       memmem(c->in, n, "\r\nconnection: close", 19) != NULL;
        const char *a = close_it ? answer_close : answer;
        size_t alen = close_it ? answer_close_len : answer_len;
        if (write(fd, a, alen) != (ssize_t)alen)
            return -1; /* a full socket buffer: fine for a bench client */
        memmove(c->in, c->in + n, c->len - n);
        c->len -= n;
        if (close_it)
            return -1;
    }
    return c->len == IN_MAX ? -1 : 0;
}

/* As PID 1 in its container, SIGTERM would be ignored without a handler
 * (and every stop would wait Docker's 10 s). */
static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    signal(SIGTERM, on_term);
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    char version[128] = "unknown";
    FILE *f = fopen("/www/version", "r");
    if (f) {
        if (!fgets(version, sizeof version, f))
            strcpy(version, "unknown");
        fclose(f);
        version[strcspn(version, "\n")] = 0;
    }
    answer_len = (size_t)snprintf(answer, sizeof answer,
                                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s\n",
                                  strlen(version) + 1, version);
    answer_close_len = (size_t)snprintf(answer_close, sizeof answer_close,
                                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                                        "Connection: close\r\n\r\n%s\n",
                                        strlen(version) + 1, version);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1024)) {
        perror("edge-app: listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= CONNS_MAX || !(conns[c] = calloc(1, sizeof *conns[c]))) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            struct conn *c = conns[fd];
            ssize_t r = read(fd, c->in + c->len, IN_MAX - c->len);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                drop(ep, fd);
                continue;
            }
            if (r > 0) {
                c->len += (size_t)r;
                if (serve(fd, c))
                    drop(ep, fd);
            }
        }
    }
}
