/* test_crypto.c - src/core/crypto.c: bearer secrets, keyed hashes,
 * passwords, sealing, HMAC, master key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "util.h"

static int is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static int is_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void key_fill(uint8_t k[CRYPTO_KEY_BYTES], uint8_t v)
{
    memset(k, v, CRYPTO_KEY_BYTES);
}

/* ---- bearer tokens ---- */

static void token_format(void **state)
{
    (void)state;
    char t[CRYPTO_TOKEN_MAX];
    crypto_token_new("bta", t);
    assert_int_equal(strlen(t), 4 + 43); /* 256 bits in unpadded base64url */
    assert_memory_equal(t, "bta_", 4);
    for (size_t i = 4; t[i]; i++)
        if (!is_b64url(t[i]))
            fail_msg("char %zu of %s is not base64url", i, t);
}

static void token_long_prefix_is_cut(void **state)
{
    (void)state;
    char t[CRYPTO_TOKEN_MAX];
    crypto_token_new("averyveryverylongprefix", t);
    assert_int_equal(t[12], '_');
    assert_int_equal(strlen(t), 12 + 1 + 43);
    assert_true(strlen(t) < CRYPTO_TOKEN_MAX);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void token_unique(void **state)
{
    (void)state;
    enum { N = 2000 };
    char (*t)[CRYPTO_TOKEN_MAX] = calloc(N, CRYPTO_TOKEN_MAX);
    for (int i = 0; i < N; i++)
        crypto_token_new("bts", t[i]);
    qsort(t, N, CRYPTO_TOKEN_MAX, cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(t[i - 1], t[i]) == 0)
            fail_msg("duplicate token %s", t[i]);
    free(t);
}

static void token_hash_deterministic(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 1);
    char a[CRYPTO_HASH_HEX], b[CRYPTO_HASH_HEX];
    crypto_token_hash(k, "bta_abc", a);
    crypto_token_hash(k, "bta_abc", b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 64);
    assert_true(is_hex(a));
}

static void token_hash_key_dependent(void **state)
{
    (void)state;
    uint8_t k1[CRYPTO_KEY_BYTES], k2[CRYPTO_KEY_BYTES];
    key_fill(k1, 1);
    key_fill(k2, 1);
    k2[31] ^= 1;
    char a[CRYPTO_HASH_HEX], b[CRYPTO_HASH_HEX];
    crypto_token_hash(k1, "bta_abc", a);
    crypto_token_hash(k2, "bta_abc", b);
    assert_string_not_equal(a, b);
}

static void token_hash_input_dependent(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 1);
    char a[CRYPTO_HASH_HEX], b[CRYPTO_HASH_HEX];
    crypto_token_hash(k, "bta_abc", a);
    crypto_token_hash(k, "bta_abd", b);
    assert_string_not_equal(a, b);
    /* the hash is not the token, nor contains it */
    assert_null(strstr(a, "abc"));
}

static void subkeys_differ_by_id_and_context(void **state)
{
    (void)state;
    uint8_t m[CRYPTO_KEY_BYTES], a[CRYPTO_KEY_BYTES], b[CRYPTO_KEY_BYTES],
        c[CRYPTO_KEY_BYTES], a2[CRYPTO_KEY_BYTES];
    key_fill(m, 9);
    crypto_subkey(m, 1, "tokens__", a);
    crypto_subkey(m, 2, "tokens__", b);
    crypto_subkey(m, 1, "secrets_", c);
    crypto_subkey(m, 1, "tokens__", a2);
    assert_memory_equal(a, a2, CRYPTO_KEY_BYTES);
    assert_memory_not_equal(a, b, CRYPTO_KEY_BYTES);
    assert_memory_not_equal(a, c, CRYPTO_KEY_BYTES);
    assert_memory_not_equal(a, m, CRYPTO_KEY_BYTES);
}

