/* edge_parse.c - HAProxy runtime API answers (see edge_parse.h). */
#include "edge_parse.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int edge_parse_stat_sessions(const char *text, const char *srv)
{
    int scur_col = -1, qcur_col = -1, col = 0;
    const char *l = text;
    if (strncmp(l, "# ", 2))
        return -1;
    for (const char *p = l + 2; *p && *p != '\n'; col++) {
        size_t n = strcspn(p, ",\n");
        if (n == 4 && !strncmp(p, "scur", 4))
            scur_col = col;
        if (n == 4 && !strncmp(p, "qcur", 4))
            qcur_col = col;
        p += n;
        if (*p == ',')
            p++;
    }
    if (scur_col < 0 || qcur_col < 0)
        return -1;
    for (l = strchr(l, '\n'); l; l = strchr(l, '\n')) {
        const char *p = ++l, *name;
        size_t n = strcspn(p, ",\n");
        if (!*p)
            break;
        p += n + (p[n] == ',');
        name = p;
        n = strcspn(p, ",\n");
        if (n != strlen(srv) || strncmp(name, srv, n))
            continue;
        int sum = 0;
        col = 1;
        while (*p && *p != '\n') {
            n = strcspn(p, ",\n");
            if (col == scur_col || col == qcur_col) {
                /* a count: digits only; huge ones saturate, never wrap */
                if (n == 0 || strspn(p, "0123456789") < n)
                    return -1;
                long long v = strtoll(p, NULL, 10);
                sum = v > INT_MAX - sum ? INT_MAX : sum + (int)v;
            }
            p += n + (p[n] == ',');
            col++;
        }
        return sum;
    }
    return -1;
}

int edge_parse_master_line(const char *text, int *reloads, int *failed)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long pid;
        char type[16];
        if (sscanf(l, "%ld %15s %d [failed: %d]", &pid, type, reloads, failed) == 4 && !strcmp(type, "master"))
            return 0;
    }
    return -1;
}
