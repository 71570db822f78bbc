/* main.c - berth's entry point: the command table, help texts, dispatch
 * from argv to a command, and the exit code. Commands live in cmd_*.c;
 * this file knows their names, arguments and options, nothing more. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int cmd_version(struct cli *c);

#define ORGO OPTB(OPT_ORG)
#define MUT OPTS_MUTATE

static const struct cli_cmd cmds[] = {
    {NULL, "login", "", 0, 0, OPTB(OPT_EMAIL) | MUT, "log in and store a session token",
     "The password comes from BERTH_PASSWORD, else the terminal (not echoed), else one\n"
     "line of stdin. The email comes from --email, BERTH_EMAIL or a prompt. --url sets\n"
     "the berthd the config remembers.\n", cmd_login},
    {NULL, "logout", "", 0, 0, MUT, "end the session and forget its token", NULL, cmd_logout},
    {NULL, "whoami", "", 0, 0, 0, "show the account, token and organizations in use", NULL,
     cmd_whoami},
    {NULL, "accept-invite", "", 0, 0, MUT, "accept an invitation: set a password and log in",
     "The invite token comes from BERTH_INVITE_TOKEN, else the terminal (not echoed), else\n"
     "the first line of stdin; the new password from BERTH_PASSWORD, else the terminal, else\n"
     "the next line of stdin. On success the new session is stored like `berth login`.\n",
     cmd_accept_invite},
    {"org", "list", "", 0, 0, 0, "list your organizations (* marks the current one)", NULL,
     cmd_org_list},
    {"org", "create", "NAME", 1, 1, MUT, "create an organization (you become its admin)",
     "NAME: 1-63 of a-z, 0-9 and '-'.\n", cmd_org_create},
    {"org", "use", "NAME", 1, 1, MUT, "make NAME the current organization (checked first)",
     NULL, cmd_org_use},
    {"member", "list", "", 0, 0, ORGO, "list the organization's members", NULL,
     cmd_member_list},
    {"member", "add", "EMAIL", 1, 1, ORGO | OPTB(OPT_ROLE) | MUT,
     "invite someone (with or without an account) to join as a member",
     "berthd answers with a one-time invite token, the same whether or not the address\n"
     "has an account; it is printed once: hand it to the person. Someone new runs\n"
     "`berth accept-invite`; someone with an account logs in and runs\n"
     "`berth invite accept ORG`. They are a member once they accept.\n",
     cmd_member_add},
    {"invite", "list", "", 0, 0, 0, "list your pending invitations to organizations", NULL,
     cmd_invite_list},
    {"invite", "accept", "ORG", 1, 1, MUT, "join ORG (name or id) by accepting its invitation",
     "For an account that exists already: log in first (an API token cannot accept).\n"
     "A new account uses `berth accept-invite` with its invite token instead.\n",
     cmd_invite_accept},
    {"invite", "decline", "ORG", 1, 1, MUT, "decline your invitation to ORG (name or id)", NULL,
     cmd_invite_decline},
    {"member", "set-role", "USER [ROLE]", 1, 2, ORGO | OPTB(OPT_ROLE) | MUT,
     "change a member's role (USER: email or user id)",
     "The role is the second argument or --role: admin, manager, developer, viewer.\n"
     "berthd refuses (exit 5) to demote an organization's last admin.\n",
     cmd_member_set_role},
    {"member", "remove", "USER", 1, 1, ORGO | MUT,
     "remove a member (USER: email or user id); asks first", NULL, cmd_member_remove},
    {"token", "create", "", 0, 0,
     OPTB(OPT_NAME) | OPTB(OPT_SCOPE) | ORGO | OPTB(OPT_EXPIRES_IN) | MUT,
     "create an API token and print it once",
     "Scopes: server:read server:write app:read app:write deploy:read deploy:write\n"
     "env:write script:run container:exec token:write user:write org:write audit:read\n"
     "schedule:read schedule:write,\n"
     "and, named one by one, the exceptional terminal:open and server:exec (host shell and\n"
     "host commands; admins only).\n"
     "A token never holds more than your role grants. --org binds it to one organization\n"
     "(without it the token works in every organization you belong to). Default lifetime\n"
     "30 days, never past the token that makes it (your login session): revoking that\n"
     "token, or logging out, ends this one too. The secret is shown only here; berth\n"
     "token list shows its prefix.\n",
     cmd_token_create},
    {"token", "list", "", 0, 0, 0, "list your API tokens (prefix only, never the secret)", NULL,
     cmd_token_list},
    {"token", "revoke", "ID", 1, 1, MUT,
     "revoke an API token and every token made with it; asks first", NULL,
     cmd_token_revoke},
    {"audit", "list", "", 0, 0,
     ORGO | OPTB(OPT_ACTOR) | OPTB(OPT_ACTION) | OPTB(OPT_SINCE) | OPTB(OPT_UNTIL) |
         OPTB(OPT_LIMIT) | OPTB(OPT_CURSOR) | OPTB(OPT_ALL),
     "read the organization's audit trail, newest first",
     "Needs the audit:read scope (admins and managers). Without --all one page is shown\n"
     "and its next_cursor (if any) continues it.\n",
     cmd_audit_list},
    {"server", "add", "NAME", 1, 1, ORGO | OPTB(OPT_EXPIRES_IN) | MUT,
     "add a server: prints its one-time registration token and install command",
     "NAME: 1-100 of A-Z a-z 0-9 . _ - (starting with a letter or digit). The registration\n"
     "token (brg_...) is shown only here; it is valid 15 minutes unless --expires-in says\n"
     "1..604800 seconds. Run the printed install command on the host (as root); the\n"
     "runner registers, and the server turns ACTIVE once its precheck passes.\n",
     cmd_server_add},
    {"server", "list", "", 0, 0, ORGO, "list servers: status, reason, last seen", NULL,
     cmd_server_list},
    {"server", "show", "SERVER", 1, 1, ORGO,
     "one server: status, reason, last seen, metrics, fingerprint, precheck",
     "SERVER is an id or a name.\n", cmd_server_show},
    {"server", "decommission", "SERVER", 1, 1, ORGO | MUT,
     "decommission a server (closes its link, refuses its credential); asks first",
     "A decommissioned server is kept for the audit trail and refuses every operation\n"
     "(exit 5). To reuse the host, remove the record and add the server again.\n",
     cmd_server_decommission},
    {"server", "remove", "SERVER", 1, 1, ORGO | MUT,
     "delete a decommissioned server with its jobs and logs; asks first",
     "Only a decommissioned server can be removed: berthd answers 409 (exit 5) otherwise,\n"
     "and while applications still use it.\n",
     cmd_server_remove},
    {"server", "token", "SERVER", 1, 1, ORGO | OPTB(OPT_EXPIRES_IN) | MUT,
     "issue a new one-time registration token (reinstall a runner)",
     "The token and install command are shown only here. The credential the runner gets\n"
     "with it replaces the server's old one.\n",
     cmd_server_token},
    {"server", "metrics", "SERVER", 1, 1, ORGO | OPTB(OPT_SINCE),
     "latest metrics and history (raw, 1-minute, 5-minute points)",
     "--since: RFC 3339, epoch seconds or 30m/12h/7d ago (default: the last hour).\n",
     cmd_server_metrics},
    {"container", "ls", "SERVER", 1, 1, ORGO,
     "every container on a server: state, image, and the app it serves",
     "Listed through the server's runner (it must be connected). Scope server:read.\n",
     cmd_container_list},
    {"container", "inspect", "SERVER CONTAINER", 2, 2, ORGO,
     "Docker's inspect of one container (a berth app's env values redacted)", NULL,
     cmd_container_inspect},
    {"container", "start", "SERVER CONTAINER", 2, 2, ORGO | MUT, "start a container",
     "Scope server:write (managers and admins).\n", cmd_container_start},
    {"container", "stop", "SERVER CONTAINER", 2, 2, ORGO | MUT,
     "stop a container (SIGTERM, then SIGKILL after 10 s)", "Scope server:write.\n",
     cmd_container_stop},
    {"container", "restart", "SERVER CONTAINER", 2, 2, ORGO | MUT, "restart a container",
     "Scope server:write.\n", cmd_container_restart},
    {"container", "rm", "SERVER CONTAINER", 2, 2, ORGO | MUT,
     "remove a container (a running one is killed first); asks first",
     "Scope server:write.\n", cmd_container_remove},
    {"container", "prune", "SERVER", 1, 1, ORGO | MUT,
     "remove stopped berth containers and images past each app's keep_images: preview, ask, run",
     "Shows the preview (each item with its bytes), asks, then removes exactly that\n"
     "list: anything that appeared since stays, a container running again or an image\n"
     "a running container uses is skipped. --dry-run: the preview only. --yes: no\n"
     "question. Scope server:write.\n",
     cmd_container_prune},
    {NULL, "terminal", "SERVER", 1, 1, ORGO | OPTB(OPT_CONTAINER) | OPTB(OPT_APP),
     "an interactive shell on a server's host or in one of its containers",
     "Without --container/--app the shell is on the host (admins: scope terminal:open);\n"
     "--container C opens it in container C, --app A in the container serving app A\n"
     "(scope container:exec). On a terminal, berth puts it in raw mode for the session\n"
     "and restores it on every exit; the remote size follows the window's. Off a\n"
     "terminal, stdin is sent as it is and its end is not: end piped input with `exit`.\n"
     "berth exits with the shell's exit status (1 when it has none: the reason is\n"
     "printed). A refusal exits as any request does (3, 4, 5; 2 for a bad option).\n",
     cmd_terminal},
    {NULL, "exec", "SERVER -- CMD [ARG...]", 2, 65,
     ORGO | OPTB(OPT_CONTAINER) | OPTB(OPT_APP) | OPTB(OPT_TIMEOUT) | OPTB(OPT_DRY_RUN),
     "run one command on a server's host or in a container (no terminal, no input)",
     "Put the command after `--` so its options are not taken as berth's. The host needs\n"
     "scope server:exec (admins), a container (--container C, or --app A) container:exec.\n"
     "--timeout 1..900 seconds (default 60). The command's stdout and stderr (berthd\n"
     "keeps 1 MiB of each) print on ours; berth exits with its exit code, or 1 when it\n"
     "has none (timed out, could not start: the reason is printed). Under --json the\n"
     "document is berthd's answer {exit_code, stdout, stderr, truncated, timed_out,\n"
     "reason, duration_ms}, with the same exit status.\n",
     cmd_exec},
    {"script", "list", "", 0, 0, ORGO, "list saved scripts (name, size)", NULL,
     cmd_script_list},
    {"script", "show", "SCRIPT", 1, 1, ORGO, "print a script (SCRIPT: id or name)", NULL,
     cmd_script_show},
    {"script", "create", "NAME", 1, 1, ORGO | OPTB(OPT_FILE) | MUT,
     "save a shell script (body from --file F, or stdin)",
     "The body (up to 256 KiB) comes from --file FILE (- is stdin) or, without --file,\n"
     "from stdin when it is not a terminal.\n",
     cmd_script_create},
    {"script", "update", "SCRIPT", 1, 1, ORGO | OPTB(OPT_FILE) | OPTB(OPT_NAME) | MUT,
     "change a script's body (--file F, - for stdin) and/or name (--name N)", NULL,
     cmd_script_update},
    {"script", "delete", "SCRIPT", 1, 1, ORGO | MUT, "delete a script; asks first", NULL,
     cmd_script_delete},
    {"script", "run", "SCRIPT", 1, 1,
     ORGO | OPTB(OPT_SERVER) | OPTB(OPT_FOLLOW) | OPTB(OPT_TIMEOUT) | MUT,
     "run a script on an ACTIVE server; prints the job id",
     "--server is required (id or name); the server must be ACTIVE (exit 5 otherwise).\n"
     "With --follow the job's output streams live (its stdout on stdout, its stderr and\n"
     "system messages on stderr) until the job ends, and berth exits with the script's\n"
     "status: 0 when the job SUCCEEDED, else the script's exit code capped to 1..125 (1\n"
     "when it has none, e.g. a timeout). Under --json --follow nothing streams: the one\n"
     "document is the finished job with its \"stdout\" and \"stderr\" text.\n",
     cmd_script_run},
    {"schedule", "list", "", 0, 0, ORGO, "list scheduled operations: what, when, next run",
     NULL, cmd_schedule_list},
    {"schedule", "show", "ID", 1, 1, ORGO, "one schedule with its next 5 fire times (UTC)", NULL,
     cmd_schedule_show},
    {"schedule", "create", "", 0, 0,
     ORGO | OPTB(OPT_SCRIPT) | OPTB(OPT_SERVER) | OPTB(OPT_APP) | OPTB(OPT_CRON) |
         OPTB(OPT_EVERY) | OPTB(OPT_TZ) | OPTB(OPT_CATCH_UP) | MUT,
     "run a script on a server (--script S --server SV) or redeploy an app (--app A) on a "
     "schedule",
     "When: --cron 'MIN HOUR DOM MON DOW' (ranges 1-5, lists 1,3, steps */15, names jan\n"
     "and mon; @daily, @hourly, ...) in --tz ZONE (an IANA name, default UTC), or --every\n"
     "MINUTES (1-525600). A run whose previous one is still going is skipped, a server\n"
     "that is not ACTIVE is a miss; both are recorded (`berth schedule runs ID`).\n"
     "--catch-up once (default) runs a fire time missed while berthd was down once at\n"
     "start; skip records it as missed. Scopes: schedule:write, and script:run or\n"
     "deploy:write for what it runs.\n",
     cmd_schedule_create},
    {"schedule", "pause", "ID", 1, 1, ORGO | MUT, "pause a schedule (no runs until resumed)",
     NULL, cmd_schedule_pause},
    {"schedule", "resume", "ID", 1, 1, ORGO | MUT,
     "resume a schedule from now (fire times while paused do not run)", NULL,
     cmd_schedule_resume},
    {"schedule", "delete", "ID", 1, 1, ORGO | MUT, "delete a schedule and its history; asks first",
     NULL, cmd_schedule_delete},
    {"schedule", "runs", "ID", 1, 1, ORGO | OPTB(OPT_LIMIT) | OPTB(OPT_CURSOR),
     "a schedule's runs, newest first: started (job/deployment), skipped or missed", NULL,
     cmd_schedule_runs},
    {"job", "show", "ID", 1, 1, ORGO, "a job: status, exit code, error, times", NULL,
     cmd_job_show},
    {"job", "logs", "ID", 1, 1, ORGO | OPTB(OPT_FOLLOW),
     "a job's output (stdout on stdout, stderr on stderr); --follow until it ends",
     "Under --json: {\"job\": ID, \"items\": [{seq, stream, ts, data}]}.\n", cmd_job_logs},
    {NULL, "status", "", 0, 0, ORGO, "fleet summary: berthd reachability and server totals",
     NULL, cmd_status},
    {NULL, "doctor", "", 0, 0, ORGO,
     "check berthd and every server; exit 1 when anything is not ready",
     "Checks: berthd answers /healthz (round trip measured here) and the API; for every\n"
     "server that is not decommissioned: status ACTIVE, runner connected, last precheck\n"
     "passed (each check listed), heartbeat seen within 30 s. Exit 0 when all is ready,\n"
     "1 otherwise (also under --json, where data.ready says the same).\n",
     cmd_doctor},
    {"app", "create", "NAME", 1, 1, ORGO | OPTS_APP_FIELDS | MUT,
     "create an application (a git repository built and run on a server)",
     "NAME: 1-63 of a-z 0-9 '-', starting with a letter. Required: --server (id or name),\n"
     "--repo and --port (the port the container listens on). Defaults: --branch main,\n"
     "--dockerfile ./Dockerfile, --context ., --health-path /, --keep-images 5,\n"
     "--drain-seconds 30, no --public-port (no edge proxy), no --memory/--cpus limit.\n"
     "--memory takes 256m, 1g or bytes. Repeat --domain for several host names. A repo URL\n"
     "never carries a password: use a deploy key.\n",
     cmd_app_create},
    {"app", "list", "", 0, 0, ORGO, "list applications: server, branch, current deployment",
     NULL, cmd_app_list},
    {"app", "show", "APP", 1, 1, ORGO, "one application's settings and current deployment",
     "APP is an id or a name.\n", cmd_app_show},
    {"app", "set", "APP", 1, 1, ORGO | OPTS_APP_FIELDS | OPTB(OPT_NAME) | MUT,
     "change an application: only the options given are sent",
     "--name renames; --server moves the app (refused, exit 5, once it has deployments).\n"
     "--domain replaces the whole list. 'none' clears --public-port, --memory, --cpus and\n"
     "--domain; --no-auto-deploy turns auto-deploy off. Changes apply at the next deploy.\n",
     cmd_app_set},
    {"app", "delete", "APP", 1, 1, ORGO | MUT,
     "delete an application with its env and deployment records; asks first",
     "Refused (exit 5) while a deployment runs: cancel it first. The container on the\n"
     "server is not removed.\n",
     cmd_app_delete},
    {"app", "logs", "APP", 1, 1,
     ORGO | OPTB(OPT_FOLLOW) | OPTB(OPT_SINCE) | OPTB(OPT_UNTIL) | OPTB(OPT_TAIL) |
         OPTB(OPT_GREP) | OPTB(OPT_REGEX) | OPTB(OPT_DEPLOYMENT),
     "the app's container output (stdout, stderr), from its server's runner",
     "Every container of the app, older deployments' too, in order: stdout on stdout,\n"
     "stderr on stderr. --since/--until take RFC 3339, epoch seconds or 30m/12h/7d (ago);\n"
     "--tail N the last N lines; --grep TEXT lines holding TEXT; --regex ERE lines matching\n"
     "a POSIX extended regular expression (no back-references; docs/app-logs.md); --deployment ID one\n"
     "deployment's container. -f/--follow keeps printing new lines (Ctrl-C ends it).\n"
     "Under --json: {\"app\", \"items\": [{time, ts, stream, container, deployment, text}]};\n"
     "with -f, one such object a line as they come. A server whose runner is away: exit 1.\n",
     cmd_app_logs},
    {"env", "set", "APP KEY", 2, 3, ORGO | MUT, "set an env value (from stdin, never argv)",
     "KEY: [A-Z_][A-Z0-9_]*. The value comes from BERTH_ENV_VALUE (when not empty), else\n"
     "the terminal (not echoed, one line), else all of stdin less one trailing newline (at\n"
     "most 64 KiB). It is sealed in berthd and never shown again (env list prints names\n"
     "only); it takes effect at the next deployment.\n",
     cmd_env_set},
    {"env", "unset", "APP KEY", 2, 2, ORGO | MUT, "remove an env value; asks first", NULL,
     cmd_env_unset},
    {"env", "list", "APP", 1, 1, ORGO, "list an application's env names (never values)", NULL,
     cmd_env_list},
    {"domain", "add", "APP NAME", 2, 2, ORGO | MUT,
     "serve an application under a host name (app.example.com or *.example.com)",
     "The server's edge routes NAME (Host header) to the app on its shared HTTP port (80\n"
     "unless the runner says otherwise), with no reload. A name is one app's per server:\n"
     "one another app there has is refused (exit 5). Names are lower-cased.\n",
     cmd_domain_add},
    {"domain", "rm", "APP NAME", 2, 2, ORGO | MUT, "stop serving an application under NAME; asks first",
     NULL, cmd_domain_rm},
    {"domain", "list", "APP", 1, 1, ORGO, "list an application's host names", NULL,
     cmd_domain_list},
    {NULL, "deploy", "APP", 1, 1, ORGO | OPTB(OPT_REF) | OPTB(OPT_FOLLOW) | MUT,
     "deploy an application (the branch head, or --ref SHA)",
     "The app's server must be ACTIVE (exit 5 otherwise; exit 4 for an unknown app). The\n"
     "deployment queues behind the app's running one. With --follow its log streams live\n"
     "(steps as \"==> step: status\", build output as it comes) until it ends: exit 0 when\n"
     "it SUCCEEDED, 1 when it FAILED (the failed step, the reason and \"rolled back to\n"
     "deployment N\" are printed) or was CANCELLED. Under --json --follow nothing streams:\n"
     "the one document is the ended deployment with its \"log\" text.\n",
     cmd_deploy},
    {NULL, "deployments", "[APP]", 0, 1, ORGO,
     "list deployments, newest first (every application's without APP)", NULL,
     cmd_deployments},
    {"deployment", "show", "ID", 1, 1, ORGO,
     "a deployment: status, failed step and reason, a failed one's container output, steps",
     NULL,
     cmd_deployment_show},
    {NULL, "logs", "DEPLOYMENT", 1, 1, ORGO | OPTB(OPT_FOLLOW),
     "a deployment's log; --follow until the deployment ends",
     "Under --json: {\"deployment\": ID, \"items\": [{seq, stream, ts, data}]}.\n", cmd_logs},
    {NULL, "cancel", "DEPLOYMENT", 1, 1, ORGO | MUT, "cancel a deployment; asks first",
     "A queued deployment ends CANCELLED at once; a running one is stopped by the runner at\n"
     "the next safe point and rolled back. An ended deployment answers exit 5.\n",
     cmd_cancel},
    {NULL, "rollback", "APP", 1, 1, ORGO | OPTB(OPT_FOLLOW) | MUT,
     "redeploy the previous successful image (no clone, no build)",
     "Exit 5 when there is no earlier successful deployment to go back to. --follow as for\n"
     "berth deploy.\n",
     cmd_rollback},
    {"repo", "add", "PROVIDER URL", 2, 2, ORGO | MUT,
     "register a git repository for push webhooks; prints the hook URL and secret once",
     "PROVIDER: github, gitea, gitlab or generic. URL: the repository in any form git\n"
     "takes (https://, ssh://, git@host:owner/repo). Add a webhook for push events on the\n"
     "git host with the printed URL (this repository's own, /hooks/PROVIDER/ID) and\n"
     "secret (shown only here). Apps of the organization\n"
     "with auto_deploy on the pushed branch deploy the pushed commit (docs/webhooks.md).\n",
     cmd_repo_add},
    {"repo", "list", "", 0, 0, ORGO, "list registered repositories (hook URL, credentials)",
     NULL, cmd_repo_list},
    {"repo", "remove", "ID", 1, 1, ORGO | MUT,
     "remove a repository and its delivery history; asks first", NULL, cmd_repo_remove},
    {"repo", "deliveries", "ID", 1, 1, ORGO | OPTB(OPT_LIMIT),
     "recent webhook deliveries: event, outcome, deployments created, reason",
     "Newest first; --limit 1-200 (default 50).\n", cmd_repo_deliveries},
    {"cert", "list", "", 0, 0, ORGO, "list uploaded TLS certificates (names, expiry, domains)",
     NULL, cmd_cert_list},
    {"cert", "show", "ID|NAME", 1, 1, ORGO,
     "one certificate: subject, issuer, names, validity, fingerprint, domains it serves", NULL,
     cmd_cert_show},
    {"cert", "upload", "", 0, 0, ORGO | OPTB(OPT_NAME) | OPTB(OPT_CERT) | OPTB(OPT_KEY) | MUT,
     "upload a certificate and its private key for the organization's app domains",
     "--name N --cert CHAIN.pem --key KEY.pem (all three required). The chain is the leaf\n"
     "first, then its issuers; the key unencrypted, RSA >= 2048 or EC P-256/P-384. The key\n"
     "is read from the file, sealed by berthd, and never shown again (not by --dry-run\n"
     "either). Each app domain it covers (an equal name, or a one-label wildcard) is\n"
     "served with it on its server (docs/deploy.md#certificates).\n",
     cmd_cert_upload},
    {"cert", "rm", "ID|NAME", 1, 1, ORGO | OPTB(OPT_FORCE) | MUT,
     "remove a certificate; asks first",
     "A certificate that serves domains is kept (exit 5) unless --force: those domains then\n"
     "have no certificate until another one covers them.\n",
     cmd_cert_rm},
    {NULL, "version", "", 0, 0, 0, "print the CLI's version", NULL, cmd_version},
};

