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
    /* ACME for the edge's HTTPS names, sent to runners in edge/deploy jobs */
    char acme_directory[513]; /* https:// directory URL */
    char acme_email[255];     /* account contact, "" for none */
    char acme_ca_file[1024];  /* PEM bundle for the directory's TLS, "" for the system's */
};

void config_defaults(struct config *c);
/* Applies BERTH_* environment variables over the defaults. */
void config_from_env(struct config *c);
/* Parses "host:port", "[v6]:port" or ":port"; 0 or -1. */
int config_parse_listen(struct config *c, const char *s);

#endif
