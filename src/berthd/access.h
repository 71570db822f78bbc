/* access.h - scopes, roles, and who is calling.
 *
 * A scope set is a bitmask. Roles map to fixed scope sets; an API token
 * carries a subset of its creator's scopes. On an organization's route the
 * effective scopes are (role's scopes in that org) & (token's scopes), so
 * demoting a member immediately narrows every token they hold.
 */
#ifndef BERTHD_ACCESS_H
#define BERTHD_ACCESS_H

#include <stddef.h>
#include <stdint.h>

enum scope {
    SC_SERVER_READ = 1u << 0,
    SC_SERVER_WRITE = 1u << 1,
    SC_APP_READ = 1u << 2,
    SC_APP_WRITE = 1u << 3,
    SC_DEPLOY_READ = 1u << 4,
    SC_DEPLOY_WRITE = 1u << 5,
    SC_ENV_WRITE = 1u << 6,
    SC_SCRIPT_RUN = 1u << 7,
    SC_TERMINAL_OPEN = 1u << 8,
    SC_TOKEN_WRITE = 1u << 9,
    SC_USER_WRITE = 1u << 10,
    SC_ORG_WRITE = 1u << 11,
    SC_AUDIT_READ = 1u << 12,
    SC_CONTAINER_EXEC = 1u << 13, /* a shell or an exec in a container */
    SC_SERVER_EXEC = 1u << 14,    /* a command on a server's host (POST .../exec) */
    SC_SCHEDULE_READ = 1u << 15,  /* scheduled operations and their runs */
    SC_SCHEDULE_WRITE = 1u << 16, /* create, pause, resume, delete them */
};
#define SC_ALL ((1u << 17) - 1)
#define SC_COUNT 17
/* Exceptional: a host shell or command is root on the host. Admins hold
 * them; an API token has them only when named ("*" leaves them out). */
#define SC_EXCEPTIONAL (SC_TERMINAL_OPEN | SC_SERVER_EXEC)

enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_DEVELOPER, ROLE_MANAGER, ROLE_ADMIN };

const char *access_scope_name(uint32_t single);
/* Single scope by name; 0 if unknown. */
uint32_t access_scope_parse(const char *name);
/* Space-separated list <-> mask ("*" is every scope). Parse returns -1 on
 * an unknown name. */
int access_scopes_parse(const char *list, uint32_t *mask);
void access_scopes_format(uint32_t mask, char *out, size_t outlen);

const char *access_role_name(enum role r);
enum role access_role_parse(const char *name);
uint32_t access_role_scopes(enum role r);

/* Who is calling: resolved from the bearer token on each request. */
struct principal {
    int64_t user_id;
    char email[256];
    int64_t token_id;
    char token_kind[16];      /* "session" or "api" */
    uint32_t token_scopes;    /* the token's own scopes */
    int64_t token_org_id;     /* 0: any organization */
    int64_t token_expires_at; /* a token it mints expires no later */
    /* Filled on organization routes: */
    int64_t org_id;
    enum role role;
    uint32_t scopes;          /* effective: role & token */
};

#endif
