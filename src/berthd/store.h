/* store.h - berthd's persistent state behind one interface.
 *
 * The table functions are split by domain (store_identity.c, store_audit.c,
 * store_fleet.c, store_apps.c, store_repos.c, store_schedules.c) and written
 * on db.h, the one db layer (db.c, the only caller of SQLite; a PostgreSQL backend plugs in
 * there). The interface speaks in records, never in SQL handles; the SQL
 * is written to be accepted by both (no SQLite-only syntax, '?' params
 * that a PG backend rewrites to $n).
 *
 * Every call returns STORE_OK or a negative STORE_* code. Calls are made
 * from the event-loop thread only; each is a short indexed statement.
 * Lists hand each row to a callback (a *_row record whose strings live
 * until the callback returns; a callback may make other store calls, but
 * not the same list again, whose statement is mid-step); the API files
 * choose the JSON field names.
 */
#ifndef BERTHD_STORE_H
#define BERTHD_STORE_H

#include <jansson.h>
#include <stdint.h>

enum {
    STORE_OK = 0,
    STORE_ERR = -1,
    STORE_NOTFOUND = -2,
    STORE_CONFLICT = -3,
};

struct store;

/* url: "" or "sqlite:PATH" -> SQLite (default PATH data_dir/berth.db). */
int store_open(const char *data_dir, const char *url, struct store **out,
               char *err, size_t errlen);
void store_free(struct store *st);
/* Applies pending versioned migrations; returns the schema version or <0. */
int store_migrate(struct store *st);
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);
const char *store_errmsg(struct store *st);

/* ---- users, organizations, members, tokens, invitations (store_identity.c) ---- */

struct user {
    int64_t id;
    char email[256];
    char pwhash[128];   /* empty for invited users */
    char status[16];    /* "active" | "invited" */
    int64_t created_at;
};

int store_user_create(struct store *st, const char *email, const char *pwhash,
                      const char *status, int64_t now, int64_t *id);
int store_user_get(struct store *st, int64_t id, struct user *u);
int store_user_by_email(struct store *st, const char *email, struct user *u);
/* Sets the password (and status active) and revokes every token of the
 * account: its sessions and all that were minted from them. */
int store_user_set_password(struct store *st, int64_t id, const char *pwhash, int64_t now);
/* The same, only for an account that never activated: NOTFOUND when the
 * account is active already (an invitation never sets its password). */
int store_user_activate(struct store *st, int64_t id, const char *pwhash, int64_t now);

struct org {
    int64_t id;
    char name[64];
    int64_t created_at;
};

int store_org_create(struct store *st, const char *name, int64_t now, int64_t *id);
/* ref is the org's id or name. */
int store_org_find(struct store *st, const char *ref, struct org *o);
/* The org (id or name) and the user's role in it in one probe: NOTFOUND
 * when there is no such org; role is "" when the user is not a member. */
int store_org_membership(struct store *st, const char *ref, int64_t user_id, struct org *o,
                         char role[16]);
/* The user's organizations by id, each handed to fn with the user's role
 * there; fn must not use the store, and a non-zero return from it stops
 * the walk (and is returned). */
int store_orgs_of_user(struct store *st, int64_t user_id,
                       int (*fn)(void *arg, const struct org *o, const char *role), void *arg);

/* Membership role as text ("admin", ...). */
int store_member_role(struct store *st, int64_t org_id, int64_t user_id, char role[16]);
int store_member_add(struct store *st, int64_t org_id, int64_t user_id,
                     const char *role, int64_t now);
int store_member_set_role(struct store *st, int64_t org_id, int64_t user_id, const char *role);
int store_member_remove(struct store *st, int64_t org_id, int64_t user_id);
int store_member_count_role(struct store *st, int64_t org_id, const char *role, int64_t *n);
/* One entry of an org's member list: a member, or a pending invitation
 * (user_id 0, joined_at 0, status "invited"). */
struct member_row {
    int64_t user_id;
    const char *email;
    const char *role;
    const char *status;
    int64_t joined_at;
};

/* The org's members and pending invitations, ordered by email, each
 * handed to fn (the row's strings live until fn returns). */
int store_members_each(struct store *st, int64_t org_id, int64_t now,
                       void (*fn)(void *arg, const struct member_row *m), void *arg);
