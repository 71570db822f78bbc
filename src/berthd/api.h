/* api.h - the REST handlers, one api_*.c file per resource, and the few
 * helpers they share. Each handler answers its req exactly once. */
#ifndef BERTHD_API_H
#define BERTHD_API_H

#include "http.h"
#include "store.h"

/* api_auth.c: sessions, invitations, the caller, service endpoints */
void api_login(struct req *r);
void api_logout(struct req *r);
void api_accept_invite(struct req *r);
void api_me(struct req *r);
void api_healthz(struct req *r);
void api_metrics(struct req *r);

/* api_orgs.c: organizations and members */
void api_orgs_list(struct req *r);
void api_orgs_create(struct req *r);
void api_org_get(struct req *r);
void api_members_list(struct req *r);
void api_member_add(struct req *r);
void api_member_update(struct req *r);
void api_member_remove(struct req *r);

/* api_tokens.c: API tokens */
void api_tokens_list(struct req *r);
void api_token_create(struct req *r);
void api_token_revoke(struct req *r);

/* api_audit.c */
void api_audit_list(struct req *r);

/* Shared: answers 500 for a store failure, 404 for NOTFOUND with what. */
void api_store_error(struct req *r, int rc, const char *what);
/* Issues a bearer secret of kind for user; fills token (shown once). */
int api_issue_token(struct req *r, int64_t user_id, const char *kind, const char *name,
                    uint32_t scopes, int64_t org_id, int64_t ttl, char token[CRYPTO_TOKEN_MAX],
                    int64_t *id, int64_t *expires_at);
/* A time as an ISO-8601 JSON string. */
json_t *api_time(int64_t t);

#endif
