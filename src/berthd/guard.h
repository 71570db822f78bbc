/* guard.h - who may call a route: bearer-token authentication and the
 * organization/scope check, run by http.c before every handler. */
#ifndef BERTHD_GUARD_H
#define BERTHD_GUARD_H

#include "http.h"

/* Authenticates and authorises r for r->route. On refusal answers (401,
 * 403 or 404) and returns -1. Fills r->who on success. */
int guard_check(struct req *r);

/* Authentication alone: 0, or -1 after answering 401. */
int guard_authenticate(struct req *r);

#endif
