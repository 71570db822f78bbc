/* cmd_cert.c - an organization's uploaded TLS certificates
 * (docs/deploy.md#certificates): list, show, upload, rm. The private key
 * is read from the --key file, never from argv or a prompt, wiped once
 * the request is sent, masked under --dry-run, and berthd never sends it
 * back. */
#include "cli.h"
#include "crypto.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_FILE_MAX (64 * 1024) /* berthd's cap on the chain */
#define KEY_FILE_MAX (16 * 1024)  /* and on the key */

/* "/orgs/<org>/certificates" plus an optional "/<ref>" (id or name). */
static int certs_path(struct cli *c, const char *ref, char *out, size_t n)
{
    char base[300];
    if (cli_need_org(c) < 0 || client_path(c, base, sizeof base, "/orgs/%s", c->org) < 0)
        return -1;
    if (!ref) {
        snprintf(out, n, "%s/certificates", base);
        return 0;
    }
    char tail[300];
    if (client_path(c, tail, sizeof tail, "/certificates/%s", ref) < 0)
        return -1;
    snprintf(out, n, "%s%s", base, tail);
    return 0;
}

/* The names of a JSON string array joined with ',' into out ("-" if none). */
static const char *joined(json_t *a, char *out, size_t n)
{
    size_t used = 0, i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(a, i, v) {
        int w = snprintf(out + used, n - used, "%s%s", i ? "," : "", json_string_value(v));
        if (w < 0 || (size_t)w >= n - used) {
            if (n > 4)
                memcpy(out + n - 4, "...", 4);
            break;
        }
        used += (size_t)w;
    }
    return out[0] ? out : "-";
}

static void human_cert_list(struct cli *c, json_t *d)
{
    static const char *const h[] = {"ID", "NAME", "NAMES", "EXPIRES", "SERVING", NULL};
    json_t *t = out_table_new(h), *r;
    size_t i;
    char id[32], x[4], names[200], serving[200];
    (void)c;
    json_array_foreach(json_object_get(d, "items"), i, r) {
        char exp[64];
        snprintf(exp, sizeof exp, "%s%s", out_str(r, "not_after", x, sizeof x),
                 json_is_true(json_object_get(r, "expired")) ? " (expired)" : "");
        out_table_row(t, out_str(r, "id", id, sizeof id), out_str(r, "name", x, sizeof x),
                      joined(json_object_get(r, "names"), names, sizeof names), exp,
                      joined(json_object_get(r, "serving"), serving, sizeof serving), NULL);
    }
    out_table_print(t);
}

