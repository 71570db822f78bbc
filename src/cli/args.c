/* args.c - the CLI's option table and command-line splitting.
 *
 * Every option has one meaning and one arity across all commands, so argv
 * can be split into options and positionals before the command is known;
 * each command then says which options it accepts (args_check). There is
 * deliberately no option that carries a password or a token: secrets in
 * argv show up in `ps` and shell history. */
#include "cli.h"
#include "util.h"

#include <string.h>

struct opt_spec {
    const char *name;
    int takes_value;
    const char *meta;
    const char *help;
};

static const struct opt_spec specs[OPT_COUNT] = {
    [OPT_HELP] = {"help", 0, NULL, "show help for the command"},
    [OPT_JSON] = {"json", 0, NULL, "print one JSON document {\"ok\":...} on stdout"},
    [OPT_URL] = {"url", 1, "URL", "berthd base URL (overrides BERTH_URL and the config)"},
    [OPT_CACERT] = {"cacert", 1, "FILE", "CA certificate(s) to verify an https berthd"},
    [OPT_VERBOSE] = {"verbose", 0, NULL, "log each request (method, URL, status) on stderr"},
    [OPT_YES] = {"yes", 0, NULL, "do not ask for confirmation"},
    [OPT_DRY_RUN] = {"dry-run", 0, NULL, "print the request that would be sent; send nothing"},
    [OPT_ORG] = {"org", 1, "ORG", "organization (overrides the current one)"},
    [OPT_EMAIL] = {"email", 1, "EMAIL", "account email"},
    [OPT_ROLE] = {"role", 1, "ROLE", "admin, manager, developer or viewer"},
    [OPT_NAME] = {"name", 1, "NAME", "a name (token create; script update: the new name)"},
    [OPT_SCOPE] = {"scope", 1, "SCOPE", "a scope to grant (repeat for several)"},
    [OPT_EXPIRES_IN] = {"expires-in", 1, "SECONDS",
                        "lifetime in seconds (tokens 60..31622400, registration 1..604800)"},
    [OPT_ACTOR] = {"actor", 1, "EMAIL|ID", "only entries by this actor"},
    [OPT_ACTION] = {"action", 1, "ACTION", "only this action (a trailing * matches a prefix)"},
    [OPT_SINCE] = {"since", 1, "TIME", "from TIME (RFC 3339, epoch seconds, or 30m/12h/7d ago)"},
    [OPT_UNTIL] = {"until", 1, "TIME", "up to TIME (same forms as --since)"},
    [OPT_LIMIT] = {"limit", 1, "N", "entries per page (1-500, default 50)"},
    [OPT_CURSOR] = {"cursor", 1, "CURSOR", "continue from a previous page's next_cursor"},
    [OPT_ALL] = {"all", 0, NULL, "follow every page"},
    [OPT_FILE] = {"file", 1, "FILE", "read the script body from FILE (- is stdin)"},
    [OPT_SERVER] = {"server", 1, "SERVER", "the server (id or name) to run on"},
    [OPT_FOLLOW] = {"follow", 0, NULL, "stream the job's output live until it ends"},
    [OPT_TIMEOUT] = {"timeout", 1, "SECONDS",
                     "time limit (script run: 1..86400, default 3600; exec: 1..900, 60)"},
    [OPT_REPO] = {"repo", 1, "URL", "git repository (https://, ssh://, git://, user@host:path)"},
    [OPT_BRANCH] = {"branch", 1, "BRANCH", "git branch to deploy (default main)"},
    [OPT_DOCKERFILE] = {"dockerfile", 1, "PATH",
                        "Dockerfile in the repository (default ./Dockerfile)"},
    [OPT_CONTEXT] = {"context", 1, "DIR", "build context in the repository (default .)"},
    [OPT_PORT] = {"port", 1, "N", "the port the container listens on (1-65535)"},
    [OPT_HEALTH_PATH] = {"health-path", 1, "PATH", "HTTP path of the health check (default /)"},
    [OPT_PUBLIC_PORT] = {"public-port", 1, "N|none", "edge proxy port on the server (1-65535)"},
    [OPT_DOMAIN] = {"domain", 1, "HOST", "a domain name (repeat for several; none clears)"},
    [OPT_AUTO_DEPLOY] = {"auto-deploy", 0, NULL, "deploy on git pushes (webhooks)"},
    [OPT_NO_AUTO_DEPLOY] = {"no-auto-deploy", 0, NULL, "turn auto-deploy off"},
    [OPT_HTTPS_REDIRECT] = {"https-redirect", 0, NULL, "HTTP redirects to HTTPS once a name has a certificate (default)"},
    [OPT_NO_HTTPS_REDIRECT] = {"no-https-redirect", 0, NULL, "keep serving plain HTTP too"},
    [OPT_HSTS] = {"hsts", 0, NULL, "send Strict-Transport-Security over HTTPS"},
    [OPT_NO_HSTS] = {"no-hsts", 0, NULL, "do not send Strict-Transport-Security (default)"},
    [OPT_MEMORY] = {"memory", 1, "SIZE|none", "memory limit: 256m, 1g, bytes (6 MiB-1 TiB)"},
    [OPT_CPUS] = {"cpus", 1, "N|none", "CPU limit, e.g. 0.5 (0.01-1024)"},
    [OPT_KEEP_IMAGES] = {"keep-images", 1, "N", "images kept per app (1-100, default 5)"},
    [OPT_DRAIN_SECONDS] = {"drain-seconds", 1, "N", "seconds the old container may drain (0-3600)"},
    [OPT_REF] = {"ref", 1, "SHA", "the commit to deploy (4-64 hex digits; default: branch head)"},
    [OPT_CONTAINER] = {"container", 1, "NAME", "in this container (name or id) on the server"},
    [OPT_APP] = {"app", 1, "APP", "in the container that serves this app now (schedule: the "
                                  "app to redeploy)"},
    [OPT_SCRIPT] = {"script", 1, "SCRIPT", "the saved script (id or name) to run"},
    [OPT_CRON] = {"cron", 1, "EXPR", "cron expression 'MIN HOUR DOM MON DOW' (quote it)"},
    [OPT_EVERY] = {"every", 1, "MINUTES", "every N minutes (1-525600) instead of --cron"},
    [OPT_TZ] = {"tz", 1, "ZONE", "the cron's time zone: an IANA name (default UTC)"},
    [OPT_CATCH_UP] = {"catch-up", 1, "once|skip",
                      "fire times missed while berthd was down: run once (default) or skip"},
    [OPT_TAIL] = {"tail", 1, "N", "only the last N lines (0-100000)"},
    [OPT_GREP] = {"grep", 1, "TEXT", "only lines holding TEXT (case-sensitive)"},
    [OPT_REGEX] = {"regex", 1, "ERE", "only lines matching this POSIX extended regular expression"},
    [OPT_DEPLOYMENT] = {"deployment", 1, "ID", "only lines of this deployment's container"},
    [OPT_CERT] = {"cert", 1, "FILE", "the certificate chain, PEM, leaf first"},
    [OPT_KEY] = {"key", 1, "FILE", "the private key, PEM, unencrypted (read from the file only)"},
    [OPT_FORCE] = {"force", 0, NULL, "remove it even while it serves domains"},
};

