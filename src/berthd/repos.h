/* repos.h - git integration (docs/webhooks.md): an organization's
 * registered repositories with their webhook secret and clone
 * credentials (api_repos.c), the push webhooks that deploy auto-deploy
 * apps (hooks.c), and the clone credentials added to a deploy job only
 * when it is sent (gitauth.h).
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
#include "gitauth.h"
#include "http.h"

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

#endif