#define NCMDS ((int)(sizeof cmds / sizeof cmds[0]))

static void human_version(struct cli *c, json_t *d)
{
    printf("berth %s\n", json_string_value(json_object_get(d, "version")));
}

static int cmd_version(struct cli *c)
{
    out_ok(c, json_pack("{s:s}", "version", CLI_VERSION), human_version);
    return 0;
}

static void cmd_title(const struct cli_cmd *k, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", k->group ? k->group : "", k->group ? " " : "", k->name);
}

static void help_top(FILE *f)
{
    fprintf(f, "usage: berth COMMAND [options]\n\nberth talks to a berthd control plane.\n\n"
               "commands:\n");
    for (int i = 0; i < NCMDS; i++) {
        char t[64];
        cmd_title(&cmds[i], t, sizeof t);
        fprintf(f, "  %-20s %s\n", t, cmds[i].summary);
    }
    fprintf(f, "\ncommon options:\n");
    args_help(f, OPTS_COMMON);
    fprintf(f, "\n`berth COMMAND --help` describes a command.\n"
               "environment: BERTH_URL BERTH_TOKEN BERTH_ORG BERTH_CACERT BERTH_CONFIG\n"
               "             BERTH_EMAIL BERTH_PASSWORD BERTH_INVITE_TOKEN\n"
               "exit codes: 0 ok, 1 other error, 2 usage, 3 auth/permission, 4 not found,\n"
               "            5 conflict. Docs: docs/cli.md\n");
}

