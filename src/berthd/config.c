/* config.c - defaults and environment for berthd. Flags are parsed in
 * main.c and applied after the environment, so a flag always wins. */
#include "config.h"
#include "acme_path.h"
#include "util.h"

#include <stdio.h>
#include <ctype.h>

#include <stdlib.h>
#include <string.h>

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    util_strlcpy(c->data_dir, "./var", sizeof c->data_dir);
    util_strlcpy(c->listen_host, "127.0.0.1", sizeof c->listen_host);
    c->port = 8080;
    c->body_max = 1024 * 1024;
    c->workers = 2;
    c->session_ttl = 7 * 24 * 3600;
    c->login_max_account = 5;
    c->login_max_address = 20;
    c->login_window = 900;
    c->outbound_threads = 2;
    c->job_output_max = 64 * 1024 * 1024;
    util_strlcpy(c->acme_directory, "https://acme-v02.api.letsencrypt.org/directory",
                 sizeof c->acme_directory);
    c->acme_http_port = 80;
    c->acme_renew_days = 30;
    c->acme_check_interval = 12 * 3600;
}

static void env_str(const char *name, char *dst, size_t n)
{
    const char *v = getenv(name);
    if (v && *v)
        util_strlcpy(dst, v, n);
}

static void env_int(const char *name, int *dst)
{
    int64_t v;
    const char *s = getenv(name);
    if (s && util_parse_i64(s, &v) == 0 && v >= 0 && v < (1 << 30))
        *dst = (int)v;
}

void config_from_env(struct config *c)
{
    env_str("BERTH_DATA", c->data_dir, sizeof c->data_dir);
    env_str("BERTH_DB", c->db_url, sizeof c->db_url);
    env_str("BERTH_TLS_CERT", c->tls_cert, sizeof c->tls_cert);
    env_str("BERTH_WEB_DIR", c->web_dir, sizeof c->web_dir);
    env_str("BERTH_TLS_KEY", c->tls_key, sizeof c->tls_key);
    env_str("BERTH_PUBLIC_URL", c->public_url, sizeof c->public_url);
    const char *l = getenv("BERTH_LISTEN");
    if (l && *l)
        config_parse_listen(c, l);
    int body = 0;
    env_int("BERTH_BODY_MAX", &body);
    if (body > 0)
        c->body_max = (size_t)body;
    int out = 0;
    env_int("BERTH_JOB_OUTPUT_MAX", &out);
    if (out >= 4096)
        c->job_output_max = out;
    env_int("BERTH_WORKERS", &c->workers);
    env_int("BERTH_SESSION_TTL", &c->session_ttl);
    env_int("BERTH_LOGIN_MAX_ACCOUNT", &c->login_max_account);
    env_int("BERTH_LOGIN_MAX_ADDRESS", &c->login_max_address);
    env_int("BERTH_LOGIN_WINDOW", &c->login_window);
    env_int("BERTH_ACCESS_LOG", &c->access_log);
    env_str("BERTH_OUTBOUND_ALLOW", c->outbound_allow, sizeof c->outbound_allow);
    env_int("BERTH_OUTBOUND_HTTP", &c->outbound_http);
    env_int("BERTH_OUTBOUND_THREADS", &c->outbound_threads);
}

int config_parse_listen(struct config *c, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    int64_t port;
    if (util_parse_i64(colon + 1, &port) < 0 || port < 0 || port > 65535)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof c->listen_host)
        return -1;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        memcpy(c->listen_host, s + 1, hl - 2);
        c->listen_host[hl - 2] = '\0';
    } else {
        memcpy(c->listen_host, s, hl);
        c->listen_host[hl] = '\0';
    }
    if (!c->listen_host[0])
        util_strlcpy(c->listen_host, "0.0.0.0", sizeof c->listen_host);
    c->port = (int)port;
    return 0;
}

/* The ACME options, one table for the flags and the environment. */
static const struct {
    const char *name, *env;
} acme_opts[] = {
    {"acme-domain", "BERTH_ACME_DOMAIN"},         {"acme-directory", "BERTH_ACME_DIRECTORY"},
    {"acme-email", "BERTH_ACME_EMAIL"},           {"acme-ca-file", "BERTH_ACME_CA_FILE"},
    {"acme-http-port", "BERTH_ACME_HTTP_PORT"},   {"acme-renew-days", "BERTH_ACME_RENEW_DAYS"},
    {"acme-check-interval", "BERTH_ACME_CHECK_INTERVAL"},
};

static int acme_int(const char *v, int lo, int hi, int *out)
{
    int64_t n;
    if (util_parse_i64(v, &n) < 0 || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

static int acme_add_domains(struct config *c, const char *v, char *err, size_t errlen)
{
    char one[ACME_NAME_MAX + 1];
    const char *p = v;
    for (;;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > ACME_NAME_MAX) {
            snprintf(err, errlen, "--acme-domain: empty or too long name");
            return -1;
        }
        memcpy(one, p, n);
        one[n] = '\0';
        for (char *q = one; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (!acme_domain_valid(one)) {
            snprintf(err, errlen, "--acme-domain: '%.*s' is not a host name (letters, digits, "
                                  "'-' and dots; no wildcard)", 64, one);
            return -1;
        }
        size_t have = strlen(c->acme_domains);
        if (have + n + 2 > sizeof c->acme_domains) {
            snprintf(err, errlen, "--acme-domain: too many names");
            return -1;
        }
        if (have)
            c->acme_domains[have++] = ',';
        memcpy(c->acme_domains + have, one, n + 1);
        if (!p[n])
            break;
        p += n + 1;
    }
    return 0;
}

int config_acme_option(struct config *c, const char *name, const char *value, char *err,
                       size_t errlen)
{
    if (!value)
        value = "";
    int bad = 0;
    if (strcmp(name, "acme-domain") == 0)
        return acme_add_domains(c, value, err, errlen);
    if (strcmp(name, "acme-directory") == 0) {
        bad = (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) ||
              util_strlcpy(c->acme_directory, value, sizeof c->acme_directory) < 0;
        for (const char *q = value; !bad && *q; q++)
            bad = (unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f;
    } else if (strcmp(name, "acme-email") == 0) {
        bad = (value[0] && !util_email_valid(value)) ||
              util_strlcpy(c->acme_email, value, sizeof c->acme_email) < 0;
    } else if (strcmp(name, "acme-ca-file") == 0) {
        bad = util_strlcpy(c->acme_ca_file, value, sizeof c->acme_ca_file) < 0;
    } else if (strcmp(name, "acme-http-port") == 0) {
        bad = acme_int(value, 1, 65535, &c->acme_http_port) < 0;
    } else if (strcmp(name, "acme-renew-days") == 0) {
        bad = acme_int(value, 1, 100000, &c->acme_renew_days) < 0;
    } else if (strcmp(name, "acme-check-interval") == 0) {
        bad = acme_int(value, 1, 30 * 86400, &c->acme_check_interval) < 0;
    } else {
        snprintf(err, errlen, "unknown option --%s", name);
        return -1;
    }
    if (bad) {
        snprintf(err, errlen, "--%s: bad value", name);
        return -1;
    }
    return 0;
}

int config_acme_from_env(struct config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof acme_opts / sizeof acme_opts[0]; i++) {
        const char *v = getenv(acme_opts[i].env);
        if (v && *v && config_acme_option(c, acme_opts[i].name, v, err, errlen) < 0) {
            size_t l = strlen(err);
            snprintf(err + l, errlen > l ? errlen - l : 0, " (%s)", acme_opts[i].env);
            return -1;
        }
    }
    return 0;
}