const char *args_opt_name(enum cli_opt o) { return specs[o].name; }

static int find_opt(const char *name, size_t len)
{
    for (int i = 0; i < OPT_COUNT; i++)
        if (strlen(specs[i].name) == len && strncmp(specs[i].name, name, len) == 0)
            return i;
    return -1;
}

static int refuse_secret(struct cli *c, const char *name, size_t len)
{
    static const char *const secrets[] = {"password", "token", "invite-token", "secret", NULL};
    for (int i = 0; secrets[i]; i++)
        if (strlen(secrets[i]) == len && strncmp(secrets[i], name, len) == 0)
            return cli_usage(c, "--%s: berth never takes secrets as arguments (they would "
                             "show in ps and shell history); use stdin or the environment "
                             "(BERTH_PASSWORD, BERTH_TOKEN, BERTH_INVITE_TOKEN)", secrets[i]);
    return cli_usage(c, "unknown option --%.*s (see berth --help)", (int)len, name);
}

static int take_option(struct cli *c, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int o = find_opt(arg, len);
    if (o < 0)
        return refuse_secret(c, arg, len);
    const char *v = NULL;
    if (specs[o].takes_value) {
        if (eq)
            v = eq + 1;
        else if (*i + 1 < argc)
            v = argv[++*i];
        else
            return cli_usage(c, "--%s needs a value (%s)", specs[o].name, specs[o].meta);
    } else if (eq) {
        return cli_usage(c, "--%s takes no value", specs[o].name);
    }
    if (o == OPT_SCOPE) {
        if (c->a.nscopes >= CLI_MULTI_MAX)
            return cli_usage(c, "too many --scope options");
        c->a.scopes[c->a.nscopes++] = v;
    }
    if (o == OPT_DOMAIN) {
        if (c->a.ndomains >= CLI_MULTI_MAX)
            return cli_usage(c, "too many --domain options (at most %d)", CLI_MULTI_MAX);
        c->a.domains[c->a.ndomains++] = v;
    }
    c->a.val[o] = v;
    c->a.set[o]++;
    return 0;
}

