/* acme.c - berthd's own certificate by ACME (see acme.h).
 *
 * Owns: DATA/acme/ (0700): lego's store (lego/: account, certificates/
 * NAME.crt|.key, 0600), the HTTP-01 webroot (webroot/), and the
 * self-signed placeholder (placeholder.crt|.key) the TLS vhost starts with
 * when there is no valid certificate yet.
 *
 * Threads. The ACME thread (acme_main) checks the expiry, runs lego as a
 * child (fork/execvp, a fixed argv with no secret, a minimal environment,
 * its output read through a pipe with poll() and a deadline, the child
 * killed on deadline or stop) and parses what lego wrote. It hands a
 * parsed certificate to the loop with pool_post; the loop thread alone
 * touches the SSL_CTX (SSL_CTX_use_cert_and_key: new handshakes get the
 * new certificate, established connections keep theirs) and serves the
 * challenge listener.
 *
 * Why SSL_CTX_use_cert_and_key rather than lws: lws 4.1.6 exports
 * lws_tls_cert_updated(), but it matches vhosts by their certificate's
 * file path, loads a memory copy as the leaf alone (no chain) and reports
 * no failure; a half-loaded context (new certificate, old key) is
 * possible. Here the key is checked against the certificate first
 * (cert_load), and one OpenSSL call replaces certificate, key and chain
 * together. The SSL_CTX is the one lws hands to protocol 0 in
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS (http.c ->
 * srv->tls_ctx). Verified by test_acme.py: the new certificate is served to
 * new connections while a keep-alive connection goes on with its own.
 *
 * Every lock is a.mu; the loop never waits on it for
 * longer than a flag copy, except acme_stop's join at shutdown.
 */
#include "acme.h"
#include "berthd.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEGO_DEADLINE_S 300      /* one lego run, then it is killed */
#define LEGO_TAIL 4096           /* lego's last output bytes kept */
#define LEGO_LOG_MAX 1024        /* of which the log line shows */
#define CERT_FILE_MAX (64 * 1024)
#define KEY_FILE_MAX (16 * 1024)
#define CHALLENGE_FILE_MAX 512   /* a key authorization is ~87 bytes */
#define BACKOFF_CAP_S (6 * 3600)
#define PLACEHOLDER_DAYS 7
/* /metrics: the served ACME certificate's notAfter, unix seconds (absent
 * while the placeholder is served) */
#define ACME_EXPIRY_GAUGE "berth_acme_certificate_expiry_seconds"

struct acme_cert {
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    int64_t not_after;
};

struct acme {
    struct srv *srv;
    char domains[ACME_DOMAINS_MAX][ACME_NAME_MAX + 1];
    int ndomains;
    char dir[1100], lego_dir[1200], webroot[1200];
    char crt[1500], key[1500], ph_crt[1200], ph_key[1200];
    /* loop thread */
    SSL_CTX *ssl_ctx;
    struct lws_vhost *http_vh;
    int64_t not_after;
    int issued;
    /* the thread */
    pthread_t th;
    int th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;   /* under mu */
    pid_t child; /* under mu; 0 when none */
};

struct acme_msg {
    struct acme *a;
    struct acme_cert c;
    int renewal;
};

static void cert_clear(struct acme_cert *c)
{
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof *c);
}