int cmd_cert_list(struct cli *c)
{
    char path[400];
    json_t *d = NULL;
    if (certs_path(c, NULL, path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_cert_list);
    return 0;
}

static void human_cert_show(struct cli *c, json_t *d)
{
    char x[32], list[2048];
    (void)c;
    printf("certificate  %s (id %s)\n", json_string_value(json_object_get(d, "name")),
           out_str(d, "id", x, sizeof x));
    printf("subject      %s\n", out_str(d, "subject", x, sizeof x));
    printf("issuer       %s\n", out_str(d, "issuer", x, sizeof x));
    printf("names        %s\n", joined(json_object_get(d, "names"), list, sizeof list));
    printf("not before   %s\n", out_str(d, "not_before", x, sizeof x));
    printf("not after    %s%s\n", out_str(d, "not_after", x, sizeof x),
           json_is_true(json_object_get(d, "expired")) ? " (expired)" : "");
    printf("key          %s, %s bits\n", out_str(d, "key_type", x, sizeof x),
           out_str(d, "key_bits", x, sizeof x));
    printf("chain        %s certificate(s)\n", out_str(d, "chain_length", x, sizeof x));
    printf("sha256       %s\n", out_str(d, "fingerprint_sha256", x, sizeof x));
    printf("covers       %s\n", joined(json_object_get(d, "domains"), list, sizeof list));
    printf("serving      %s\n", joined(json_object_get(d, "serving"), list, sizeof list));
    printf("uploaded     %s\n", out_str(d, "created_at", x, sizeof x));
}

int cmd_cert_show(struct cli *c)
{
    char path[700];
    json_t *d = NULL;
    if (certs_path(c, c->args[0], path, sizeof path) < 0 ||
        client_request(c, "GET", path, NULL, 1, &d) < 0)
        return -1;
    out_ok(c, d, human_cert_show);
    return 0;
}

/* A PEM file as a JSON string (NULL after a usage error). *data keeps the
 * bytes read, for the caller to wipe. */
static json_t *read_pem(struct cli *c, const char *opt, const char *file, size_t max, char **data,
                        size_t *len)
{
    if (util_read_file(file, max, data, len) < 0) {
        if (errno == EFBIG)
            cli_usage(c, "--%s %s is over %zu KiB", opt, file, max / 1024);
        else
            cli_usage(c, "cannot read --%s %s: %s", opt, file, strerror(errno));
        return NULL;
    }
    json_t *s = *len && !memchr(*data, '\0', *len) ? json_stringn(*data, *len) : NULL;
    if (!s)
        cli_usage(c, "--%s %s must be PEM text (not empty, no NUL bytes)", opt, file);
    return s;
}

static void human_cert_upload(struct cli *c, json_t *d)
{
    char list[2048], x[32];
    (void)c;
    printf("Uploaded certificate %s (id %s), valid until %s\n",
           json_string_value(json_object_get(d, "name")), out_str(d, "id", x, sizeof x),
           out_str(d, "not_after", x, sizeof x));
    printf("names    %s\n", joined(json_object_get(d, "names"), list, sizeof list));
    printf("serving  %s\n", joined(json_object_get(d, "serving"), list, sizeof list));
}

int cmd_cert_upload(struct cli *c)
{
    static const char *const redact[] = {"private_key", NULL};
    const char *name = c->a.val[OPT_NAME], *cert = c->a.val[OPT_CERT], *key = c->a.val[OPT_KEY];
    char path[400], *cdata = NULL, *kdata = NULL;
    size_t clen = 0, klen = 0;
    json_t *cs = NULL, *ks = NULL, *body = NULL, *d = NULL;
    int rc = -1;
    if (!name || !cert || !key)
        return cli_usage(c, "give --name N, --cert FILE and --key FILE");
    if (certs_path(c, NULL, path, sizeof path) < 0)
        return -1;
    if (!(cs = read_pem(c, "cert", cert, CERT_FILE_MAX, &cdata, &clen)) ||
        !(ks = read_pem(c, "key", key, KEY_FILE_MAX, &kdata, &klen)))
        goto done;
    body = json_pack("{s:s, s:O, s:O}", "name", name, "certificate", cs, "private_key", ks);
    if (!body) {
        cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
        goto done;
    }
    rc = client_mutate(c, "POST", path, body, 1, redact, &d);
    if (rc == 0)
        out_ok(c, d, human_cert_upload);
done:
    if (ks)
        crypto_wipe((char *)json_string_value(ks), json_string_length(ks));
    if (kdata)
        crypto_wipe(kdata, klen);
    free(kdata);
    free(cdata);
    json_decref(body);
    json_decref(cs);
    json_decref(ks);
    return rc < 0 ? -1 : 0;
}

static void human_cert_rm(struct cli *c, json_t *d)
{
    (void)c;
    printf("Removed certificate %s.\n", json_string_value(json_object_get(d, "certificate")));
}

int cmd_cert_rm(struct cli *c)
{
    char path[700], what[200];
    if (certs_path(c, c->args[0], path, sizeof path) < 0)
        return -1;
    if (c->a.set[OPT_FORCE]) {
        size_t l = strlen(path);
        snprintf(path + l, sizeof path - l, "?force=true");
    }
    snprintf(what, sizeof what, "remove certificate %.100s%s", c->args[0],
             c->a.set[OPT_FORCE] ? " even if it serves domains" : "");
    if (!c->dry_run && (cli_need_token(c) < 0 || prompt_confirm(c, what) < 0))
        return -1;
    int rc = client_mutate(c, "DELETE", path, NULL, 1, NULL, NULL);
    if (rc == 0)
        out_ok(c, json_pack("{s:s, s:b}", "certificate", c->args[0], "removed", 1),
               human_cert_rm);
    return rc < 0 ? -1 : 0;
}