int args_parse(struct cli *c, int argc, char **argv)
{
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && strncmp(a, "--", 2) == 0) {
            if (take_option(c, argc, argv, &i) < 0)
                return -1;
        } else if (!only_pos && (strcmp(a, "-h") == 0 || strcmp(a, "-v") == 0)) {
            c->a.set[a[1] == 'h' ? OPT_HELP : OPT_VERBOSE]++;
        } else if (!only_pos && strcmp(a, "-f") == 0) {
            c->a.set[OPT_FOLLOW]++; /* as in tail -f, docker logs -f */
        } else if (!only_pos && a[0] == '-' && a[1]) {
            return cli_usage(c, "unknown option %s (options are spelled --name)", a);
        } else {
            if (c->a.npos >= CLI_POS_MAX)
                return cli_usage(c, "too many arguments");
            c->a.pos[c->a.npos++] = a;
        }
    }
    return 0;
}

int args_check(struct cli *c, cli_optmask mask, const char *cmdname)
{
    mask |= OPTS_COMMON;
    for (int o = 0; o < OPT_COUNT; o++) {
        if (c->a.set[o] && !(mask & OPTB(o)))
            return cli_usage(c, "'%s' does not take --%s", cmdname, specs[o].name);
        if (c->a.set[o] > 1 && o != OPT_SCOPE && o != OPT_DOMAIN && specs[o].takes_value)
            return cli_usage(c, "--%s given more than once", specs[o].name);
    }
    return 0;
}

void args_help(FILE *f, cli_optmask mask)
{
    for (int o = 0; o < OPT_COUNT; o++) {
        if (!(mask & OPTB(o)))
            continue;
        char lhs[48];
        snprintf(lhs, sizeof lhs, "--%s%s%s", specs[o].name, specs[o].meta ? " " : "",
                 specs[o].meta ? specs[o].meta : "");
        fprintf(f, "  %-24s %s\n", lhs, specs[o].help);
    }
}

const char *args_time(const char *v, char *out, size_t n)
{
    size_t l = strlen(v);
    char num[24];
    int64_t k;
    static const char units[] = "smhd";
    static const int64_t mult[] = {1, 60, 3600, 86400};
    const char *u = l > 1 ? strchr(units, v[l - 1]) : NULL;
    if (!u || l - 1 >= sizeof num)
        return v;
    memcpy(num, v, l - 1);
    num[l - 1] = '\0';
    if (util_parse_i64(num, &k) < 0 || k < 0)
        return v;
    snprintf(out, n, "%lld", (long long)(util_now() - k * mult[u - units]));
    return out;
}