static int no_password(char *buf, int size, int rw, void *u)
{
    (void)buf, (void)size, (void)rw, (void)u;
    return 0; /* never prompt: an encrypted key just fails */
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* Reads a PEM certificate (leaf then its chain) and key; checks they match. */
static int cert_load(const char *crt, const char *key, struct acme_cert *c, char *err,
                     size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    BIO *b = NULL;
    int rc = -1;
    memset(c, 0, sizeof *c);
    if (util_read_file(crt, CERT_FILE_MAX, &data, &len) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", crt, strerror(errno));
        return -1;
    }
    b = BIO_new_mem_buf(data, (int)len);
    c->leaf = b ? PEM_read_bio_X509(b, NULL, no_password, NULL) : NULL;
    c->chain = sk_X509_new_null();
    if (!c->leaf || !c->chain) {
        snprintf(err, errlen, "%s holds no certificate", crt);
        goto done;
    }
    for (int i = 0; i < 8; i++) {
        X509 *x = PEM_read_bio_X509(b, NULL, no_password, NULL);
        if (!x)
            break;
        if (!sk_X509_push(c->chain, x)) {
            X509_free(x);
            goto done;
        }
    }
    ERR_clear_error(); /* the end of the PEM list */
    BIO_free(b);
    free(data);
    data = NULL;
    b = NULL;
    if (util_read_file(key, KEY_FILE_MAX, &data, &len) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", key, strerror(errno));
        goto done;
    }
    b = BIO_new_mem_buf(data, (int)len);
    c->key = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
    if (!c->key || X509_check_private_key(c->leaf, c->key) != 1) {
        snprintf(err, errlen, "%s is not the key of %s", key, crt);
        goto done;
    }
    c->not_after = asn1_unix(X509_get0_notAfter(c->leaf));
    rc = 0;
done:
    ERR_clear_error();
    BIO_free(b);
    if (data) {
        sodium_memzero(data, len);
        free(data);
    }
    if (rc < 0)
        cert_clear(c);
    return rc;
}

static int cert_names_all(const struct acme *a, const struct acme_cert *c)
{
    for (int i = 0; i < a->ndomains; i++)
        if (X509_check_host(c->leaf, a->domains[i], strlen(a->domains[i]), 0, NULL) != 1)
            return 0;
    return 1;
}

/* The certificate names exactly the domains (no name removed since). */
static int cert_names_exact(const struct acme *a, const struct acme_cert *c)
{
    if (!cert_names_all(a, c))
        return 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    int dns = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++)
        if (sk_GENERAL_NAME_value(gens, i)->type == GEN_DNS)
            dns++;
    GENERAL_NAMES_free(gens);
    return dns == a->ndomains;
}

/* ---------------------------------------------------------------- setup */

struct acme *acme_new(struct srv *s)
{
    struct acme *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->srv = s;
    const char *p = s->cfg.acme_domains;
    while (*p && a->ndomains < ACME_DOMAINS_MAX) {
        size_t n = strcspn(p, ",");
        if (n > ACME_NAME_MAX)
            break;
        memcpy(a->domains[a->ndomains], p, n);
        a->domains[a->ndomains][n] = '\0';
        a->ndomains++;
        p += n;
        if (*p == ',')
            p++;
    }
    if (a->ndomains == 0 || *p) {
        log_error("acme", "--acme-domain: between 1 and %d names", ACME_DOMAINS_MAX);
        free(a);
        return NULL;
    }
    if (!s->cfg.acme_email[0]) { /* lego 4.9 refuses to register without one */
        log_error("acme", "--acme-domain needs --acme-email (the ACME account's contact)");
        free(a);
        return NULL;
    }
    snprintf(a->dir, sizeof a->dir, "%s/acme", s->cfg.data_dir);
    snprintf(a->lego_dir, sizeof a->lego_dir, "%s/lego", a->dir);
    snprintf(a->webroot, sizeof a->webroot, "%s/webroot", a->dir);
    /* lego names the files after the first domain */
    snprintf(a->crt, sizeof a->crt, "%s/certificates/%s.crt", a->lego_dir, a->domains[0]);
    snprintf(a->key, sizeof a->key, "%s/certificates/%s.key", a->lego_dir, a->domains[0]);
    snprintf(a->ph_crt, sizeof a->ph_crt, "%s/placeholder.crt", a->dir);
    snprintf(a->ph_key, sizeof a->ph_key, "%s/placeholder.key", a->dir);
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    return a;
}

static int write_pem(const char *path, int key, X509 *x, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = -1;
    if (!b)
        return -1;
    if (key ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
            : PEM_write_bio_X509(b, x)) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        rc = n > 0 ? util_write_file_atomic(path, data, (size_t)n, 0600) : -1;
    }
    BIO_free_all(b); /* a memory BIO clears its buffer on free */
    return rc;
}

/* A self-signed EC P-256 certificate for the names, valid a few days: what
 * the TLS vhost serves until the ACME server has issued. */
static int placeholder_make(struct acme *a)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int rc = -1;
    if (!k || !x)
        goto done;
    uint64_t serial;
    randombytes_buf(&serial, sizeof serial);
    serial >>= 2;
    X509_set_version(x, 2);
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)PLACEHOLDER_DAYS * 86400);
    X509_set_pubkey(x, k);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
                               (const unsigned char *)"berthd placeholder (ACME pending)", -1, -1, 0);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)a->domains[0], -1,
                               -1, 0);
    X509_set_issuer_name(x, nm);
    char san[ACME_DOMAINS_MAX * (ACME_NAME_MAX + 5)];
    size_t off = 0;
    for (int i = 0; i < a->ndomains; i++)
        off += (size_t)snprintf(san + off, sizeof san - off, "%sDNS:%s", i ? "," : "",
                                a->domains[i]);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (!ext || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        goto done;
    }
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, k, EVP_sha256()))
        goto done;
    if (write_pem(a->ph_key, 1, NULL, k) < 0 || write_pem(a->ph_crt, 0, x, NULL) < 0)
        goto done;
    rc = 0;
done:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int acme_prepare(struct acme *a)
{
    struct config *cfg = &a->srv->cfg;
    if (cfg->tls_cert[0] || cfg->tls_key[0]) {
        log_error("acme", "--acme-domain takes its own certificate: drop --tls-cert/--tls-key");
        return -1;
    }
    if ((mkdir(a->dir, 0700) < 0 && errno != EEXIST) ||
        (mkdir(a->webroot, 0700) < 0 && errno != EEXIST)) {
        log_error("acme", "cannot create %s: %s", a->dir, strerror(errno));
        return -1;
    }
    struct acme_cert c;
    char err[512];
    /* lego's certificate while it is valid for the first name at least (names
     * added since are asked for at once by the thread) */
    if (cert_load(a->crt, a->key, &c, err, sizeof err) == 0 &&
        X509_check_host(c.leaf, a->domains[0], strlen(a->domains[0]), 0, NULL) == 1 &&
        c.not_after > util_now()) {
        util_strlcpy(cfg->tls_cert, a->crt, sizeof cfg->tls_cert);
        util_strlcpy(cfg->tls_key, a->key, sizeof cfg->tls_key);
        a->not_after = c.not_after;
        a->issued = 1;
        metrics_gauge_set(a->srv->metrics, ACME_EXPIRY_GAUGE, (double)a->not_after);
        char when[32];
        util_iso8601(c.not_after, when, sizeof when);
        log_info("acme", "serving the certificate for %s from %s (valid until %s)",
                 a->domains[0], a->crt, when);
        cert_clear(&c);
        return 0;
    }
    if (placeholder_make(a) < 0) {
        log_error("acme", "cannot write the placeholder certificate in %s", a->dir);
        return -1;
    }
    util_strlcpy(cfg->tls_cert, a->ph_crt, sizeof cfg->tls_cert);
    util_strlcpy(cfg->tls_key, a->ph_key, sizeof cfg->tls_key);
    a->not_after = 0;
    a->issued = 0;
    log_info("acme", "no valid certificate for %s yet: serving a self-signed placeholder "
                     "until the ACME server issues one", a->domains[0]);
    return 0;
}

void acme_tls_ctx(struct acme *a, void *ssl_ctx)
{
    if (a && !a->ssl_ctx)
        a->ssl_ctx = ssl_ctx;
}

int64_t acme_not_after(const struct acme *a, int *issued)
{
    if (!a)
        return 0;
    if (issued)
        *issued = a->issued;
    return a->not_after;
}

/* -------------------------------------------------- loop: the install */

static void install_done(void *arg)
{
    struct acme_msg *m = arg;
    struct acme *a = m->a;
    if (a->ssl_ctx && !a->srv->stopping) {
        if (SSL_CTX_use_cert_and_key(a->ssl_ctx, m->c.leaf, m->c.key, m->c.chain, 1) == 1) {
            char when[32];
            util_iso8601(m->c.not_after, when, sizeof when);
            a->not_after = m->c.not_after;
            a->issued = 1;
            metrics_gauge_set(a->srv->metrics, ACME_EXPIRY_GAUGE, (double)a->not_after);
            log_info("acme", "certificate for %s %s, valid until %s; serving it now",
                     a->domains[0], m->renewal ? "renewed" : "issued", when);
        } else {
            unsigned long e = ERR_get_error();
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            log_error("acme", "cannot load the new certificate into the TLS context: %s", buf);
        }
        ERR_clear_error();
    }
    cert_clear(&m->c);
    free(m);
}

/* ------------------------------------------------ the thread: lego runs */

static int stopping(struct acme *a)
{
    pthread_mutex_lock(&a->mu);
    int s = a->stop;
    pthread_mutex_unlock(&a->mu);
    return s;
}

/* Sleeps until wall time `until` or stop; 1 when stopping. */
static int wait_until(struct acme *a, int64_t until)
{
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        int64_t left = until - util_now();
        if (left <= 0)
            break;
        if (left > 3600)
            left = 3600; /* wall clock jumps: look again within the hour */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)left;
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
    }
    int s = a->stop;
    pthread_mutex_unlock(&a->mu);
    return s;
}

