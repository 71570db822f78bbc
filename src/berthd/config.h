/* config.h - berthd settings from flags, then environment, then defaults. */
#ifndef BERTHD_CONFIG_H
#define BERTHD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config {
    char data_dir[1024];
    char listen_host[256];
    int port;
    char db_url[1024];        /* empty: sqlite in data_dir */
    char tls_cert[1024];
    char tls_key[1024];
    char web_dir[1024];       /* serve the dashboard from here (development); "": embedded */
    char public_url[512];     /* how clients reach us, for printed commands */
    size_t body_max;          /* request body limit in bytes */
    int64_t job_output_max;   /* a job's stored stdout+stderr, bytes (job.c) */
    int workers;              /* worker threads for slow work */
    int session_ttl;          /* seconds a login session lasts */
    int login_max_account;    /* failed logins per account per window */
    int login_max_address;    /* failed logins per address per window */
    int login_window;         /* seconds */
    int access_log;           /* log every request at info level */
    /* berthd's own outbound requests (outbound.c, docs/webhooks.md) */
    char outbound_allow[512]; /* CIDRs allowed although private/loopback */
    int outbound_http;        /* 1: plain http:// allowed too */
    int outbound_threads;     /* threads for outbound requests */
    /* berthd's own certificate by ACME (acme.c, docs/security.md); all
     * set through config_acme_option, the one parser of --acme-* flags
     * and BERTH_ACME_* variables */
    char acme_domains[1024];  /* validated names, comma-separated; "": off */
    char acme_directory[512]; /* the ACME server's directory URL */
    char acme_email[256];     /* account contact, may be "" */
    char acme_ca_file[1024];  /* CA bundle for the directory's own TLS, may be "" */
    int acme_http_port;       /* the HTTP-01 challenge listener (default 80) */
    int acme_renew_days;      /* renew this many days before expiry (30) */
    int acme_check_interval;  /* seconds between expiry checks (43200) */
};

void config_defaults(struct config *c);
/* Applies BERTH_* environment variables over the defaults. */
void config_from_env(struct config *c);
/* Sets one ACME option by its flag name without dashes ("acme-domain",
 * "acme-directory", "acme-email", "acme-ca-file", "acme-http-port",
 * "acme-renew-days", "acme-check-interval"); "acme-domain" adds one or
 * more comma-separated names. 0, or -1 with the reason in err. */
int config_acme_option(struct config *c, const char *name, const char *value, char *err,
                       size_t errlen);
/* The BERTH_ACME_* variables through config_acme_option: 0, or -1 with
 * the reason in err (the bad variable named). */
int config_acme_from_env(struct config *c, char *err, size_t errlen);
/* Parses "host:port", "[v6]:port" or ":port"; 0 or -1. */
int config_parse_listen(struct config *c, const char *s);

#endif