/* Scopes text of every role the user holds, for "union of my scopes". */
int store_user_roles(struct store *st, int64_t user_id, char roles[][16], int max, int *n);

struct token {
    int64_t id;
    int64_t user_id;
    char kind[16];       /* "session" | "api" */
    char name[128];
    char scopes[512];    /* space-separated */
    int64_t org_id;      /* 0: none */
    int64_t created_at;
    int64_t expires_at;
    int64_t revoked_at;  /* 0: live */
    int64_t parent_id;   /* the session or token that minted it; 0: none
                            (written by store_token_create, not read back) */
};

int store_token_create(struct store *st, const struct token *t, const char *hash,
                       const char *prefix, int64_t *id);
/* Token and its user by the token's keyed hash. */
int store_token_by_hash(struct store *st, const char *hash, struct token *t, struct user *u);
/* Revokes the user's token and every token minted from it, at any depth;
 * NOTFOUND if not theirs or already revoked. */
int store_token_revoke(struct store *st, int64_t id, int64_t user_id, int64_t now);
/* Revokes every live token of the user. */
int store_tokens_revoke_user(struct store *st, int64_t user_id, int64_t now);
/* An API token as listed: never its hash. scopes is space-separated;
 * org_id 0: not bound to an organization. */
struct token_row {
    int64_t id;
    const char *name;
    const char *prefix;
    const char *scopes;
    int64_t org_id;
    int64_t created_at, expires_at;
};

/* The user's live API tokens by id, each handed to fn (strings live until
 * fn returns). */
int store_tokens_each(struct store *st, int64_t user_id,
                      void (*fn)(void *arg, const struct token_row *t), void *arg);

/* An invitation to join org_id with role. Pending: not used, not voided,
 * not expired. The invite token (stored as a keyed hash) sets a password
 * only while the account has never activated; an active account accepts
 * its invitations while logged in (docs/access.md). */
struct invite {
    int64_t id;
    int64_t org_id;
    int64_t user_id;
    char role[16];
    int64_t expires_at;
    int64_t used_at;    /* 0: not used */
    int64_t voided_at;  /* 0: not voided */
};

int store_invite_create(struct store *st, int64_t org_id, int64_t user_id, const char *role,
                        const char *hash, int64_t created_by, int64_t now,
                        int64_t expires_at, int64_t *id);
int store_invite_by_hash(struct store *st, const char *hash, struct invite *inv);
/* The user's pending invitation by id; NOTFOUND if none. */
int store_invite_get(struct store *st, int64_t id, int64_t user_id, int64_t now,
                     struct invite *inv);
/* The user's pending invitation to org_id; NOTFOUND if none. */
int store_invite_pending(struct store *st, int64_t org_id, int64_t user_id, int64_t now,
                         struct invite *inv);
/* Marks a pending invitation used; NOTFOUND if it is not pending. */
int store_invite_use(struct store *st, int64_t id, int64_t now);
/* Voids an unused invitation; NOTFOUND if used or voided already. */
int store_invite_void(struct store *st, int64_t id, int64_t now);
/* Voids the user's unused invitations to org_id. */
int store_invites_void_org_user(struct store *st, int64_t org_id, int64_t user_id, int64_t now);
/* Voids the user's unused invitations other than keep_id. */
int store_invites_void_others(struct store *st, int64_t user_id, int64_t keep_id, int64_t now);
int store_invite_set_role(struct store *st, int64_t id, const char *role);
/* A pending invitation as its invitee sees it. invited_by: the inviter's
 * email, NULL when that account is gone. */
struct invite_row {
    int64_t id;
    int64_t org_id;
    const char *org_name;
    const char *role;
    const char *invited_by;
    int64_t created_at, expires_at;
};

/* The user's pending invitations, oldest first, each handed to fn
 * (strings live until fn returns). */
int store_invites_each(struct store *st, int64_t user_id, int64_t now,
                       void (*fn)(void *arg, const struct invite_row *inv), void *arg);

/* ---- the audit trail (store_audit.c) ---- */

struct audit_entry {
    int64_t org_id;       /* 0: not tied to an organization */
    int64_t at;
    int64_t actor_id;     /* 0: anonymous */
    const char *actor_email;
    int64_t token_id;
    const char *action;
    const char *target;
    const char *outcome;  /* "success" | "denied" | "failure" */
    int status;           /* HTTP status answered */
    const char *ip;
    const char *detail;   /* JSON text or NULL; never a secret */
};

