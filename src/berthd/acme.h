/* acme.h - berthd's own certificate by ACME (--acme-domain): Debian's
 * `lego` run as a child, the HTTP-01 challenge listener, and the
 * certificate swapped into the running TLS vhost.
 *
 * acme.c owns one `struct acme` (created by main.c when --acme-domain is
 * given): a thread that checks the certificate's expiry, runs lego with a
 * deadline and loads what it wrote; the loop thread installs the new
 * certificate into the front's SSL_CTX (new handshakes get it, open
 * connections keep theirs) and serves the challenge listener. Who frees
 * what: acme_stop (loop thread, before the context goes) ends the thread
 * and any lego child; acme_free after the worker pool is freed.
 *
 * acme_path.h/.c hold the pure checks of outside input (fuzzed).
 */
#ifndef BERTHD_ACME_H
#define BERTHD_ACME_H

#include <stddef.h>
#include <stdint.h>

struct srv;
struct lws_context;

#include "acme_path.h"

/* --- acme.c --- */

struct acme *acme_new(struct srv *s);
/* Before the context is created: picks the certificate the TLS vhost
 * starts with (lego's, while it is valid and names the first domain; else
 * a self-signed placeholder written to the data directory) and sets
 * s->cfg.tls_cert / tls_key to it. 0 or -1 (logged). */
int acme_prepare(struct acme *a);
/* lws' LOAD_EXTRA_SERVER_VERIFY_CERTS of the front's vhost: its SSL_CTX. */
void acme_tls_ctx(struct acme *a, void *ssl_ctx);
/* On the loop with the context: opens the challenge listener and starts
 * the thread. 0 or -1 (logged). */
int acme_start(struct acme *a, struct lws_context *ctx);
void acme_stop(struct acme *a);
void acme_free(struct acme *a);
/* The served certificate's expiry (unix seconds, 0 when none) and
 * whether it came from the ACME server (0: the placeholder). Loop thread. */
int64_t acme_not_after(const struct acme *a, int *issued);

#endif