static void help_group(FILE *f, const char *group)
{
    fprintf(f, "usage: berth %s SUBCOMMAND [options]\n\nsubcommands:\n", group);
    for (int i = 0; i < NCMDS; i++)
        if (cmds[i].group && strcmp(cmds[i].group, group) == 0)
            fprintf(f, "  %-13s %s\n", cmds[i].name, cmds[i].summary);
}

static void help_cmd(FILE *f, const struct cli_cmd *k)
{
    char t[64];
    cmd_title(k, t, sizeof t);
    fprintf(f, "usage: berth %s%s%s [options]\n\n%s.\n", t, k->args[0] ? " " : "", k->args,
            k->summary);
    if (k->help)
        fprintf(f, "\n%s", k->help);
    if (k->opts) {
        fprintf(f, "\noptions:\n");
        args_help(f, k->opts);
    }
    fprintf(f, "\ncommon options:\n");
    args_help(f, OPTS_COMMON);
}

/* Prints help: plain text, or {"ok":true,"data":{"usage":...}} under --json. */
static int show_help(struct cli *c, FILE *dest, const char *group, const struct cli_cmd *k)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = c->json ? open_memstream(&text, &len) : dest;
    if (!f)
        return cli_fail(c, CLI_EXIT_OTHER, "internal", "out of memory");
    if (k)
        help_cmd(f, k);
    else if (group)
        help_group(f, group);
    else
        help_top(f);
    if (c->json) {
        fclose(f);
        out_ok(c, json_pack("{s:s}", "usage", text), NULL);
        free(text);
    }
    return 0;
}

