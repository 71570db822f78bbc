/* gitauth.h - clone credentials of a registered repository, added to a
 * deploy job's frame only when it is sent: an SSH deploy key, or a GitHub
 * App installation token minted on berthd's outbound client; and the
 * associated data under which a repository's secrets are sealed.
 *
 * Loop thread only, except gitauth_jwt and gitauth_rsa_key_ok. */
#ifndef BERTHD_GITAUTH_H
#define BERTHD_GITAUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "berthd.h"

/* A GitHub App's API when none is saved. */
#define REPOS_GITHUB_API "https://api.github.com"

/* Associated data sealing a repository's secret of a kind ("webhook",
 * "deploy_key", "github_app_key"). */
void repos_secret_ad(int64_t repo_id, const char *what, char *out, size_t n);

/* gitauth.c: the deploy job's "git" object, at send time (the `deploy` kind's at_send, deploy.c). Adds
 * {"auth":"ssh_key","ssh_key"} or {"auth":"token","token","username"} when
 * the app's repository is registered with credentials. Returns 0 when the
 * spec is ready to send, 1 when the job must wait: its GitHub App token is
 * being minted on the worker pool, and the job is sent when it arrives (or
 * failed when it cannot be had). */
int gitauth_spec_add(struct srv *s, int64_t job_id, int64_t app_id, int rollback,
                     json_t *spec);
/* An RS256 JWT for a GitHub App: header {"alg":"RS256","typ":"JWT"},
 * claims {"iat": now-60, "exp": now+540, "iss": "<app_id>"}; malloc'ed in
 * *out. 0, or -1 with err set (a bad key). Thread-safe. */
int gitauth_jwt(const char *pem, size_t pem_len, int64_t app_id, int64_t now, char **out,
                char *err, size_t errlen);
/* 1 when pem is an RSA private key OpenSSL can read. */
int gitauth_rsa_key_ok(const char *pem, size_t len);
/* Forgets every cached token (at exit). */
void gitauth_clear(void);

#endif