/* Keeps the last LEGO_TAIL bytes of lego's output. */
static void tail_add(char *tail, size_t *tl, const char *p, size_t n)
{
    if (n >= LEGO_TAIL) {
        memcpy(tail, p + n - LEGO_TAIL, LEGO_TAIL);
        *tl = LEGO_TAIL;
        return;
    }
    if (*tl + n > LEGO_TAIL) {
        size_t drop = *tl + n - LEGO_TAIL;
        memmove(tail, tail + drop, *tl - drop);
        *tl -= drop;
    }
    memcpy(tail + *tl, p, n);
    *tl += n;
}

static void child_kill(struct acme *a, pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 50; i++) { /* 5 s to go, then SIGKILL */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            goto reaped;
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
reaped:
    pthread_mutex_lock(&a->mu);
    a->child = 0;
    pthread_mutex_unlock(&a->mu);
}

/* Runs lego (`run`, or `renew` when it holds a certificate for these
 * names); 0 on exit status 0, else -1 with lego's last output in msg. */
static int lego_run(struct acme *a, int renew, char *msg, size_t msglen)
{
    const struct config *cfg = &a->srv->cfg;
    /* 18 fixed words at most (with renew's four and the NULL) + 2 per name */
    const char *argv[24 + 2 * ACME_DOMAINS_MAX];
    int n = 0;
    argv[n++] = "lego";
    argv[n++] = "--server";
    argv[n++] = cfg->acme_directory;
    argv[n++] = "--accept-tos";
    argv[n++] = "--email";
    argv[n++] = cfg->acme_email;
    argv[n++] = "--path";
    argv[n++] = a->lego_dir;
    argv[n++] = "--key-type";
    argv[n++] = "ec256"; /* the placeholder's type: one certificate slot */
    for (int i = 0; i < a->ndomains; i++) {
        argv[n++] = "--domains";
        argv[n++] = a->domains[i];
    }
    argv[n++] = "--http";
    argv[n++] = "--http.webroot";
    argv[n++] = a->webroot;
    if (renew) {
        argv[n++] = "renew";
        argv[n++] = "--days"; /* berthd decided: renew whatever is left */
        argv[n++] = "36500";
        argv[n++] = "--no-random-sleep";
    } else {
        argv[n++] = "run";
    }
    argv[n] = NULL;
    char ca_env[1100], home_env[1200];
    const char *envp[4];
    int ne = 0;
    envp[ne++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    snprintf(home_env, sizeof home_env, "HOME=%s", a->dir);
    envp[ne++] = home_env;
    if (cfg->acme_ca_file[0]) {
        snprintf(ca_env, sizeof ca_env, "LEGO_CA_CERTIFICATES=%s", cfg->acme_ca_file);
        envp[ne++] = ca_env;
    }
    envp[ne] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(msg, msglen, "pipe: %s", strerror(errno));
        return -1;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec */
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        closefrom(3);
        execvpe("lego", (char *const *)argv, (char *const *)envp);
        static const char e[] = "berthd: cannot run lego (is Debian's lego installed?)\n";
        ssize_t w = write(2, e, sizeof e - 1);
        (void)w;
        _exit(127);
    }
    if (devnull >= 0)
        close(devnull);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        snprintf(msg, msglen, "fork: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    a->child = pid;
    pthread_mutex_unlock(&a->mu);

    char tail[LEGO_TAIL], buf[4096];
    size_t tl = 0;
    uint64_t deadline = util_mono_us() + (uint64_t)LEGO_DEADLINE_S * 1000000u;
    int killed = 0;
    for (;;) {
        if (stopping(a)) {
            killed = 1;
            break;
        }
        if (util_mono_us() > deadline) {
            killed = 2;
            break;
        }
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pf, 1, 250);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            break; /* EOF: lego is exiting */
        tail_add(tail, &tl, buf, (size_t)r);
    }
    close(fds[0]);
    int status = -1;
    if (killed) {
        child_kill(a, pid);
    } else {
        /* EOF seen: the exit follows; a bounded wait all the same */
        int i;
        for (i = 0; i < 100; i++) {
            if (waitpid(pid, &status, WNOHANG) == pid)
                break;
            usleep(50 * 1000);
        }
        if (i == 100) {
            child_kill(a, pid);
            status = -1;
        } else {
            pthread_mutex_lock(&a->mu);
            a->child = 0;
            pthread_mutex_unlock(&a->mu);
        }
    }
    if (!killed && status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* lego's own words, last LEGO_LOG_MAX bytes, one line, printable */
    size_t from = tl > LEGO_LOG_MAX ? tl - LEGO_LOG_MAX : 0;
    while (tl > from && (tail[tl - 1] == '\n' || tail[tl - 1] == ' '))
        tl--;
    char clean[LEGO_LOG_MAX + 1];
    size_t cl = 0;
    for (size_t i = from; i < tl && cl < LEGO_LOG_MAX; i++) {
        unsigned char ch = (unsigned char)tail[i];
        clean[cl++] = (ch < 0x20 || ch >= 0x7f) ? ' ' : (char)ch;
    }
    clean[cl] = '\0';
    if (killed == 2)
        snprintf(msg, msglen, "lego ran past %d s and was killed; it said: %s",
                 LEGO_DEADLINE_S, clean);
    else if (killed)
        snprintf(msg, msglen, "stopped");
    else if (status >= 0 && WIFEXITED(status))
        snprintf(msg, msglen, "lego exited with %d: %s", WEXITSTATUS(status), clean);
    else
        snprintf(msg, msglen, "lego died: %s", clean);
    return -1;
}

static int64_t backoff_s(const struct acme *a, int failures)
{
    int64_t base = a->srv->cfg.acme_check_interval < 60 ? a->srv->cfg.acme_check_interval : 60;
    int shift = failures - 1 < 10 ? failures - 1 : 10;
    int64_t d = base << shift;
    if (d > BACKOFF_CAP_S)
        d = BACKOFF_CAP_S;
    /* jitter: 80-120% */
    d = d * (80 + (int64_t)randombytes_uniform(41)) / 100;
    return d > 0 ? d : 1;
}

static void *acme_main(void *arg)
{
    struct acme *a = arg;
    const struct config *cfg = &a->srv->cfg;
    int failures = 0;
    int64_t next = util_now();
    while (!wait_until(a, next)) {
        int64_t now = util_now(), before = (int64_t)cfg->acme_renew_days * 86400;
        struct acme_cert c;
        char err[1600];
        /* lego's certificate for exactly these names: renew it; else
         * (none, or names added or removed) a new one */
        int have = cert_load(a->crt, a->key, &c, err, sizeof err) == 0 && cert_names_exact(a, &c);
        int64_t left = have ? c.not_after - now : 0;
        cert_clear(&c);
        if (have && left > before) {
            int64_t wait = left - before;
            next = now + (wait < cfg->acme_check_interval ? wait : cfg->acme_check_interval);
            continue;
        }
        log_info("acme", "%s the certificate for %s from %s", have ? "renewing" : "requesting",
                 a->domains[0], cfg->acme_directory);
        int rc = lego_run(a, have, err, sizeof err);
        if (rc == 0) {
            chmod(a->crt, 0600);
            chmod(a->key, 0600);
            if (cert_load(a->crt, a->key, &c, err, sizeof err) < 0)
                rc = -1;
            else if (!cert_names_all(a, &c) || c.not_after <= now) {
                snprintf(err, sizeof err, "lego's certificate %s does not name every domain "
                                          "or has expired", a->crt);
                cert_clear(&c);
                rc = -1;
            }
        }
        if (rc == 0) {
            struct acme_msg *m = calloc(1, sizeof *m);
            if (m) {
                m->a = a;
                m->c = c;
                m->renewal = have;
                if (pool_post(a->srv->pool, install_done, m) < 0) {
                    cert_clear(&m->c);
                    free(m);
                    rc = -1;
                    snprintf(err, sizeof err, "out of memory");
                }
            } else {
                cert_clear(&c);
                rc = -1;
                snprintf(err, sizeof err, "out of memory");
            }
        }
        if (rc == 0) {
            failures = 0;
            next = now + cfg->acme_check_interval;
            continue;
        }
        if (stopping(a))
            break;
        failures++;
        int64_t d = backoff_s(a, failures);
        log_error("acme", "%s the certificate for %s failed (attempt %d, next in %lld s): %s",
                  have ? "renewing" : "requesting", a->domains[0], failures, (long long)d, err);
        next = util_now() + d;
    }
    return NULL;
}

/* ------------------------------------------- loop: the HTTP-01 listener */

static int reply_simple(struct lws *wsi, int status, const char *ctype, const char *body,
                        size_t blen, const char *location)
{
    unsigned char hb[LWS_PRE + 2048], *start = hb + LWS_PRE, *p = start,
                                      *end = hb + sizeof hb - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, blen, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        (location && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION,
                                                  (const unsigned char *)location,
                                                  (int)strlen(location), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (blen) {
        unsigned char bb[LWS_PRE + CHALLENGE_FILE_MAX + 64];
        if (blen > sizeof bb - LWS_PRE)
            return -1;
        memcpy(bb + LWS_PRE, body, blen);
        if (lws_write(wsi, bb + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) != (int)blen)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int serve_token(struct acme *a, struct lws *wsi, const char *tok)
{
    char path[1500], body[CHALLENGE_FILE_MAX];
    if (snprintf(path, sizeof path, "%s%s%s", a->webroot, ACME_PREFIX, tok) >= (int)sizeof path)
        return reply_simple(wsi, 404, "text/plain", "not found\n", 10, NULL);
    /* A local file under a few hundred bytes, no symlink, no FIFO: read on
     * the loop, as cheap as a stat. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        st.st_size <= CHALLENGE_FILE_MAX)
        n = read(fd, body, sizeof body);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return reply_simple(wsi, 404, "text/plain", "not found\n", 10, NULL);
    return reply_simple(wsi, 200, "text/plain", body, (size_t)n, NULL);
}

static int cb_acme_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    (void)user, (void)len;
    if (reason != LWS_CALLBACK_HTTP)
        return 0;
    struct acme *a = lws_get_vhost_user(lws_get_vhost(wsi));
    const char *path = in ? in : "";
    size_t plen = strnlen(path, ACME_REDIRECT_PATH_MAX + 1);
    int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    int is_ch;
    const char *tok = acme_challenge_token(path, plen, &is_ch);
    if (!a)
        return -1;
    if (is_ch) {
        if (!is_get) { /* an unread body would follow: answer, then close */
            reply_simple(wsi, 405, "text/plain", "method not allowed\n", 19, NULL);
            return -1;
        }
        if (!tok)
            return reply_simple(wsi, 404, "text/plain", "not found\n", 10, NULL);
        return serve_token(a, wsi, tok);
    }
    /* Everything else: to HTTPS on berthd's own name and port. */
    char loc[64 + ACME_NAME_MAX + ACME_REDIRECT_PATH_MAX];
    int port = a->srv->cfg.port;
    char portpart[16] = "";
    if (port != 443)
        snprintf(portpart, sizeof portpart, ":%d", port);
    snprintf(loc, sizeof loc, "https://%s%s%s", a->domains[0], portpart,
             acme_redirect_path_ok(path, plen) ? path : "/");
    int rc = reply_simple(wsi, 301, "text/plain", "", 0, loc);
    return is_get ? rc : -1;
}

static const struct lws_protocols acme_protocols[] = {
    {"berth-acme-http", cb_acme_http, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int acme_start(struct acme *a, struct lws_context *ctx)
{
    if (!a->ssl_ctx) {
        log_error("acme", "the TLS vhost gave no SSL context: cannot swap certificates");
        return -1;
    }
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof vi);
    vi.port = a->srv->cfg.acme_http_port;
    vi.iface = a->srv->cfg.listen_host;
    vi.protocols = acme_protocols;
    vi.vhost_name = "acme-http";
    vi.user = a;
    vi.keepalive_timeout = 5;
    vi.timeout_secs = 10;
    a->http_vh = lws_create_vhost(ctx, &vi);
    if (!a->http_vh) {
        log_error("acme", "cannot listen for HTTP-01 challenges on %s:%d",
                  a->srv->cfg.listen_host, a->srv->cfg.acme_http_port);
        return -1;
    }
    log_info("acme", "HTTP-01 challenges and redirects on http://%s:%d",
             a->srv->cfg.listen_host, lws_get_vhost_listen_port(a->http_vh));
    if (pthread_create(&a->th, NULL, acme_main, a) != 0) {
        log_error("acme", "cannot start the ACME thread");
        return -1;
    }
    a->th_started = 1;
    return 0;
}

void acme_stop(struct acme *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    if (a->child > 0)
        kill(a->child, SIGTERM);
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->th_started)
        pthread_join(a->th, NULL);
    a->th_started = 0;
    a->ssl_ctx = NULL; /* installs still queued are dropped */
}

void acme_free(struct acme *a)
{
    if (!a)
        return;
    acme_stop(a);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}