int store_audit_append(struct store *st, const struct audit_entry *e);

struct audit_filter {
    int64_t org_id;
    const char *actor;    /* email or id as text, NULL: any */
    const char *action;   /* exact, or prefix ending in '*' */
    int64_t since, until; /* 0: unbounded */
    int64_t before_id;    /* cursor: entries with id < this; 0: newest */
    int limit;
};

/* The matching entries, newest first, at most f->limit (0: 50), each
 * handed to fn with its id (the entry's strings live until fn returns;
 * actor_id 0: anonymous). *next_cursor is the last id handed over when
 * older entries match, 0 when there is nothing older. */
int store_audit_each(struct store *st, const struct audit_filter *f,
                     void (*fn)(void *arg, int64_t id, const struct audit_entry *e), void *arg,
                     int64_t *next_cursor);


/* ---- servers, registration tokens (migration 2; store_fleet.c) ----
 * Statuses: "PROVISIONING", "ACTIVE", "UNREACHABLE", "DECOMMISSIONED". */

struct server {
    int64_t id;
    int64_t org_id;
    char name[128];
    char status[16];
    char status_reason[256];
    int64_t status_changed_at;
    int64_t created_at;
    int64_t last_seen_at;       /* 0: never */
    int64_t decommissioned_at;  /* 0: in service */
    int registered;             /* holds a credential */
    int precheck_ok;            /* the last stored precheck passed */
};

int store_server_create(struct store *st, int64_t org_id, const char *name, int64_t now,
                        int64_t *id);
/* ref is the server's id or name within org_id. */
int store_server_find(struct store *st, int64_t org_id, const char *ref, struct server *sv);
int store_server_get(struct store *st, int64_t id, struct server *sv);
int store_server_by_credential(struct store *st, const char *hash, struct server *sv);
/* A server as listed. Times 0: never (last_seen_at) or in service
 * (decommissioned_at); status_reason may be NULL. */
struct server_row {
    int64_t id;
    const char *name;
    const char *status;
    const char *status_reason;
    int64_t status_changed_at, created_at, last_seen_at, decommissioned_at;
};

/* One page of an org's servers (GET .../servers): filtered, sorted, and
 * started after a keyset position (the last row of the page before).
 * Every sort ends with the id, so rows never tie and a page boundary is
 * exact under inserts and deletes. */
enum store_server_sort {
    STORE_SERVER_SORT_NAME = 0, /* name, byte order */
    STORE_SERVER_SORT_STATUS,   /* status text, then id */
    STORE_SERVER_SORT_SEEN,     /* the stored last_seen_at (0: never), then id */
    STORE_SERVER_SORT_CREATED,  /* created_at, then id */
};
struct store_server_page {
    int64_t org_id;
    enum store_server_sort sort;
    int desc;
    const char *status; /* NULL: any */
    const char *q;      /* a name substring, matched without case; NULL: any */
    int limit;          /* 1.. */
    /* the position: rows after (before, when desc) this key and id */
    int after;
    const char *after_text; /* NAME, STATUS */
    int64_t after_int;      /* SEEN, CREATED */
    int64_t after_id;
};
/* Hands at most p->limit rows to fn (strings live until fn returns);
 * *more says whether rows follow the
 * last one; *total (when not NULL) counts every row the filters match. */
int store_servers_page(struct store *st, const struct store_server_page *p,
                       void (*fn)(void *arg, const struct server_row *sv), void *arg,
                       int *more, int64_t *total);
/* The stored JSON documents (NULL when never reported); caller decrefs. */
int store_server_docs(struct store *st, int64_t id, json_t **metrics, json_t **fingerprint,
                      json_t **precheck);
int store_server_rename(struct store *st, int64_t id, const char *name);
int store_server_set_status(struct store *st, int64_t id, const char *status,
                            const char *reason, int64_t now);
int store_server_set_credential(struct store *st, int64_t id, const char *hash);
int store_server_decommission(struct store *st, int64_t id, int64_t now);
/* Removes the server with its tokens, jobs and their logs (in one
 * transaction the caller opens). */
int store_server_delete(struct store *st, int64_t id);
int store_server_set_snapshot(struct store *st, int64_t id, int64_t last_seen,
                              const char *metrics_json);
