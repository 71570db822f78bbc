/* repos.h - git integration (docs/webhooks.md): an organization's
 * registered repositories with their webhook secret and clone
 * credentials (api_repos.c), the push webhooks that deploy auto-deploy
 * apps (hooks.c), and the clone credentials added to a deploy job only
 * when it is sent, including GitHub App installation tokens minted on the
 * worker pool (gitauth.c).
 *
 * Secrets (webhook secret, deploy key, GitHub App key, minted tokens)
 * never reach an answer after creation, a log line, an audit detail or
 * the stored job spec. Loop thread only, except gitauth's pool work. */
#ifndef BERTHD_REPOS_H
#define BERTHD_REPOS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "berthd.h"
#include "http.h"

#define REPOS_GITHUB_API "https://api.github.com"

/* Associated data sealing a repository's secret of a kind ("webhook",
 * "deploy_key", "github_app_key"). */
void repos_secret_ad(int64_t repo_id, const char *what, char *out, size_t n);

/* api_repos.c: /api/v1/orgs/{org}/repos... */
void api_repos_list(struct req *r);
void api_repo_create(struct req *r);
void api_repo_get(struct req *r);
void api_repo_delete(struct req *r);
void api_repo_deliveries(struct req *r);
void api_repo_deploy_key_set(struct req *r);
void api_repo_deploy_key_delete(struct req *r);
void api_repo_github_app_set(struct req *r);
void api_repo_github_app_delete(struct req *r);

/* hooks.c: POST /hooks/{github,gitea,gitlab,generic}/{id} (public;
 * signed with repository id's secret); the old shared /hooks/{provider}
 * answer 410. */
void api_hook_github(struct req *r);
void api_hook_gitea(struct req *r);
void api_hook_gitlab(struct req *r);
void api_hook_generic(struct req *r);
void api_hook_retired(struct req *r);
/* Checks a GitHub-style signature header ("sha256=" + hex HMAC-SHA256 of
 * body under secret; prefix optional when !prefixed, as Gitea sends it)
 * in constant time. 1 when it verifies. */
int hooks_signature_ok(const char *secret, const void *body, size_t len, const char *header,
                       int prefixed);
/* Constant-time equality of two secrets of any length: 1 when equal. */
int hooks_token_ok(const char *secret, const char *given);

/* gitauth.c: the deploy job's "git" object, at send time (hub.c). Adds
 * {"auth":"ssh_key","ssh_key"} or {"auth":"token","token","username"} when
 * the app's repository is registered with credentials. Returns 0 when the
 * spec is ready to send, 1 when the job must wait: its GitHub App token is
 * being minted on the worker pool, and the job is sent when it arrives (or
 * failed when it cannot be had). */
int gitauth_spec_add(struct srv *s, int64_t job_id, json_t *spec);
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
