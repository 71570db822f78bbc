/* applogs.h - an app's container logs through its server's runner
 * (applogs.c, docs/app-logs.md). */
#ifndef BERTHD_APPLOGS_H
#define BERTHD_APPLOGS_H

#include <stdint.h>

#include "berthd.h"

struct hub;
struct req;

/* Registers the logs.data / logs.end handlers and the link hook. */
int applogs_start(struct srv *s, struct hub *h);
/* berthd stops: every pending read is ended (503, or a last line). */
void applogs_stop(void);
/* GET /orgs/{org}/apps/{app}/logs (deploy:read). */
void api_app_logs(struct req *r);
/* since/until: RFC 3339, unix seconds, or a duration before now_ns
 * ("15m"); 0 and *out in unix ns, or -1. */
int applogs_parse_time(const char *v, int64_t now_ns, int64_t *out);

#endif