int store_server_set_fingerprint(struct store *st, int64_t id, const char *json);
int store_server_set_precheck(struct store *st, int64_t id, const char *json);
/* Calls fn for every server in a status (ids, org, precheck); for boot. */
int store_servers_each(struct store *st, const char *status,
                       void (*fn)(void *arg, const struct server *sv), void *arg);

struct regtoken {
    int64_t id;
    int64_t server_id;
    int64_t expires_at;
    int64_t used_at;    /* 0: unused */
};

int store_regtoken_create(struct store *st, int64_t server_id, const char *hash, int64_t now,
                          int64_t expires_at);
int store_regtoken_by_hash(struct store *st, const char *hash, struct regtoken *t);
/* Spends the token at `now` in one statement (used_at IS NULL and not
 * expired), so of two links presenting it exactly one gets STORE_OK; the
 * others NOTFOUND. */
int store_regtoken_claim(struct store *st, int64_t id, int64_t now);
/* Gives back a claim made at claimed_at (the runner left before it
 * acknowledged its credential), so a retry can register. */
int store_regtoken_release(struct store *st, int64_t id, int64_t claimed_at);

/* ---- scripts (store_fleet.c) ---- */

struct script {
    int64_t id;
    int64_t org_id;
    char name[128];
    char *body;         /* malloc'ed; store_script_release frees it */
    int64_t created_at;
    int64_t updated_at;
};

void store_script_release(struct script *s);
int store_script_create(struct store *st, int64_t org_id, const char *name, const char *body,
                        int64_t now, int64_t *id);
/* ref is the script's id or name within org_id. */
int store_script_find(struct store *st, int64_t org_id, const char *ref, struct script *s);
/* A script as listed: its body's size, not the body. */
struct script_row {
    int64_t id;
    const char *name;
    int64_t size;
    int64_t created_at, updated_at;
};

/* The org's scripts by name, each handed to fn (name lives until fn
 * returns). */
int store_scripts_each(struct store *st, int64_t org_id,
                       void (*fn)(void *arg, const struct script_row *sc), void *arg);
/* name or body may be NULL (unchanged). */
int store_script_update(struct store *st, int64_t id, const char *name, const char *body,
                        int64_t now);
int store_script_delete(struct store *st, int64_t id);

/* ---- jobs and their output (store_fleet.c) ---- */

enum { JOB_PENDING = 0, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_NSTATUS };
extern const char *const store_job_status_names[JOB_NSTATUS];

struct job {
    int64_t id;
    int64_t org_id;
    int64_t server_id;
    char kind[16];
    char *spec_json;    /* malloc'ed; store_job_release frees it */
    char status[16];
    int has_exit;
    int exit_code;
    char error[512];
    int64_t created_at, started_at, finished_at;
    int64_t created_by;
};

void store_job_release(struct job *j);
int store_job_create(struct store *st, const struct job *j, int64_t *id);
/* org_id 0: any organization (the hub's own lookups). */
int store_job_get(struct store *st, int64_t org_id, int64_t id, struct job *j);
/* PENDING -> RUNNING for the server's job; NOTFOUND if not PENDING. */
int store_job_start(struct store *st, int64_t id, int64_t now);
/* PENDING|RUNNING -> status; NOTFOUND if it already finished. */
int store_job_finish(struct store *st, int64_t id, const char *status, int exit_code,
                     const char *error, int64_t now);
/* The server's PENDING jobs, oldest first, via fn. */
int store_jobs_pending(struct store *st, int64_t server_id,
                       void (*fn)(void *arg, const struct job *j), void *arg);
int store_jobs_count(struct store *st, int64_t counts[JOB_NSTATUS]);
/* A job as listed (no spec, no error). Times 0: not yet. */
struct job_row {
    int64_t id;
    int64_t server_id;
    const char *kind;
    const char *status;
    int has_exit;
    int64_t exit_code;
    int64_t created_at, started_at, finished_at;
};

/* The org's jobs (server_id 0: every server's), newest first, at most
 * limit, each handed to fn (strings live until fn returns). */
int store_jobs_each(struct store *st, int64_t org_id, int64_t server_id, int limit,
                    void (*fn)(void *arg, const struct job_row *j), void *arg);

