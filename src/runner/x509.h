/* x509.h - X.509 helpers for the edge's HTTPS (libcrypto): the default
 * self-signed certificate and what a PEM chain says about itself. */
#ifndef BERTH_RUNNER_X509_H
#define BERTH_RUNNER_X509_H

#include <stddef.h>
#include <stdint.h>

#define X509_PEM_MAX (64 * 1024)

/* Writes a self-signed P-256 certificate + key (CN=cn, 10 years) to path,
 * 0600, atomically. 0 or -1. */
int x509_self_signed(const char *path, const char *cn);

/* Reads the first certificate of a PEM text (hostile: capped at
 * X509_PEM_MAX, no key needed): its notAfter (unix seconds) and its
 * issuer's CN (or O), printable ASCII, into issuer[n]. 0 or -1. */
int x509_info(const char *pem, size_t len, int64_t *not_after, char *issuer, size_t n);

/* 1 when pem holds at least one certificate and one private key that
 * belongs to it. */
int x509_pair_ok(const char *pem, size_t len);

#endif
