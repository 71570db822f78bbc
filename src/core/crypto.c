/* crypto.c - libsodium wrappers; see crypto.h for what each is for. */
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int crypto_init(void) { return sodium_init() < 0 ? -1 : 0; }

static int parse_key_hex(const char *hex, size_t len, uint8_t key[CRYPTO_KEY_BYTES])
{
    size_t bin_len = 0;
    while (len && (hex[len - 1] == '\n' || hex[len - 1] == '\r' || hex[len - 1] == ' '))
        len--;
    if (len != CRYPTO_KEY_BYTES * 2)
        return -1;
    if (sodium_hex2bin(key, CRYPTO_KEY_BYTES, hex, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != CRYPTO_KEY_BYTES)
        return -1;
    return 0;
}

int crypto_master_create(const char *path, uint8_t key[CRYPTO_KEY_BYTES])
{
    char hex[CRYPTO_KEY_BYTES * 2 + 2];
    randombytes_buf(key, CRYPTO_KEY_BYTES);
    sodium_bin2hex(hex, sizeof hex - 1, key, CRYPTO_KEY_BYTES);
    strcat(hex, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(hex);
    int rc = (write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0) ? 0 : -1;
    close(fd);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

int crypto_master_load(const char *path, uint8_t key[CRYPTO_KEY_BYTES])
{
    const char *env = getenv("BERTH_MASTER_KEY");
    if (env && *env)
        return parse_key_hex(env, strlen(env), key);
    char *buf = NULL;
    size_t len = 0;
    if (util_read_file(path, 1024, &buf, &len) < 0)
        return -1;
    int rc = parse_key_hex(buf, len, key);
    sodium_memzero(buf, len);
    free(buf);
    return rc;
}

void crypto_subkey(const uint8_t master[CRYPTO_KEY_BYTES], uint64_t id,
                   const char ctx[8], uint8_t out[CRYPTO_KEY_BYTES])
{
    crypto_kdf_derive_from_key(out, CRYPTO_KEY_BYTES, id, ctx, master);
}

void crypto_token_new(const char *prefix, char out[CRYPTO_TOKEN_MAX])
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    size_t pl = strlen(prefix);
    if (pl > 12)
        pl = 12;
    memcpy(out, prefix, pl);
    out[pl] = '_';
    sodium_bin2base64(out + pl + 1, CRYPTO_TOKEN_MAX - pl - 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void crypto_token_hash(const uint8_t key[CRYPTO_KEY_BYTES], const char *token,
                       char out[CRYPTO_HASH_HEX])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, (const uint8_t *)token, strlen(token), key,
                       CRYPTO_KEY_BYTES);
    sodium_bin2hex(out, CRYPTO_HASH_HEX, h, sizeof h);
}

int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_MAX])
{
    return crypto_pwhash_str(out, password, strlen(password),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

int crypto_password_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? 0 : -1;
}

int crypto_ct_eq(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

void crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
                            size_t msglen, char out[65])
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, msglen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

char *crypto_seal(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
                  const void *plain, size_t len)
{
    size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    size_t clen = nb + len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *c = malloc(clen);
    if (!c)
        return NULL;
    randombytes_buf(c, nb);
    unsigned long long outlen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(c + nb, &outlen, plain, len,
                                               (const uint8_t *)ad, strlen(ad),
                                               NULL, c, key);
    size_t b64len = sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(b64len);
    if (out)
        sodium_bin2base64(out, b64len, c, clen, sodium_base64_VARIANT_ORIGINAL);
    free(c);
    return out;
}

char *crypto_open(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
                  const char *sealed, size_t *len)
{
    size_t slen = strlen(sealed), clen = 0;
    size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    uint8_t *c = malloc(slen + 1);
    if (!c)
        return NULL;
    if (sodium_base642bin(c, slen, sealed, slen, NULL, &clen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        clen < nb + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
        free(c);
        return NULL;
    }
    char *p = malloc(clen + 1);
    unsigned long long plen = 0;
    if (!p || crypto_aead_xchacha20poly1305_ietf_decrypt(
                  (uint8_t *)p, &plen, NULL, c + nb, clen - nb,
                  (const uint8_t *)ad, strlen(ad), c, key) != 0) {
        free(p);
        free(c);
        return NULL;
    }
    free(c);
    p[plen] = '\0';
    if (len)
        *len = (size_t)plen;
    return p;
}

void crypto_wipe(void *p, size_t len) { sodium_memzero(p, len); }
