/* fuzz_certparse.c - certparse_check on an uploaded certificate chain and
 * private key (docs/deploy.md#certificates), and certparse_covers on what
 * it accepts. Input: the chain, then optionally a NUL and the key. What is
 * accepted must have sane fields (1..8 certificates, 1..200 lower-case
 * DNS names each covering itself, printable subject and issuer, a 64-hex
 * fingerprint, a known key type, not expired); a refusal must say why. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "certparse.h"

#define NOW 1780000000 /* a fixed clock: the same input, the same answer */

static void check_text(const char *s)
{
    for (; *s; s++)
        assert(*s >= 0x20 && *s < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *key = NULL;
    const char *nul = memchr(in, '\0', size);
    size_t chain_len = nul ? (size_t)(nul - in) : size, key_len = 0;
    struct certparse_summary s;
    char err[300];
    if (nul) {
        key = nul + 1;
        key_len = size - chain_len - 1;
    }
    err[0] = '\0';
    int rc = certparse_check(in, chain_len, key, key_len, NOW, &s, err, sizeof err);
    if (rc < 0) {
        assert(err[0] != '\0');
        assert(s.nsans == 0 || s.sans);
    } else {
        assert(rc == 0);
        assert(s.chain_len >= 1 && s.chain_len <= CERTPARSE_CHAIN_MAX);
        assert(s.nsans >= 1 && s.nsans <= CERTPARSE_SANS_MAX);
        for (size_t i = 0; i < s.nsans; i++) {
            size_t l = strlen(s.sans[i]);
            assert(l >= 1 && l <= 253);
            for (size_t k = 0; k < l; k++)
                assert(!(s.sans[i][k] >= 'A' && s.sans[i][k] <= 'Z'));
            assert(certparse_covers(s.sans[i], s.sans[i]) == 1);
        }
        check_text(s.subject);
        check_text(s.issuer);
        assert(strlen(s.fingerprint) == 64 && strspn(s.fingerprint, "0123456789abcdef") == 64);
        assert(!strcmp(s.key_type, "rsa") || !strcmp(s.key_type, "ec-p256") ||
               !strcmp(s.key_type, "ec-p384"));
        assert(s.not_after > NOW && s.not_before < s.not_after);
    }
    certparse_summary_release(&s);
    /* the cover rule on any two strings: never past them, wildcards one label */
    if (nul && chain_len < 300 && key_len < 300) {
        char a[301], b[301];
        memcpy(a, in, chain_len);
        a[chain_len] = '\0';
        memcpy(b, key, key_len);
        b[key_len] = '\0';
        if (certparse_covers(a, b) && strcmp(a, b) != 0) {
            assert(a[0] == '*' && a[1] == '.');
            const char *dot = strchr(b, '.');
            assert(dot && !strcmp(dot + 1, a + 2) && b[0] != '*');
        }
    }
    return 0;
}
