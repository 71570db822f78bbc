/* certparse.c - an uploaded certificate chain and its private key checked
 * and summarised with libcrypto (see certparse.h). Every byte is hostile:
 * sizes are capped before OpenSSL sees them, each PEM block's name is
 * checked before it is decoded, a DER body must be consumed whole, and
 * OpenSSL's error queue is cleared on every path. Key material read here
 * is freed with OPENSSL_clear_free; no reason names a byte of it.
 */
#include "certparse.h"

#include "util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return -1;
}

void certparse_summary_release(struct certparse_summary *s)
{
    for (size_t i = 0; i < s->nsans; i++)
        free(s->sans[i]);
    free(s->sans);
    s->sans = NULL;
    s->nsans = 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int asn1_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
           tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return 0;
}

/* A name as RFC 2253 text, printable ASCII only, cut to the buffer. */
static void name_text(const X509_NAME *nm, char *out, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long l;
    out[0] = '\0';
    if (!b)
        return;
    if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0 && (l = BIO_get_mem_data(b, &p)) > 0) {
        size_t k = 0;
        for (long i = 0; i < l && k + 1 < n; i++)
            out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
        out[k] = '\0';
    }
    BIO_free(b);
}

/* The key types a certificate in the chain may hold: RSA 2048-8192 bits,
 * EC on P-256 or P-384. 0 with type and bits, or -1. */
static int key_kind(EVP_PKEY *pk, char *type, size_t tn, int *bits)
{
    if (!pk)
        return -1;
    *bits = EVP_PKEY_bits(pk);
    if (EVP_PKEY_base_id(pk) == EVP_PKEY_RSA) {
        if (*bits < CERTPARSE_RSA_MIN || *bits > CERTPARSE_RSA_MAX)
            return -1;
        util_strlcpy(type, "rsa", tn);
        return 0;
    }
    if (EVP_PKEY_base_id(pk) == EVP_PKEY_EC) {
        char g[64];
        size_t gl = 0;
        if (EVP_PKEY_get_group_name(pk, g, sizeof g, &gl) != 1)
            return -1;
        if (strcmp(g, "prime256v1") == 0 || strcmp(g, "P-256") == 0)
            util_strlcpy(type, "ec-p256", tn);
        else if (strcmp(g, "secp384r1") == 0 || strcmp(g, "P-384") == 0)
            util_strlcpy(type, "ec-p384", tn);
        else
            return -1;
        return 0;
    }
    return -1;
}

/* Reads the chain's PEM blocks into xs: CERTIFICATE only, each DER body
 * consumed whole. The count, or -1. */