/* Stores a chunk unless (job, seq) is there; *inserted says which. Only
 * for server_id's job while it is PENDING or RUNNING: NOTFOUND (nothing
 * stored) once it finished, or for another server's job. */
int store_job_log_add(struct store *st, int64_t job_id, int64_t server_id, int64_t seq,
                      const char *stream,
                      int64_t ts_ms, const char *data, size_t len, int *inserted);
/* What a job's stored log holds: bytes on stdout/stderr (*out) and on
 * system (*sys), and whether it carries the truncation mark (a system
 * chunk starting STORE_JOB_TRUNCATED). */
#define STORE_JOB_TRUNCATED "berth: output truncated"
int store_job_log_usage(struct store *st, int64_t job_id, int64_t *out, int64_t *sys,
                        int *truncated);
/* Largest N such that every seq 1..N is stored (0 if none). */
int store_job_log_prefix(struct store *st, int64_t job_id, int64_t *prefix);
/* Chunks with after < seq <= upto (upto 0: no bound), in order, at most
 * limit, via fn. *last gets the last seq delivered (or after). */
int store_job_logs(struct store *st, int64_t job_id, int64_t after, int64_t upto, int limit,
                   void (*fn)(void *arg, int64_t seq, const char *stream, int64_t ts_ms,
                              const char *data, size_t len),
                   void *arg, int64_t *last);


/* ---- applications, their env, deployments (migration 3; store_apps.c;
 * docs/deploy.md) ---- */

struct app {
    int64_t id;
    int64_t org_id;
    char name[64];
    int64_t server_id;
    char repo_url[1040];
    char branch[256];
    char dockerfile[256];
    char context[256];
    int container_port;
    char health_path[1040];
    int public_port;            /* 0: none */
    char *domains_json;         /* JSON array text, malloc'ed; store_app_release */
    int auto_deploy;
    char restart_policy[32];
    int64_t memory;             /* bytes, 0: no limit */
    double cpus;                /* 0: no limit */
    int keep_images, drain_seconds;
    int clone_timeout, build_timeout, health_timeout;
    int64_t current_deployment_id;  /* 0: none */
    int64_t created_at, updated_at;
    int https_redirect;         /* HTTP -> HTTPS once a certificate is served (default 1) */
    int hsts;                   /* Strict-Transport-Security on HTTPS (default 0) */
};

void store_app_release(struct app *a);
int store_app_create(struct store *st, const struct app *a, int64_t *id);
/* ref is the app's id or name within org_id (org_id 0: id, any org). */
int store_app_find(struct store *st, int64_t org_id, const char *ref, struct app *a);
/* Every app of the org, by name, via fn (a is released after fn). */
int store_apps_each(struct store *st, int64_t org_id,
                    void (*fn)(void *arg, const struct app *a), void *arg);
/* Writes every settable field of a (by a->id); CONFLICT on a taken name. */
/* Every app on the server, of every org, by id (domain clashes: one edge
 * per server), via fn (a is released after fn). */
int store_apps_of_server_each(struct store *st, int64_t server_id,
                              void (*fn)(void *arg, const struct app *a), void *arg);
int store_app_update(struct store *st, const struct app *a);
int store_app_set_current(struct store *st, int64_t app_id, int64_t deployment_id);
/* Removes the app with its env, deployments and steps (in one transaction
 * the caller opens). */
int store_app_delete(struct store *st, int64_t id);
/* Apps on a server (any org): count, for refusing a server delete. */
int store_apps_on_server(struct store *st, int64_t server_id, int64_t *n);

/* HTTPS on the edge: a domain's certificate as its runner reported it
 * (status pending | issued | failed). */
struct domain_cert {
    int64_t app_id;
    char name[256];
    char status[16];
    int64_t expires_at;         /* issued: unix seconds, else 0 */
    char issuer[136];
    char error[1040];
    int64_t updated_at;
};
int store_domain_cert_set(struct store *st, const struct domain_cert *c);
/* STORE_NOTFOUND when the runner never reported on it. */
int store_domain_cert_get(struct store *st, int64_t app_id, const char *name, struct domain_cert *c);

/* Env values are stored sealed (crypto_seal); the store never sees them clear. */
int store_app_env_set(struct store *st, int64_t app_id, const char *name, const char *sealed,
                      int64_t now);
int store_app_env_unset(struct store *st, int64_t app_id, const char *name);
/* The app's env names by name with when each was set, via fn (name lives
 * until fn returns); never values. */
