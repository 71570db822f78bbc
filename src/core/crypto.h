/* crypto.h - every secret-handling primitive berth uses, on libsodium.
 *
 * - Random bearer secrets (API tokens, sessions, invites, runner credentials):
 *   256-bit values, printed as "<prefix>_<base64url>", stored only as a keyed
 *   BLAKE2b hash (crypto_generichash) under a subkey of the master key.
 * - Passwords: argon2id (crypto_pwhash_str). Slow by design: call it off the
 *   event loop.
 * - Secrets at rest: XChaCha20-Poly1305 with the owning record's identity as
 *   associated data.
 */
#ifndef BERTH_CRYPTO_H
#define BERTH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_BYTES 32
#define CRYPTO_TOKEN_MAX 64      /* "xxx_" + 43 base64url chars + NUL fits */
#define CRYPTO_HASH_HEX 65       /* 32-byte hash as hex + NUL */
#define CRYPTO_PWHASH_MAX 128    /* crypto_pwhash_STRBYTES */

int crypto_init(void);

/* Master key file: 64 hex chars. crypto_master_create writes a new one with
 * mode 0600 (fails if it exists); crypto_master_load reads it, or takes the
 * BERTH_MASTER_KEY environment variable when set. */
int crypto_master_create(const char *path, uint8_t key[CRYPTO_KEY_BYTES]);
int crypto_master_load(const char *path, uint8_t key[CRYPTO_KEY_BYTES]);

/* Derives a purpose-bound subkey ("tokens", "secrets", ...). */
void crypto_subkey(const uint8_t master[CRYPTO_KEY_BYTES], uint64_t id,
                   const char ctx[8], uint8_t out[CRYPTO_KEY_BYTES]);

/* New random bearer secret "<prefix>_<43 base64url chars>". */
void crypto_token_new(const char *prefix, char out[CRYPTO_TOKEN_MAX]);
/* Keyed hash of a bearer secret, hex. */
void crypto_token_hash(const uint8_t key[CRYPTO_KEY_BYTES], const char *token,
                       char out[CRYPTO_HASH_HEX]);

/* argon2id. Both return 0 or -1 (hash: out of memory; verify: mismatch). */
int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_MAX]);
int crypto_password_verify(const char *hash, const char *password);

/* Constant-time equality of two equal-length buffers: 1 if equal. */
int crypto_ct_eq(const void *a, const void *b, size_t len);

/* HMAC-SHA256 of msg under key, as lowercase hex (65 bytes with NUL). */
void crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
                            size_t msglen, char out[65]);

/* Seal/open with XChaCha20-Poly1305-IETF. The sealed form is
 * base64(nonce || ciphertext || tag), malloc'ed. ad binds the record. */
char *crypto_seal(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
                  const void *plain, size_t len);
/* Returns malloc'ed, NUL-terminated plaintext, or NULL if forged/corrupt. */
char *crypto_open(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
                  const char *sealed, size_t *len);

/* Wipes memory the compiler may not elide. */
void crypto_wipe(void *p, size_t len);

#endif