static int read_chain(const char *pem, size_t len, X509 **xs, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    int n = 0;
    if (!b)
        return fail(err, errlen, "out of memory");
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dl = 0;
        if (PEM_read_bio(b, &name, &header, &data, &dl) != 1) {
            unsigned long e = ERR_peek_last_error();
            int end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            ERR_clear_error();
            if (end && n > 0)
                break;
            BIO_free(b);
            for (int i = 0; i < n; i++)
                X509_free(xs[i]);
            return fail(err, errlen, n ? "field 'certificate': PEM block %d is broken" :
                        "field 'certificate' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        n + 1);
        }
        int ok = strcmp(name, "CERTIFICATE") == 0 && n < CERTPARSE_CHAIN_MAX;
        char why[96] = "";
        if (strcmp(name, "CERTIFICATE") != 0)
            snprintf(why, sizeof why, "block %d is not a CERTIFICATE", n + 1);
        else if (n >= CERTPARSE_CHAIN_MAX)
            snprintf(why, sizeof why, "the chain holds more than %d certificates",
                     CERTPARSE_CHAIN_MAX);
        if (ok) {
            const unsigned char *p = data;
            xs[n] = d2i_X509(NULL, &p, dl);
            if (!xs[n] || p != data + dl) {
                X509_free(xs[n]);
                xs[n] = NULL;
                ok = 0;
                snprintf(why, sizeof why, "certificate %d is not valid DER/X.509", n + 1);
            } else {
                n++;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, (size_t)(dl > 0 ? dl : 0));
        if (!ok) {
            BIO_free(b);
            for (int i = 0; i < n; i++)
                X509_free(xs[i]);
            return fail(err, errlen, "field 'certificate': %s", why);
        }
    }
    BIO_free(b);
    return n;
}

static int no_password(char *buf, int size, int rw, void *u)
{
    (void)buf, (void)size, (void)rw, (void)u;
    return 0;
}

/* The private key: one unencrypted PRIVATE KEY / RSA PRIVATE KEY / EC
 * PRIVATE KEY block (an EC PARAMETERS block beside it is allowed). */
static EVP_PKEY *read_key(const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    int keys = 0, bad = 0, enc = 0;
    if (!b) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    for (int blocks = 0; blocks < 4; blocks++) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dl = 0;
        if (PEM_read_bio(b, &name, &header, &data, &dl) != 1)
            break;
        if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0 || (header && strstr(header, "ENCRYPTED")))
            enc = 1;
        else if (!strcmp(name, "PRIVATE KEY") || !strcmp(name, "RSA PRIVATE KEY") ||
                 !strcmp(name, "EC PRIVATE KEY"))
            keys++;
        else if (strcmp(name, "EC PARAMETERS") != 0)
            bad = 1;
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, (size_t)(dl > 0 ? dl : 0));
    }
    ERR_clear_error();
    BIO_free(b);
    if (enc) {
        fail(err, errlen, "field 'private_key' is encrypted: upload it without a passphrase "
             "(openssl pkey -in KEY -out PLAIN)");
        return NULL;
    }
    if (bad || keys != 1) {
        fail(err, errlen, "field 'private_key' must hold exactly one PEM private key "
             "(PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) and nothing else");
        return NULL;
    }
    b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
    BIO_free(b);
    if (!k)
        fail(err, errlen, "field 'private_key' is not a readable private key");
    ERR_clear_error();
    return k;
}