static void ct_eq(void **state)
{
    (void)state;
    assert_int_equal(crypto_ct_eq("abcd", "abcd", 4), 1);
    assert_int_equal(crypto_ct_eq("abcd", "abce", 4), 0);
    assert_int_equal(crypto_ct_eq("xbcd", "abcd", 4), 0);
}

/* ---- passwords ---- */

static void password_hash_verify(void **state)
{
    (void)state;
    char h[CRYPTO_PWHASH_MAX];
    assert_int_equal(crypto_password_hash("correct horse", h), 0);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_null(strstr(h, "correct horse"));
    assert_int_equal(crypto_password_verify(h, "correct horse"), 0);
    assert_int_equal(crypto_password_verify(h, "correct horsf"), -1);
    assert_int_equal(crypto_password_verify(h, ""), -1);
    assert_int_equal(crypto_password_verify(h, "correct horse "), -1);
}

static void password_hash_salted(void **state)
{
    (void)state;
    char a[CRYPTO_PWHASH_MAX], b[CRYPTO_PWHASH_MAX];
    assert_int_equal(crypto_password_hash("same password", a), 0);
    assert_int_equal(crypto_password_hash("same password", b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(crypto_password_verify(b, "same password"), 0);
}

static void password_verify_garbage_hash(void **state)
{
    (void)state;
    assert_int_equal(crypto_password_verify("", "x"), -1);
    assert_int_equal(crypto_password_verify("$argon2id$v=19$broken", "x"), -1);
    assert_int_equal(crypto_password_verify("plaintext", "plaintext"), -1);
}

/* ---- sealing ---- */

static void seal_open_round_trip(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    const char *msg = "DATABASE_PASSWORD=hunter2";
    char *s = crypto_seal(k, "app:7:env:DB", msg, strlen(msg));
    assert_non_null(s);
    assert_null(strstr(s, "hunter2"));
    size_t len = 0;
    char *p = crypto_open(k, "app:7:env:DB", s, &len);
    assert_non_null(p);
    assert_int_equal(len, strlen(msg));
    assert_string_equal(p, msg);
    free(p);
    free(s);
}

static void seal_binary_and_empty(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    const char bin[5] = {'a', 0, 'b', (char)0xff, 0};
    char *s = crypto_seal(k, "ad", bin, sizeof bin);
    size_t len = 0;
    char *p = crypto_open(k, "ad", s, &len);
    assert_non_null(p);
    assert_int_equal(len, 5);
    assert_memory_equal(p, bin, 5);
    free(p);
    free(s);
    s = crypto_seal(k, "ad", "", 0);
    p = crypto_open(k, "ad", s, &len);
    assert_non_null(p);
    assert_int_equal(len, 0);
    assert_string_equal(p, "");
    free(p);
    free(s);
}

static void seal_nonce_is_random(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    char *a = crypto_seal(k, "ad", "same", 4);
    char *b = crypto_seal(k, "ad", "same", 4);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void open_wrong_ad(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    char *s = crypto_seal(k, "app:7", "secret", 6);
    assert_null(crypto_open(k, "app:8", s, NULL));
    assert_null(crypto_open(k, "", s, NULL));
    assert_null(crypto_open(k, "app:7 ", s, NULL));
    free(s);
}

static void open_wrong_key(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES], k2[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    key_fill(k2, 3);
    k2[0] ^= 0x80;
    char *s = crypto_seal(k, "ad", "secret", 6);
    assert_null(crypto_open(k2, "ad", s, NULL));
    free(s);
}

/* Flips each base64 character of the sealed form in turn (nonce, cipher
 * text and tag alike): every change must be refused. */
static void open_tampered_everywhere(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    char *s = crypto_seal(k, "ad", "secret message", 14);
    size_t n = strlen(s);
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            continue;
        char orig = s[i];
        s[i] = orig == 'A' ? 'B' : 'A';
        char *p = crypto_open(k, "ad", s, NULL);
        if (p) {
            /* A change confined to base64 padding bits decodes to the same
             * bytes; anything else must fail. */
            assert_string_equal(p, "secret message");
            free(p);
        } else {
            checked++;
        }
        s[i] = orig;
    }
    assert_true(checked >= (int)n - 3);
    char *p = crypto_open(k, "ad", s, NULL);
    assert_non_null(p); /* the untouched form still opens */
    free(p);
    free(s);
}

static void open_truncated_and_garbage(void **state)
{
    (void)state;
    uint8_t k[CRYPTO_KEY_BYTES];
    key_fill(k, 3);
    char *s = crypto_seal(k, "ad", "secret", 6);
    s[strlen(s) - 8] = '\0';
    assert_null(crypto_open(k, "ad", s, NULL));
    free(s);
    assert_null(crypto_open(k, "ad", "", NULL));
    assert_null(crypto_open(k, "ad", "not base64 !!!", NULL));
    assert_null(crypto_open(k, "ad", "AAAA", NULL)); /* shorter than nonce + tag */
}

/* ---- HMAC-SHA256, RFC 4231 ---- */

static void hmac_rfc4231_case1(void **state)
{
    (void)state;
    uint8_t key[20];
    memset(key, 0x0b, sizeof key);
    char out[65];
    crypto_hmac_sha256_hex(key, sizeof key, "Hi There", 8, out);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void hmac_rfc4231_case2(void **state)
{
    (void)state;
    const char *msg = "what do ya want for nothing?";
    char out[65];
    crypto_hmac_sha256_hex("Jefe", 4, msg, strlen(msg), out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void hmac_rfc4231_case6_long_key(void **state)
{
    (void)state;
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    char out[65];
    crypto_hmac_sha256_hex(key, sizeof key, msg, strlen(msg), out);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* ---- master key ---- */

struct tmp {
    char dir[64];
    char path[128];
};

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    strcpy(t->dir, "/tmp/berth-crypto-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/master.key", t->dir);
    unsetenv("BERTH_MASTER_KEY");
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    char cmd[160];
    unsetenv("BERTH_MASTER_KEY");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}

static void master_create_mode_and_format(void **state)
{
    struct tmp *t = *state;
    uint8_t k[CRYPTO_KEY_BYTES];
    mode_t old = umask(0); /* the file must be 0600 whatever the umask */
    int rc = crypto_master_create(t->path, k);
    umask(old);
    assert_int_equal(rc, 0);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(t->path, 1024, &data, &len), 0);
    assert_int_equal(len, 65);
    assert_int_equal(data[64], '\n');
    data[64] = '\0';
    assert_true(is_hex(data));
    free(data);
}

static void master_create_refuses_overwrite(void **state)
{
    struct tmp *t = *state;
    uint8_t k1[CRYPTO_KEY_BYTES], k2[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_master_create(t->path, k1), 0);
    errno = 0;
    assert_int_equal(crypto_master_create(t->path, k2), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(crypto_master_load(t->path, back), 0);
    assert_memory_equal(back, k1, CRYPTO_KEY_BYTES);
}

static void master_load_matches_create(void **state)
{
    struct tmp *t = *state;
    uint8_t k[CRYPTO_KEY_BYTES], back[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_master_create(t->path, k), 0);
    memset(back, 0, sizeof back);
    assert_int_equal(crypto_master_load(t->path, back), 0);
    assert_memory_equal(back, k, CRYPTO_KEY_BYTES);
}

static void master_keys_are_random(void **state)
{
    struct tmp *t = *state;
    uint8_t k1[CRYPTO_KEY_BYTES], k2[CRYPTO_KEY_BYTES];
    char p2[160];
    snprintf(p2, sizeof p2, "%s/second.key", t->dir);
    assert_int_equal(crypto_master_create(t->path, k1), 0);
    assert_int_equal(crypto_master_create(p2, k2), 0);
    assert_memory_not_equal(k1, k2, CRYPTO_KEY_BYTES);
}

static void master_load_missing(void **state)
{
    struct tmp *t = *state;
    uint8_t k[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_master_load(t->path, k), -1);
}

static void master_load_rejects_bad_files(void **state)
{
    struct tmp *t = *state;
    uint8_t k[CRYPTO_KEY_BYTES];
    const char *bad[] = {"", "abcd\n",
                         "zz00000000000000000000000000000000000000000000000000000000000000\n",
                         "00000000000000000000000000000000000000000000000000000000000000000\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(util_write_file_atomic(t->path, bad[i], strlen(bad[i]), 0600), 0);
        if (crypto_master_load(t->path, k) != -1)
            fail_msg("accepted key file '%s'", bad[i]);
    }
}

static const char *env_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void master_env_overrides_file(void **state)
{
    struct tmp *t = *state;
    uint8_t file_key[CRYPTO_KEY_BYTES], k[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_master_create(t->path, file_key), 0);
    setenv("BERTH_MASTER_KEY", env_hex, 1);
    assert_int_equal(crypto_master_load(t->path, k), 0);
    for (int i = 0; i < CRYPTO_KEY_BYTES; i++)
        assert_int_equal(k[i], i);
}

static void master_env_without_file(void **state)
{
    struct tmp *t = *state;
    uint8_t k[CRYPTO_KEY_BYTES];
    setenv("BERTH_MASTER_KEY", env_hex, 1);
    assert_int_equal(crypto_master_load(t->path, k), 0); /* no file needed */
    assert_int_equal(k[31], 31);
}

static void master_env_bad_is_refused(void **state)
{
    struct tmp *t = *state;
    uint8_t file_key[CRYPTO_KEY_BYTES], k[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_master_create(t->path, file_key), 0);
    setenv("BERTH_MASTER_KEY", "0011", 1);
    /* a set but broken variable is an error, not a silent fallback */
    assert_int_equal(crypto_master_load(t->path, k), -1);
}

static void master_env_empty_falls_back_to_file(void **state)
{
    struct tmp *t = *state;
    uint8_t file_key[CRYPTO_KEY_BYTES], k[CRYPTO_KEY_BYTES];
    assert_int_equal(crypto_master_create(t->path, file_key), 0);
    setenv("BERTH_MASTER_KEY", "", 1);
    assert_int_equal(crypto_master_load(t->path, k), 0);
    assert_memory_equal(k, file_key, CRYPTO_KEY_BYTES);
}

static void wipe_zeroes(void **state)
{
    (void)state;
    char b[16];
    memset(b, 'x', sizeof b);
    crypto_wipe(b, sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        assert_int_equal(b[i], 0);
}

static int group_setup(void **state)
{
    (void)state;
    return crypto_init();
}

#define T(f) cmocka_unit_test(f)
#define TF(f) cmocka_unit_test_setup_teardown(f, tmp_setup, tmp_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(token_format), T(token_long_prefix_is_cut), T(token_unique),
        T(token_hash_deterministic), T(token_hash_key_dependent), T(token_hash_input_dependent),
        T(subkeys_differ_by_id_and_context), T(ct_eq), T(password_hash_verify),
        T(password_hash_salted), T(password_verify_garbage_hash), T(seal_open_round_trip),
        T(seal_binary_and_empty), T(seal_nonce_is_random), T(open_wrong_ad), T(open_wrong_key),
        T(open_tampered_everywhere), T(open_truncated_and_garbage), T(hmac_rfc4231_case1),
        T(hmac_rfc4231_case2), T(hmac_rfc4231_case6_long_key),
        TF(master_create_mode_and_format), TF(master_create_refuses_overwrite),
        TF(master_load_matches_create), TF(master_keys_are_random), TF(master_load_missing),
        TF(master_load_rejects_bad_files), TF(master_env_overrides_file),
        TF(master_env_without_file), TF(master_env_bad_is_refused),
        TF(master_env_empty_falls_back_to_file), T(wipe_zeroes),
    };
    return cmocka_run_group_tests_name("crypto", tests, group_setup, NULL);
}
