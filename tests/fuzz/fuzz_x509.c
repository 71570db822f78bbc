/* fuzz_certs.c - what the runner reads from the ACME client's files
 * (src/runner/x509.c): a PEM chain and key as lego wrote them, or as
 * anything that could write there did. x509_info must answer 0 with a
 * printable, NUL-terminated issuer or -1; x509_pair_ok 0 or 1; neither
 * reads past the input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char issuer[129];
    int64_t na = 0;
    char *pem;
    if (size > X509_PEM_MAX)
        return 0;
    pem = malloc(size ? size : 1);  /* exactly the input: no NUL after it */
    if (!pem)
        return 0;
    memcpy(pem, data, size);
    if (x509_info(pem, size, &na, issuer, sizeof issuer) == 0) {
        assert(strlen(issuer) < sizeof issuer);
        for (const char *p = issuer; *p; p++)
            assert((unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e);
    }
    int ok = x509_pair_ok(pem, size);
    assert(ok == 0 || ok == 1);
    free(pem);
    return 0;
}
