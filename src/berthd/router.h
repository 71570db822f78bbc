/* router.h - the route table's shape and path matching.
 *
 * Every API route is one row in routes.c: method, pattern with {params},
 * who may call it and the scope it needs. The same table drives dispatch,
 * `berthd routes` (which the role x route test matrix reads) and docs. */
#ifndef BERTHD_ROUTER_H
#define BERTHD_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct req;

#define REQ_MAX_PARAMS 4 /* {params} in one route pattern */

/* A request's method as berthd routes it. */
enum http_method { HM_GET = 0, HM_POST, HM_PUT, HM_PATCH, HM_DELETE, HM_HEAD, HM_OPTIONS, HM_OTHER };
/* "GET", "POST", ... ("OTHER" for what berthd does not serve). */
const char *router_method_name(enum http_method m);

enum route_auth {
    AUTH_PUBLIC,   /* no token needed */
    AUTH_USER,     /* any valid token; scope (if any): in the token and a held role */
    AUTH_ORG,      /* {org} must be an organization the caller belongs to */
};

struct route {
    enum http_method method;
    const char *pattern;
    enum route_auth auth;
    uint32_t scope;          /* 0: none beyond the auth kind */
    const char *action;      /* audit action name */
    void (*fn)(struct req *r);
};

extern const struct route routes[];
extern const int routes_count;

/* What router_match says when it finds no route. */
enum { ROUTER_NO_PATH = 0, ROUTER_OTHER_METHOD = 1, ROUTER_BAD_PARAM = 2 };

/* Finds the route for method + path (lws' decoded path). Returns the route,
 * or NULL and sets *path_matched: ROUTER_OTHER_METHOD when the path exists
 * under another method (405), ROUTER_BAD_PARAM when a pattern matched but
 * a parameter breaks its kind's grammar (400), else ROUTER_NO_PATH (404). */
const struct route *router_match(enum http_method m, const char *path,
                                 char params[][128], int *nparams, int *path_matched);

/* 1 when v is a valid value of the parameter kind ("org", "app", "id",
 * "user", "key"; kind_len bytes): never empty, ".", "..", a NUL, a control
 * character or a byte outside the kind's alphabet. */
int router_param_ok(const char *kind, size_t kind_len, const char *v);

#endif