int store_app_env_names(struct store *st, int64_t app_id,
                        void (*fn)(void *arg, const char *name, int64_t updated_at), void *arg);
int store_app_env_each(struct store *st, int64_t app_id,
                       void (*fn)(void *arg, const char *name, const char *sealed), void *arg);

enum { DEP_PENDING = 0, DEP_RUNNING, DEP_SUCCEEDED, DEP_FAILED, DEP_CANCELLED };

struct deployment {
    int64_t id;
    int64_t org_id, app_id, server_id;
    char kind[16];              /* "deploy" | "rollback" */
    char commit[64];            /* requested ("" = branch head) */
    char resolved_commit[64];
    char status[16];            /* PENDING RUNNING SUCCEEDED FAILED CANCELLED */
    char failed_step[16];
    char reason[512];
    int64_t rolled_back_to;     /* 0: none */
    int64_t rollback_of;        /* kind rollback: the deployment whose image runs again */
    char image[256];
    int64_t job_id;             /* 0: not dispatched yet */
    int cancel_requested;
    int64_t created_by;
    int64_t created_at, started_at, finished_at;
};

int store_deployment_create(struct store *st, const struct deployment *d, int64_t *id);
/* org_id 0: any organization. */
int store_deployment_get(struct store *st, int64_t org_id, int64_t id, struct deployment *d);
int store_deployment_by_job(struct store *st, int64_t job_id, struct deployment *d);
/* Newest first, at most limit, via fn. */
int store_deployments_each(struct store *st, int64_t app_id, int limit,
                           void (*fn)(void *arg, const struct deployment *d), void *arg);
/* The app's deployment holding its run slot: RUNNING, or PENDING with a job. */
int store_deployment_active(struct store *st, int64_t app_id, struct deployment *d);
/* The app's oldest queued deployment (PENDING, no job yet). */
int store_deployment_next(struct store *st, int64_t app_id, struct deployment *d);
/* Newest SUCCEEDED deployment with an image, other than exclude_id, not
 * running exclude_image ("" excludes none) nor exclude_id's image ID. */
int store_deployment_last_success(struct store *st, int64_t app_id, int64_t exclude_id,
                                  const char *exclude_image, struct deployment *d);
/* Apps having queued deployments and none holding the slot, via fn. */
int store_apps_with_queue(struct store *st, void (*fn)(void *arg, int64_t app_id), void *arg);
/* PENDING without a job -> PENDING with job_id and image. NOTFOUND if taken. */
int store_deployment_dispatch(struct store *st, int64_t id, int64_t job_id, const char *image);
/* PENDING -> RUNNING. NOTFOUND if not PENDING. */
int store_deployment_start(struct store *st, int64_t id, int64_t now);
/* PENDING|RUNNING -> status. NOTFOUND if it already ended. */
int store_deployment_finish(struct store *st, int64_t id, const char *status,
                            const char *failed_step, const char *reason,
                            int64_t rolled_back_to, int64_t now);
int store_deployment_set_cancel(struct store *st, int64_t id);
/* Fields reported by the runner ("" leaves them). */
int store_deployment_set_result(struct store *st, int64_t id, const char *resolved_commit,
                                const char *image, const char *image_id);

/* A failed deployment's container output (migration 10): the JSON array
 * text deploy.c keeps (*json malloc'ed, NULL when none), and its
 * replacement. */
int store_deployment_tail_get(struct store *st, int64_t id, char **json);
int store_deployment_tail_set(struct store *st, int64_t id, const char *json);

/* One pipeline step's progress (upsert). status "started": started_at;
 * "ok"/"failed": finished_at (and started_at if never seen). Times in ms. */
int store_deploy_step(struct store *st, int64_t deployment_id, const char *step, int ord,
                      const char *status, const char *detail, int64_t at_ms);
/* A pipeline step as stored; times in ms, present only when has_*. */
struct deploy_step_row {
    const char *step;
    const char *status;
    int has_started, has_finished;
    int64_t started_ms, finished_ms;
    const char *detail;
};

/* The deployment's steps in pipeline order, each handed to fn (strings
 * live until fn returns). */
int store_deploy_steps_each(struct store *st, int64_t deployment_id,
                            void (*fn)(void *arg, const struct deploy_step_row *s), void *arg);