static int is_group(const char *w)
{
    for (int i = 0; i < NCMDS; i++)
        if (cmds[i].group && strcmp(cmds[i].group, w) == 0)
            return 1;
    return 0;
}

static const struct cli_cmd *find_cmd(const char *group, const char *name)
{
    for (int i = 0; i < NCMDS; i++) {
        const struct cli_cmd *k = &cmds[i];
        if ((group == NULL) != (k->group == NULL))
            continue;
        if ((!group || strcmp(k->group, group) == 0) && strcmp(k->name, name) == 0)
            return k;
    }
    return NULL;
}

/* Resolves the words in argv to a command; 1 when help was shown instead. */
static int resolve(struct cli *c)
{
    struct cli_args *a = &c->a;
    int help = a->set[OPT_HELP] > 0, skip = 0;
    if (a->npos && strcmp(a->pos[0], "help") == 0) {
        help = 1;
        skip = 1;
    }
    if (a->npos <= skip) {
        if (help)
            return show_help(c, stdout, NULL, NULL) < 0 ? -1 : 1;
        help_top(stderr);
        return cli_usage(c, "missing command");
    }
    const char *w = a->pos[skip];
    if (is_group(w)) {
        const char *sub = a->npos > skip + 1 ? a->pos[skip + 1] : NULL;
        c->cmd = sub ? find_cmd(w, sub) : NULL;
        if (!c->cmd && help && !sub)
            return show_help(c, stdout, w, NULL) < 0 ? -1 : 1;
        if (!c->cmd)
            return cli_usage(c, "%s 'berth %s%s%s': see berth %s --help",
                             sub ? "unknown command" : "missing subcommand for", w,
                             sub ? " " : "", sub ? sub : "", w);
        skip += 2;
    } else {
        c->cmd = find_cmd(NULL, w);
        if (!c->cmd)
            return cli_usage(c, "unknown command '%s': see berth --help", w);
        skip += 1;
    }
    if (help)
        return show_help(c, stdout, NULL, c->cmd) < 0 ? -1 : 1;
    c->args = a->pos + skip;
    c->nargs = a->npos - skip;
    return 0;
}

