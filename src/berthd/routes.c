/* routes.c - every endpoint berthd serves, in one table. Dispatch, the
 * `berthd routes` listing, the access test matrix and docs/api.md all
 * follow this table. */
#include "access.h"
#include "api.h"
#include "applogs.h"
#include "containers.h"
#include "events.h"
#include "repos.h"
#include "router.h"
#include "prune.h"
#include "term.h"

#define V1 "/api/v1"

const struct route routes[] = {
    /* service */
    {HM_GET, "/healthz", AUTH_PUBLIC, 0, NULL, api_healthz},
    {HM_GET, "/metrics", AUTH_PUBLIC, 0, NULL, api_metrics},

    /* sessions and the caller */
    {HM_POST, V1 "/auth/login", AUTH_PUBLIC, 0, "auth.login", api_login},
    {HM_POST, V1 "/auth/logout", AUTH_USER, 0, "auth.logout", api_logout},
    {HM_POST, V1 "/auth/accept-invite", AUTH_PUBLIC, 0, "auth.accept_invite", api_accept_invite},
    {HM_GET, V1 "/me", AUTH_USER, 0, "me.get", api_me},

    /* organizations */
    {HM_GET, V1 "/orgs", AUTH_USER, 0, "org.list", api_orgs_list},
    {HM_POST, V1 "/orgs", AUTH_USER, SC_ORG_WRITE, "org.create", api_orgs_create},
    {HM_GET, V1 "/orgs/{org}", AUTH_ORG, 0, "org.get", api_org_get},

    /* members */
    {HM_GET, V1 "/orgs/{org}/members", AUTH_ORG, 0, "member.list", api_members_list},
    {HM_GET, V1 "/orgs/{org}/events", AUTH_ORG, 0, "events.follow", api_events},
    /* a log on the caller's own stream; the handler checks deploy:read or
     * server:read for the log it names */
    {HM_POST, V1 "/orgs/{org}/events/{id}/logs", AUTH_ORG, 0, "events.logs", api_events_logs},
    {HM_POST, V1 "/orgs/{org}/members", AUTH_ORG, SC_USER_WRITE, "member.add", api_member_add},
    {HM_PATCH, V1 "/orgs/{org}/members/{user}", AUTH_ORG, SC_USER_WRITE, "member.update",
     api_member_update},
    {HM_DELETE, V1 "/orgs/{org}/members/{user}", AUTH_ORG, SC_USER_WRITE, "member.remove",
     api_member_remove},

    /* invitations (the caller's own; accepting takes a login session) */
    {HM_GET, V1 "/invites", AUTH_USER, 0, "invite.list", api_invites_list},
    {HM_POST, V1 "/invites/{id}/accept", AUTH_USER, 0, "invite.accept", api_invite_accept},
    {HM_DELETE, V1 "/invites/{id}", AUTH_USER, 0, "invite.decline", api_invite_decline},

    /* API tokens (the caller's own) */
    {HM_GET, V1 "/tokens", AUTH_USER, 0, "token.list", api_tokens_list},
    {HM_POST, V1 "/tokens", AUTH_USER, SC_TOKEN_WRITE, "token.create", api_token_create},
    {HM_DELETE, V1 "/tokens/{id}", AUTH_USER, SC_TOKEN_WRITE, "token.revoke", api_token_revoke},

    /* audit */
    {HM_GET, V1 "/orgs/{org}/audit", AUTH_ORG, SC_AUDIT_READ, "audit.list", api_audit_list},

    /* servers and the runner link (api_servers.c, hub.c) */
    {HM_GET, "/install.sh", AUTH_PUBLIC, 0, NULL, api_install_script},
    {HM_GET, "/download/berth-runner", AUTH_PUBLIC, 0, NULL, api_runner_download},
    {HM_GET, V1 "/orgs/{org}/servers", AUTH_ORG, SC_SERVER_READ, "server.list", api_servers_list},
    {HM_POST, V1 "/orgs/{org}/servers", AUTH_ORG, SC_SERVER_WRITE, "server.create",
     api_server_create},
    {HM_GET, V1 "/orgs/{org}/servers/{id}", AUTH_ORG, SC_SERVER_READ, "server.get",
     api_server_get},
    {HM_PATCH, V1 "/orgs/{org}/servers/{id}", AUTH_ORG, SC_SERVER_WRITE, "server.update",
     api_server_update},
    {HM_DELETE, V1 "/orgs/{org}/servers/{id}", AUTH_ORG, SC_SERVER_WRITE, "server.delete",
     api_server_delete},
    {HM_POST, V1 "/orgs/{org}/servers/{id}/decommission", AUTH_ORG, SC_SERVER_WRITE,
     "server.decommission", api_server_decommission},
    {HM_POST, V1 "/orgs/{org}/servers/{id}/registration-token", AUTH_ORG, SC_SERVER_WRITE,
     "server.registration_token", api_server_regtoken},
    {HM_GET, V1 "/orgs/{org}/servers/{id}/metrics", AUTH_ORG, SC_SERVER_READ, "server.metrics",
     api_server_metrics},
    /* the server's containers through its runner (containers.c) */
    {HM_GET, V1 "/orgs/{org}/servers/{id}/containers", AUTH_ORG, SC_SERVER_READ,
     "container.list", api_containers_list},
    {HM_POST, V1 "/orgs/{org}/servers/{id}/containers/prune", AUTH_ORG, SC_SERVER_WRITE,
     "server.containers.prune", api_containers_prune},
    {HM_GET, V1 "/orgs/{org}/servers/{id}/containers/{id}", AUTH_ORG, SC_SERVER_READ,
     "container.inspect", api_container_inspect},
    {HM_POST, V1 "/orgs/{org}/servers/{id}/containers/{id}/start", AUTH_ORG, SC_SERVER_WRITE,
     "container.start", api_container_start},
    {HM_POST, V1 "/orgs/{org}/servers/{id}/containers/{id}/stop", AUTH_ORG, SC_SERVER_WRITE,
     "container.stop", api_container_stop},
    {HM_POST, V1 "/orgs/{org}/servers/{id}/containers/{id}/restart", AUTH_ORG,
     SC_SERVER_WRITE, "container.restart", api_container_restart},
    {HM_DELETE, V1 "/orgs/{org}/servers/{id}/containers/{id}", AUTH_ORG, SC_SERVER_WRITE,
     "container.remove", api_container_remove},
    /* a command for automation (exec.c); on the host it needs server:exec too */
    {HM_POST, V1 "/orgs/{org}/servers/{id}/exec", AUTH_ORG, SC_CONTAINER_EXEC, "server.exec",
     api_server_exec},
    /* a terminal is a WebSocket (term.c); the host needs terminal:open too */
    {HM_GET, V1 "/orgs/{org}/servers/{id}/terminal", AUTH_ORG, SC_CONTAINER_EXEC,
     "server.terminal", api_terminal},
    {HM_GET, V1 "/orgs/{org}/servers/{id}/jobs", AUTH_ORG, SC_SERVER_READ, "job.list",
     api_server_jobs},

    /* scripts and jobs (api_scripts.c, api_jobs.c) */
    {HM_GET, V1 "/orgs/{org}/scripts", AUTH_ORG, SC_SERVER_READ, "script.list", api_scripts_list},
    {HM_POST, V1 "/orgs/{org}/scripts", AUTH_ORG, SC_SCRIPT_RUN, "script.create",
     api_script_create},
    {HM_GET, V1 "/orgs/{org}/scripts/{id}", AUTH_ORG, SC_SERVER_READ, "script.get",
     api_script_get},
    {HM_PUT, V1 "/orgs/{org}/scripts/{id}", AUTH_ORG, SC_SCRIPT_RUN, "script.update",
     api_script_update},
    {HM_DELETE, V1 "/orgs/{org}/scripts/{id}", AUTH_ORG, SC_SCRIPT_RUN, "script.delete",
     api_script_delete},
    {HM_POST, V1 "/orgs/{org}/scripts/{id}/runs", AUTH_ORG, SC_SCRIPT_RUN, "script.run",
     api_script_run},
    {HM_GET, V1 "/orgs/{org}/jobs/{id}", AUTH_ORG, SC_SERVER_READ, "job.get", api_job_get},
    {HM_GET, V1 "/orgs/{org}/jobs/{id}/logs", AUTH_ORG, SC_SERVER_READ, "job.logs",
     api_job_logs},

    /* scheduled operations (api_schedules.c, scheduler.c; docs/schedules.md) */
    {HM_GET, V1 "/orgs/{org}/schedules", AUTH_ORG, SC_SCHEDULE_READ, "schedule.list",
     api_schedules_list},
    {HM_POST, V1 "/orgs/{org}/schedules", AUTH_ORG, SC_SCHEDULE_WRITE, "schedule.create",
     api_schedule_create},
    {HM_GET, V1 "/orgs/{org}/schedules/{id}", AUTH_ORG, SC_SCHEDULE_READ, "schedule.get",
     api_schedule_get},
    {HM_POST, V1 "/orgs/{org}/schedules/{id}/pause", AUTH_ORG, SC_SCHEDULE_WRITE,
     "schedule.pause", api_schedule_pause},
    {HM_POST, V1 "/orgs/{org}/schedules/{id}/resume", AUTH_ORG, SC_SCHEDULE_WRITE,
     "schedule.resume", api_schedule_resume},
    {HM_DELETE, V1 "/orgs/{org}/schedules/{id}", AUTH_ORG, SC_SCHEDULE_WRITE,
     "schedule.delete", api_schedule_delete},
    {HM_GET, V1 "/orgs/{org}/schedules/{id}/runs", AUTH_ORG, SC_SCHEDULE_READ, "schedule.runs",
     api_schedule_runs},

    /* applications, env, deployments (api_apps.c, api_deployments.c, deploy.c) */
    {HM_GET, V1 "/orgs/{org}/apps", AUTH_ORG, SC_APP_READ, "app.list", api_apps_list},
    {HM_POST, V1 "/orgs/{org}/apps", AUTH_ORG, SC_APP_WRITE, "app.create", api_app_create},
    {HM_GET, V1 "/orgs/{org}/apps/{app}", AUTH_ORG, SC_APP_READ, "app.get", api_app_get},
    {HM_PATCH, V1 "/orgs/{org}/apps/{app}", AUTH_ORG, SC_APP_WRITE, "app.update",
     api_app_update},
    {HM_DELETE, V1 "/orgs/{org}/apps/{app}", AUTH_ORG, SC_APP_WRITE, "app.delete",
     api_app_delete},
    {HM_GET, V1 "/orgs/{org}/apps/{app}/env", AUTH_ORG, SC_APP_READ, "env.list",
     api_app_env_list},
    {HM_PUT, V1 "/orgs/{org}/apps/{app}/env/{key}", AUTH_ORG, SC_ENV_WRITE, "env.set",
     api_app_env_set},
    {HM_DELETE, V1 "/orgs/{org}/apps/{app}/env/{key}", AUTH_ORG, SC_ENV_WRITE, "env.unset",
     api_app_env_unset},
    {HM_GET, V1 "/orgs/{org}/apps/{app}/domains", AUTH_ORG, SC_APP_READ, "domain.list",
     api_app_domains_list},
    {HM_POST, V1 "/orgs/{org}/apps/{app}/domains", AUTH_ORG, SC_APP_WRITE, "domain.add",
     api_app_domain_add},
    {HM_DELETE, V1 "/orgs/{org}/apps/{app}/domains/{domain}", AUTH_ORG, SC_APP_WRITE,
     "domain.remove", api_app_domain_remove},
    /* uploaded TLS certificates (api_certs.c, certificates.c): they serve
     * app domains, so the app scopes guard them */
    {HM_GET, V1 "/orgs/{org}/certificates", AUTH_ORG, SC_APP_READ, "cert.list", api_certs_list},
    {HM_POST, V1 "/orgs/{org}/certificates", AUTH_ORG, SC_APP_WRITE, "cert.upload",
     api_cert_create},
    {HM_GET, V1 "/orgs/{org}/certificates/{id}", AUTH_ORG, SC_APP_READ, "cert.get",
     api_cert_get},
    {HM_DELETE, V1 "/orgs/{org}/certificates/{id}", AUTH_ORG, SC_APP_WRITE, "cert.delete",
     api_cert_delete},
    {HM_GET, V1 "/orgs/{org}/apps/{app}/deployments", AUTH_ORG, SC_DEPLOY_READ,
     "deployment.list", api_deployments_list},
    {HM_POST, V1 "/orgs/{org}/apps/{app}/deployments", AUTH_ORG, SC_DEPLOY_WRITE,
     "deployment.create", api_deployment_create},
    {HM_POST, V1 "/orgs/{org}/apps/{app}/rollback", AUTH_ORG, SC_DEPLOY_WRITE,
     "deployment.rollback", api_app_rollback},
    {HM_GET, V1 "/orgs/{org}/deployments/{id}", AUTH_ORG, SC_DEPLOY_READ, "deployment.get",
     api_deployment_get},
    {HM_GET, V1 "/orgs/{org}/deployments/{id}/logs", AUTH_ORG, SC_DEPLOY_READ,
     "deployment.logs", api_deployment_logs},
    /* an app's container logs through its runner (applogs.c) */
    {HM_GET, V1 "/orgs/{org}/apps/{id}/logs", AUTH_ORG, SC_DEPLOY_READ, "app.logs",
     api_app_logs},
    {HM_POST, V1 "/orgs/{org}/deployments/{id}/cancel", AUTH_ORG, SC_DEPLOY_WRITE,
     "deployment.cancel", api_deployment_cancel},

    /* git repositories, webhooks, clone credentials (api_repos.c, hooks.c;
     * docs/webhooks.md). The hooks are public: each request is signed with
     * the repository's webhook secret. */
    {HM_GET, V1 "/orgs/{org}/repos", AUTH_ORG, SC_APP_READ, "repo.list", api_repos_list},
    {HM_POST, V1 "/orgs/{org}/repos", AUTH_ORG, SC_APP_WRITE, "repo.create", api_repo_create},
    {HM_GET, V1 "/orgs/{org}/repos/{id}", AUTH_ORG, SC_APP_READ, "repo.get", api_repo_get},
    {HM_DELETE, V1 "/orgs/{org}/repos/{id}", AUTH_ORG, SC_APP_WRITE, "repo.delete",
     api_repo_delete},
    {HM_GET, V1 "/orgs/{org}/repos/{id}/deliveries", AUTH_ORG, SC_APP_READ, "repo.deliveries",
     api_repo_deliveries},
    {HM_PUT, V1 "/orgs/{org}/repos/{id}/deploy-key", AUTH_ORG, SC_APP_WRITE,
     "repo.deploy_key.set", api_repo_deploy_key_set},
    {HM_DELETE, V1 "/orgs/{org}/repos/{id}/deploy-key", AUTH_ORG, SC_APP_WRITE,
     "repo.deploy_key.remove", api_repo_deploy_key_delete},
    {HM_POST, V1 "/orgs/{org}/repos/{id}/github-app", AUTH_ORG, SC_APP_WRITE,
     "repo.github_app.set", api_repo_github_app_set},
    {HM_DELETE, V1 "/orgs/{org}/repos/{id}/github-app", AUTH_ORG, SC_APP_WRITE,
     "repo.github_app.remove", api_repo_github_app_delete},
    {HM_POST, "/hooks/github/{id}", AUTH_PUBLIC, 0, "hook.github", api_hook_github},
    {HM_POST, "/hooks/gitea/{id}", AUTH_PUBLIC, 0, "hook.gitea", api_hook_gitea},
    {HM_POST, "/hooks/gitlab/{id}", AUTH_PUBLIC, 0, "hook.gitlab", api_hook_gitlab},
    {HM_POST, "/hooks/generic/{id}", AUTH_PUBLIC, 0, "hook.generic", api_hook_generic},
    /* retired shared URLs (410): they matched every organization's
     * registration of a URL (docs/webhooks.md) */
    {HM_POST, "/hooks/github", AUTH_PUBLIC, 0, "hook.retired", api_hook_retired},
    {HM_POST, "/hooks/gitea", AUTH_PUBLIC, 0, "hook.retired", api_hook_retired},
    {HM_POST, "/hooks/gitlab", AUTH_PUBLIC, 0, "hook.retired", api_hook_retired},
    {HM_POST, "/hooks/generic", AUTH_PUBLIC, 0, "hook.retired", api_hook_retired},
};

const int routes_count = (int)(sizeof routes / sizeof routes[0]);