/* ---- git repositories and webhook deliveries (migration 4; store_repos.c;
 * docs/webhooks.md) ----
 * The webhook secret, deploy key and GitHub App key are stored sealed
 * (crypto_seal, associated data "repo:<id>:<what>"); the store never sees
 * them clear. url_norm is giturl_normalize(url). */

struct repo {
    int64_t id;
    int64_t org_id;
    char provider[16];          /* github | gitea | gitlab | generic */
    char url[1040];
    char url_norm[1040];
    char *secret_sealed;        /* malloc'ed (store_repo_release), never NULL once set */
    char *deploy_key_sealed;    /* malloc'ed or NULL */
    int64_t gh_app_id;          /* 0: no GitHub App */
    int64_t gh_installation_id;
    char gh_api_url[512];
    char *gh_key_sealed;        /* malloc'ed or NULL */
    int64_t created_at, updated_at;
};

void store_repo_release(struct repo *r);
/* Creates the row with an empty secret (set it with store_repo_set_secret
 * in the same transaction); CONFLICT when the org has the repository. */
int store_repo_create(struct store *st, int64_t org_id, const char *provider, const char *url,
                      const char *url_norm, int64_t now, int64_t *id);
int store_repo_set_secret(struct store *st, int64_t id, const char *sealed);
/* org_id 0: any organization. */
int store_repo_get(struct store *st, int64_t org_id, int64_t id, struct repo *r);
int store_repo_by_norm(struct store *st, int64_t org_id, const char *url_norm, struct repo *r);
int store_repos_each(struct store *st, int64_t org_id,
                     void (*fn)(void *arg, const struct repo *r), void *arg);
/* Removes the repository and its deliveries (caller's transaction). */
int store_repo_delete(struct store *st, int64_t id);
/* sealed NULL removes it. */
int store_repo_set_deploy_key(struct store *st, int64_t id, const char *sealed, int64_t now);
/* app_id 0 (and NULLs) removes the GitHub App. */
int store_repo_set_github_app(struct store *st, int64_t id, int64_t app_id,
                              int64_t installation_id, const char *api_url, const char *sealed,
                              int64_t now);

#define STORE_DELIVERIES_KEPT 200

struct hook_delivery {
    int64_t repo_id;
    int64_t at;
    const char *event;           /* the provider's event name, or NULL */
    const char *delivery_id;
    const char *outcome;         /* accepted | ignored | rejected */
    const char *reason;
    int status;                  /* HTTP status answered */
    const char *ref, *commit;    /* NULL when not a push */
    const char *deployments_json;  /* JSON array of deployment ids */
};

/* Appends a delivery, keeping the newest STORE_DELIVERIES_KEPT of the repo. */
int store_delivery_add(struct store *st, const struct hook_delivery *d);
/* *seen: the repo already took (accepted or ignored) this delivery id. */
int store_delivery_seen(struct store *st, int64_t repo_id, const char *delivery_id, int *seen);
/* The repo's deliveries, newest first, at most limit, each handed to fn
 * with its id (strings live until fn returns; deployments_json as stored,
 * NULL when none). */
int store_deliveries_each(struct store *st, int64_t repo_id, int limit,
                          void (*fn)(void *arg, int64_t id, const struct hook_delivery *d),
                          void *arg);

/* The webhook order rule's memory (migration 7; hooks.c): per repository
 * and branch, the last commit taken (head, "" when none) and the commits
 * pushes taken named as before or after. Kept until the repository is
 * removed. store_hook_take records a push (its own transaction). */
int store_hook_head(struct store *st, int64_t repo_id, const char *branch, char *head, size_t n);
int store_hook_seen(struct store *st, int64_t repo_id, const char *branch, const char *commit,
                    int *seen);
int store_hook_take(struct store *st, int64_t repo_id, const char *branch, const char *before,
                    const char *after, int64_t now);

/* ---- scheduled operations (migration 8; store_schedules.c;
 * docs/schedules.md) ----
 * kind "script": script_id on server_id; kind "deploy": app_id. The
 * timing is cron (in timezone) or every_minutes (cron ""). Times are UTC
 * seconds. */

