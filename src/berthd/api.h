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
/* The caller's own invitations (api_orgs.c) */
void api_invites_list(struct req *r);
void api_invite_accept(struct req *r);
void api_invite_decline(struct req *r);

/* api_tokens.c: API tokens */
void api_tokens_list(struct req *r);
void api_token_create(struct req *r);
void api_token_revoke(struct req *r);

/* api_audit.c */
void api_audit_list(struct req *r);

/* api_servers.c: servers, their runner registration, install downloads */
void api_servers_list(struct req *r);
void api_server_create(struct req *r);
void api_server_get(struct req *r);
void api_server_update(struct req *r);
void api_server_decommission(struct req *r);
void api_server_delete(struct req *r);
void api_server_regtoken(struct req *r);
void api_server_metrics(struct req *r);
void api_server_jobs(struct req *r);
void api_install_script(struct req *r);
void api_runner_download(struct req *r);
/* exec.c: POST .../servers/{id}/exec (a command on the host or in a container) */
void api_server_exec(struct req *r);

/* api_scripts.c: saved scripts and running them */
void api_scripts_list(struct req *r);
void api_script_create(struct req *r);
void api_script_get(struct req *r);
void api_script_update(struct req *r);
void api_script_delete(struct req *r);
void api_script_run(struct req *r);
/* The `script` job kind (job.h), registered at start-up. */
struct job_kind;
extern const struct job_kind script_job_kind;

/* api_schedules.c: scheduled operations (scheduler.c fires them) */
void api_schedules_list(struct req *r);
void api_schedule_create(struct req *r);
void api_schedule_get(struct req *r);
void api_schedule_pause(struct req *r);
void api_schedule_resume(struct req *r);
void api_schedule_delete(struct req *r);
void api_schedule_runs(struct req *r);

/* api_jobs.c: jobs and their output */
void api_job_get(struct req *r);
void api_job_logs(struct req *r);
/* The job's log answer (whole or ?follow=1), as GET .../jobs/{id}/logs
 * gives it; releases j. */
void api_job_log_answer(struct req *r, struct job *j);

/* api_apps.c: applications and their env (docs/deploy.md) */
void api_apps_list(struct req *r);
void api_app_create(struct req *r);
void api_app_get(struct req *r);
void api_app_update(struct req *r);
void api_app_delete(struct req *r);
void api_app_env_list(struct req *r);
void api_app_env_set(struct req *r);
void api_app_env_unset(struct req *r);

/* api_deployments.c: deployments, their logs, cancel, rollback */
void api_deployments_list(struct req *r);
void api_deployment_create(struct req *r);
void api_deployment_get(struct req *r);
void api_deployment_logs(struct req *r);
void api_deployment_cancel(struct req *r);
void api_app_rollback(struct req *r);
/* api_domains.c: an app's host names one at a time */
struct app;
/* 409 domain_taken (and -1) when another app on a's server has one of its
 * names; 0 when none does. */
/* api_certs.c: uploaded TLS certificates (docs/deploy.md#certificates) */
void api_certs_list(struct req *r);
void api_cert_create(struct req *r);
void api_cert_get(struct req *r);
void api_cert_delete(struct req *r);

int api_refuse_domain_clash(struct req *r, const struct app *a);
void api_app_domains_list(struct req *r);
void api_app_domain_add(struct req *r);
void api_app_domain_remove(struct req *r);
/* The caller's org's app by id or name; answers 404 and returns -1. */
int api_app_of(struct req *r, const char *ref, struct app *a);

/* Server/script names: 1-100 of [A-Za-z0-9._-], starting alphanumeric. */
int api_name_valid(const char *s);
/* The caller's org's server by id or name; answers 404 and returns -1. */
int api_server_of(struct req *r, const char *ref, struct server *sv);
/* Answers 409 for a decommissioned server and returns -1. */
int api_server_refuse_decommissioned(struct req *r, const struct server *sv);
json_t *api_job_json(const struct job *j);

/* Shared: answers 500 for a store failure, 404 for NOTFOUND with what. */
void api_store_error(struct req *r, int rc, const char *what);
/* Issues a bearer secret of kind for user, made at now, living until
 * expires_at, minted by parent_id (0: none); fills token (shown once). */
int api_issue_token(struct req *r, int64_t user_id, const char *kind, const char *name,
                    uint32_t scopes, int64_t org_id, int64_t parent_id, int64_t now,
                    int64_t expires_at, char token[CRYPTO_TOKEN_MAX], int64_t *id);
/* A scope mask as a JSON array of names. */
json_t *api_scopes_json(uint32_t mask);
/* A time as an ISO-8601 JSON string. */
json_t *api_time(int64_t t);
/* The same two, written by a streaming writer. */
void api_scopes_write(struct jw *w, uint32_t mask);
void api_time_write(struct jw *w, int64_t t);

#endif