static int read_sans(X509 *leaf, struct certparse_summary *out, char *err, size_t errlen)
{
    int crit = 0;
    GENERAL_NAMES *g = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    int rc = 0, n = g ? sk_GENERAL_NAME_num(g) : 0;
    if (n > CERTPARSE_SANS_MAX) {
        GENERAL_NAMES_free(g);
        return fail(err, errlen, "the certificate names more than %d subject alternative names",
                    CERTPARSE_SANS_MAX);
    }
    out->sans = n > 0 ? calloc((size_t)n, sizeof *out->sans) : NULL;
    for (int i = 0; i < n && out->sans; i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
        if (gn->type != GEN_DNS)
            continue;
        const unsigned char *d = ASN1_STRING_get0_data(gn->d.dNSName);
        int l = ASN1_STRING_length(gn->d.dNSName), ok = l >= 1 && l <= 253;
        for (int k = 0; ok && k < l; k++) {
            unsigned char c = d[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || (c == '*' && k == 0 && l > 2 && d[1] == '.');
        }
        if (!ok)
            continue; /* names no berth domain can have (IDNs are A-labels) */
        char *s = malloc((size_t)l + 1);
        if (!s) {
            rc = -1;
            break;
        }
        for (int k = 0; k < l; k++)
            s[k] = (char)((d[k] >= 'A' && d[k] <= 'Z') ? d[k] + 32 : d[k]);
        s[l] = '\0';
        out->sans[out->nsans++] = s;
    }
    GENERAL_NAMES_free(g);
    if (rc < 0 || (n > 0 && !out->sans))
        return fail(err, errlen, "out of memory");
    if (out->nsans == 0)
        return fail(err, errlen, "the certificate names no DNS host (subjectAltName DNS entries); "
                    "a certificate without them serves no domain");
    return 0;
}

int certparse_check(const char *chain, size_t chain_len, const char *key, size_t key_len,
                    int64_t now, struct certparse_summary *out, char *err, size_t errlen)
{
    X509 *xs[CERTPARSE_CHAIN_MAX] = {0};
    EVP_PKEY *pk = NULL;
    int n = 0, rc = -1;
    memset(out, 0, sizeof *out);
    if (!chain || chain_len == 0)
        return fail(err, errlen, "field 'certificate' is empty");
    if (chain_len > CERTPARSE_PEM_MAX)
        return fail(err, errlen, "field 'certificate' is larger than %d KiB",
                    CERTPARSE_PEM_MAX / 1024);
    if (memchr(chain, '\0', chain_len))
        return fail(err, errlen, "field 'certificate' holds a NUL byte");
    if (key && key_len == 0)
        return fail(err, errlen, "field 'private_key' is empty");
    if (key && key_len > CERTPARSE_KEY_MAX)
        return fail(err, errlen, "field 'private_key' is larger than %d KiB",
                    CERTPARSE_KEY_MAX / 1024);
    if (key && memchr(key, '\0', key_len))
        return fail(err, errlen, "field 'private_key' holds a NUL byte");
    if ((n = read_chain(chain, chain_len, xs, err, errlen)) < 0)
        return -1;
    out->chain_len = n;
    for (int i = 0; i < n; i++) {
        char t[16];
        int bits = 0;
        if (key_kind(X509_get0_pubkey(xs[i]), i ? t : out->key_type, sizeof t,
                     i ? &bits : &out->key_bits) < 0) {
            fail(err, errlen, "certificate %d: its key must be RSA of %d to %d bits or EC on "
                 "P-256 or P-384", i + 1, CERTPARSE_RSA_MIN, CERTPARSE_RSA_MAX);
            goto done;
        }
        if (i > 0 && (X509_NAME_cmp(X509_get_issuer_name(xs[i - 1]), X509_get_subject_name(xs[i])) ||
                      X509_verify(xs[i - 1], X509_get0_pubkey(xs[i])) != 1)) {
            fail(err, errlen, "field 'certificate': certificate %d did not issue certificate %d; "
                 "put the leaf first, then each issuer in order", i + 1, i);
            goto done;
        }
    }
    if (asn1_time(X509_get0_notBefore(xs[0]), &out->not_before) < 0 ||
        asn1_time(X509_get0_notAfter(xs[0]), &out->not_after) < 0) {
        fail(err, errlen, "the certificate's validity dates cannot be read");
        goto done;
    }
    if (out->not_after <= now) {
        fail(err, errlen, "the certificate expired (not after %lld)", (long long)out->not_after);
        goto done;
    }
    if (out->not_before >= out->not_after) {
        fail(err, errlen, "the certificate's validity ends before it starts");
        goto done;
    }
    if (read_sans(xs[0], out, err, errlen) < 0)
        goto done;
    name_text(X509_get_subject_name(xs[0]), out->subject, sizeof out->subject);
    name_text(X509_get_issuer_name(xs[0]), out->issuer, sizeof out->issuer);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (X509_digest(xs[0], EVP_sha256(), md, &ml) != 1 || ml != 32) {
        fail(err, errlen, "cannot fingerprint the certificate");
        goto done;
    }
    for (unsigned i = 0; i < ml; i++)
        snprintf(out->fingerprint + 2 * i, 3, "%02x", md[i]);
    if (key) {
        if (!(pk = read_key(key, key_len, err, errlen)))
            goto done;
        if (EVP_PKEY_eq(pk, X509_get0_pubkey(xs[0])) != 1) {
            fail(err, errlen, "field 'private_key' does not match the certificate (the first in "
                 "the chain)");
            goto done;
        }
    }
    rc = 0;
done:
    EVP_PKEY_free(pk);
    for (int i = 0; i < n; i++)
        X509_free(xs[i]);
    ERR_clear_error();
    return rc;
}

int certparse_covers(const char *san, const char *name)
{
    if (!san || !name || !*san)
        return 0;
    if (strcmp(san, name) == 0)
        return 1;
    if (san[0] != '*' || san[1] != '.')
        return 0;
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || name[0] == '*')
        return 0;
    return strcmp(dot + 1, san + 2) == 0;
}