struct schedule {
    int64_t id;
    int64_t org_id;
    char kind[16];
    int64_t script_id, server_id, app_id; /* 0: not this kind's */
    char cron[260];
    int every_minutes;           /* 0: cron */
    char timezone[64];
    char catch_up[8];            /* "once" | "skip" */
    int paused;
    char pause_reason[256];      /* "" when paused by a person or running */
    int64_t next_run_at;
    int64_t last_run_at;         /* 0: never */
    int64_t last_job_id, last_deployment_id; /* the last run started; 0: none */
    int64_t created_by;
    int64_t created_at, updated_at;
};

int store_schedule_create(struct store *st, const struct schedule *s, int64_t *id);
/* org_id 0: any organization. */
int store_schedule_get(struct store *st, int64_t org_id, int64_t id, struct schedule *s);
/* The org's schedules by id, each handed to fn. */
int store_schedules_each(struct store *st, int64_t org_id,
                         void (*fn)(void *arg, const struct schedule *s), void *arg);
/* Running schedules with next_run_at <= now, soonest first, at most limit,
 * collected into out (the caller's array); *n gets how many. */
int store_schedules_due(struct store *st, int64_t now, struct schedule *out, int limit, int *n);
/* Pauses (paused 1, with reason or NULL) or resumes (paused 0, with the
 * next fire time). NOTFOUND if there is no such schedule. */
int store_schedule_set_paused(struct store *st, int64_t id, int paused, const char *reason,
                              int64_t next_run_at, int64_t now);
/* After a fire time was handled: the next one, and the run started (job
 * or deployment id; 0 leaves the last one). */
int store_schedule_fired(struct store *st, int64_t id, int64_t next_run_at, int64_t at,
                         int64_t job_id, int64_t deployment_id);
/* Removes the schedule and its runs (caller's transaction). */
int store_schedule_delete(struct store *st, int64_t id);

#define STORE_SCHEDULE_RUNS_KEPT 500

/* One fire time's outcome: "started" (job_id or deployment_id), "skipped"
 * (the previous run still going) or "missed" (could not run). status is
 * the job's or deployment's status as read back (NULL for none). */
struct schedule_run {
    int64_t id;
    int64_t schedule_id;
    int64_t due_at, at;
    const char *outcome;
    const char *reason;
    int64_t job_id, deployment_id;
    const char *status;
};

/* Appends a run, keeping the schedule's newest STORE_SCHEDULE_RUNS_KEPT. */
int store_schedule_run_add(struct store *st, const struct schedule_run *r);
/* The schedule's runs, newest first, ids below before_id (0: newest), at
 * most limit, each handed to fn (strings live until fn returns). */
int store_schedule_runs_each(struct store *st, int64_t schedule_id, int64_t before_id, int limit,
                             void (*fn)(void *arg, const struct schedule_run *r), void *arg);

/* ---- uploaded TLS certificates (store_certs.c; docs/deploy.md#certificates) ---- */

struct cert {
    int64_t id;
    int64_t org_id;
    char name[104];
    char subject[256], issuer[256];
    char *sans_json;            /* JSON array of DNS names, malloc'ed; store_cert_release */
    int64_t not_before, not_after;
    char fingerprint[65];
    char key_type[16];
    int key_bits, chain_len;
    int64_t created_by, created_at;
};

void store_cert_release(struct cert *c);
/* Inserts c (its summary) with the chain and an empty sealed key: the
 * caller seals the key under the new id and sets it with
 * store_cert_set_key in the same transaction. CONFLICT on a taken name. */
int store_cert_create(struct store *st, const struct cert *c, const char *chain_pem, int64_t *id);
int store_cert_set_key(struct store *st, int64_t id, const char *sealed);
/* One certificate of org_id (org_id 0: any org); NOTFOUND otherwise. */
int store_cert_get(struct store *st, int64_t org_id, int64_t id, struct cert *c);
int store_cert_by_name(struct store *st, int64_t org_id, const char *name, struct cert *c);
/* The org's certificates by name, via fn (c released after fn). */
int store_certs_each(struct store *st, int64_t org_id,
                     void (*fn)(void *arg, const struct cert *c), void *arg);
int store_certs_count(struct store *st, int64_t org_id, int64_t *n);
/* The chain and the sealed key, malloc'ed, for the job frame only. */
int store_cert_material(struct store *st, int64_t id, char **chain_pem, char **key_sealed);
int store_cert_delete(struct store *st, int64_t org_id, int64_t id);

#endif
