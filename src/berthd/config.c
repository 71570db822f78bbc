/* config.c - defaults and environment for berthd. Flags are parsed in
 * main.c and applied after the environment, so a flag always wins. */
#include "config.h"
#include "util.h"

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
    util_strlcpy(c->acme_directory, "https://acme-v02.api.letsencrypt.org/directory", sizeof c->acme_directory);
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
    env_str("BERTH_ACME_DIRECTORY", c->acme_directory, sizeof c->acme_directory);
    env_str("BERTH_ACME_EMAIL", c->acme_email, sizeof c->acme_email);
    env_str("BERTH_ACME_CA_FILE", c->acme_ca_file, sizeof c->acme_ca_file);
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
