/* access.c - the scope and role tables. The role -> scope mapping here is
 * the one documented in docs/access.md; keep them in step. */
#include "access.h"

#include <stdio.h>
#include <string.h>

static const char *scope_names[SC_COUNT] = {
    "server:read", "server:write", "app:read", "app:write", "deploy:read",
    "deploy:write", "env:write", "script:run", "terminal:open", "token:write",
    "user:write", "org:write", "audit:read", "container:exec", "server:exec",
    "schedule:read", "schedule:write",
};

const char *access_scope_name(uint32_t single)
{
    for (int i = 0; i < SC_COUNT; i++)
        if (single == (1u << i))
            return scope_names[i];
    return "?";
}

uint32_t access_scope_parse(const char *name)
{
    for (int i = 0; i < SC_COUNT; i++)
        if (strcmp(name, scope_names[i]) == 0)
            return 1u << i;
    return 0;
}

int access_scopes_parse(const char *list, uint32_t *mask)
{
    uint32_t m = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        char name[32];
        size_t l = (size_t)(e - p);
        if (l >= sizeof name)
            return -1;
        memcpy(name, p, l);
        name[l] = '\0';
        uint32_t s = strcmp(name, "*") == 0 ? SC_ALL & ~SC_EXCEPTIONAL
                                            : access_scope_parse(name);
        if (!s)
            return -1;
        m |= s;
        p = e;
    }
    *mask = m;
    return 0;
}

void access_scopes_format(uint32_t mask, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < SC_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        int w = snprintf(out + n, outlen - n, "%s%s", n ? " " : "", scope_names[i]);
        if (w < 0 || (size_t)w >= outlen - n)
            return;
        n += (size_t)w;
    }
}

static const char *role_names[] = {"none", "viewer", "developer", "manager", "admin"};

const char *access_role_name(enum role r)
{
    return (r >= ROLE_NONE && r <= ROLE_ADMIN) ? role_names[r] : "none";
}

enum role access_role_parse(const char *name)
{
    for (int i = ROLE_VIEWER; i <= ROLE_ADMIN; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (enum role)i;
    return ROLE_NONE;
}

uint32_t access_role_scopes(enum role r)
{
    const uint32_t viewer =
        SC_SERVER_READ | SC_APP_READ | SC_DEPLOY_READ | SC_TOKEN_WRITE | SC_SCHEDULE_READ;
    /* schedule:write with script:run and deploy:write: a schedule only
     * does, later and again, what its creator may do now */
    const uint32_t developer = viewer | SC_APP_WRITE | SC_DEPLOY_WRITE | SC_ENV_WRITE |
                               SC_SCRIPT_RUN | SC_CONTAINER_EXEC | SC_SCHEDULE_WRITE;
    const uint32_t manager = developer | SC_SERVER_WRITE | SC_AUDIT_READ;
    switch (r) {
    case ROLE_VIEWER: return viewer;
    case ROLE_DEVELOPER: return developer;
    case ROLE_MANAGER: return manager;
    case ROLE_ADMIN: return SC_ALL;
    default: return 0;
    }
}