static int check_cmd(struct cli *c)
{
    const struct cli_cmd *k = c->cmd;
    char t[64];
    cmd_title(k, t, sizeof t);
    if (args_check(c, k->opts, t) < 0)
        return -1;
    if (c->nargs < k->min_pos || c->nargs > k->max_pos)
        return cli_usage(c, "usage: berth %s%s%s (see berth %s --help)", t,
                         k->args[0] ? " " : "", k->args, t);
    c->dry_run = c->a.set[OPT_DRY_RUN] > 0;
    c->yes = c->a.set[OPT_YES] > 0;
    c->verbose = c->a.set[OPT_VERBOSE] > 0;
    return 0;
}

int cli_need_token(struct cli *c)
{
    if (c->token && *c->token)
        return 0;
    return cli_fail(c, CLI_EXIT_AUTH, "unauthenticated",
                    "not logged in: run `berth login` (or set BERTH_TOKEN)");
}

int cli_need_org(struct cli *c)
{
    if (c->org && *c->org)
        return 0;
    return cli_usage(c, "no organization: pass --org NAME or run `berth org use NAME`");
}

int cli_org_path(struct cli *c, const char *what, const char *ref, char *out, size_t n)
{
    char org[300], r[400] = "";
    if (cli_need_org(c) < 0)
        return -1;
    if (client_path(c, org, sizeof org, "%s", c->org) < 0)
        return -1;
    if (ref && client_path(c, r, sizeof r, "/%s", ref) < 0)
        return -1;
    int w = snprintf(out, n, "/orgs/%s/%s%s", org, what, r);
    if (w < 0 || (size_t)w >= n)
        return cli_usage(c, "the request path is too long");
    return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            c->json = 1; /* known before parsing, so parse errors are JSON too */
    if (args_parse(c, argc, argv) < 0)
        return -1;
    int r = resolve(c);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (check_cmd(c) < 0)
        return -1;
    if (c->cmd->run != cmd_version && config_load(c) < 0)
        return -1;
    config_resolve(c);
    return c->cmd->run(c);
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    client_global_init();
    int rc = run(&c, argc, argv) < 0 || c.failed ? out_error(&c) : c.exit_code;
    config_release(&c.cfg);
    client_global_release();
    fflush(stdout);
    return rc;
}
