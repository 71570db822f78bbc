/* x509.c - X.509 helpers for the edge's HTTPS: the default self-signed
 * certificate (made once, when the HTTPS frontend first appears) and the
 * expiry and issuer of a certificate the ACME client wrote. Everything
 * read here comes from files another program wrote: capped and checked.
 * Owns nothing past a call. */
#include "x509.h"

#include "util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

int x509_self_signed(const char *path, const char *cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *nm;
    BIO *mem = BIO_new(BIO_s_mem());
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    char *data;
    long len;
    int rc = -1;
    if (!key || !x || !mem || RAND_bytes(serial, sizeof serial) != 1)
        goto done;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600) || !X509_set_pubkey(x, key))
        goto done;
    nm = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(x, nm) || !X509_sign(x, key, EVP_sha256()))
        goto done;
    if (!PEM_write_bio_X509(mem, x) || !PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL))
        goto done;
    len = BIO_get_mem_data(mem, &data);
    if (len <= 0)
        goto done;
    rc = util_write_file_atomic(path, data, (size_t)len, 0600);
done:
    BN_free(bn);
    BIO_free(mem);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static X509 *first_cert(const char *pem, size_t len)
{
    BIO *b;
    X509 *x;
    if (!pem || !len || len > X509_PEM_MAX)
        return NULL;
    b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return NULL;
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

int x509_info(const char *pem, size_t len, int64_t *not_after, char *issuer, size_t n)
{
    X509 *x = first_cert(pem, len);
    struct tm tm;
    int rc = -1;
    if (!x)
        return -1;
    memset(&tm, 0, sizeof tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
        goto done;
    *not_after = (int64_t)timegm(&tm);
    if (issuer && n) {
        X509_NAME *in = X509_get_issuer_name(x);
        issuer[0] = '\0';
        if (X509_NAME_get_text_by_NID(in, NID_commonName, issuer, (int)n) < 0 &&
            X509_NAME_get_text_by_NID(in, NID_organizationName, issuer, (int)n) < 0)
            util_strlcpy(issuer, "unknown", n);
        printable(issuer);
    }
    rc = 0;
done:
    X509_free(x);
    return rc;
}

int x509_pair_ok(const char *pem, size_t len)
{
    X509 *x = first_cert(pem, len);
    BIO *b;
    EVP_PKEY *k = NULL;
    int ok = 0;
    if (!x)
        return 0;
    b = BIO_new_mem_buf(pem, (int)len);
    if (b)
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    ok = k && X509_check_private_key(x, k) == 1;
    EVP_PKEY_free(k);
    BIO_free(b);
    X509_free(x);
    return ok;
}
