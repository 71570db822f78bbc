/* certparse.h - an uploaded TLS certificate checked and summarised
 * (docs/deploy.md#certificates): a PEM chain and its private key, both
 * hostile input, read with OpenSSL's libcrypto. Pure functions, no store,
 * no logging (the key never reaches a log line), any thread.
 *
 * certparse_summary_release frees what a summary holds, not the struct.
 */
#ifndef BERTHD_CERTPARSE_H
#define BERTHD_CERTPARSE_H

#include <stddef.h>
#include <stdint.h>

#define CERTPARSE_PEM_MAX (64 * 1024) /* the chain, bytes */
#define CERTPARSE_KEY_MAX (16 * 1024) /* the private key, bytes */
#define CERTPARSE_CHAIN_MAX 8         /* certificates in the chain */
#define CERTPARSE_SANS_MAX 200        /* DNS names on the leaf */
#define CERTPARSE_NAME_MAX 256        /* subject / issuer text, cut */
#define CERTPARSE_RSA_MIN 2048
#define CERTPARSE_RSA_MAX 8192

struct certparse_summary {
    char subject[CERTPARSE_NAME_MAX]; /* RFC 2253, ASCII (escaped), cut */
    char issuer[CERTPARSE_NAME_MAX];
    char **sans;                      /* lower-cased DNS names, nsans >= 1 */
    size_t nsans;
    int64_t not_before, not_after;    /* unix seconds */
    char fingerprint[65];             /* SHA-256 of the leaf's DER, lower hex */
    char key_type[16];                /* "rsa", "ec-p256", "ec-p384" */
    int key_bits;
    int chain_len;                    /* certificates in the chain */
};

/* Checks chain (PEM, chain_len bytes, leaf first) and, unless key is NULL,
 * its private key (PEM, key_len bytes): sizes, only CERTIFICATE blocks,
 * each issued by the next one (name and signature), the leaf not expired
 * at now, at least one DNS subjectAltName, an RSA >= 2048 / EC P-256 or
 * P-384 key, the private key unencrypted and matching the leaf. 0 with
 * out filled, or -1 with a one-line reason for the user in err (never any
 * byte of the key). out is zeroed first; release it after 0 and -1. */
int certparse_check(const char *chain, size_t chain_len, const char *key, size_t key_len,
                    int64_t now, struct certparse_summary *out, char *err, size_t errlen);
void certparse_summary_release(struct certparse_summary *s);

/* Whether a certificate name (a SAN, lower case) covers a host name
 * (lower case, possibly "*.x"): equal, or san is "*.X" and name is one
 * label (not '*') followed by ".X". 1 or 0. */
int certparse_covers(const char *san, const char *name);

#endif
