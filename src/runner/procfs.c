/* procfs.c - pure parsers for /proc files and command output (see
 * procfs.h). Files are read whole (they are small) with util_read_file;
 * nothing here keeps state or talks to the loop. */
#include "procfs.h"

#include "util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROCFS_MAX (1024 * 1024)
#define KIB_MAX (INT64_MAX / 1024)

static char *slurp(const char *path)
{
    char *b = NULL;
    size_t len;
    if (util_read_file(path, PROCFS_MAX, &b, &len) < 0)
        return NULL;
    return b;
}

int procfs_cpu(const char *path, struct procfs_cpu *out)
{
    unsigned long long v[10] = {0};
    char *b = slurp(path);
    int rc = -1;
    if (!b)
        return -1;
    int n = sscanf(b, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    if (n < 4)
        goto done;
    /* guest and guest_nice (8, 9) are already counted in user and nice. */
    out->total = 0;
    for (int i = 0; i < n && i < 8; i++)
        out->total += v[i];
    out->idle = v[3] + (n > 4 ? v[4] : 0);
    rc = 0;
done:
    free(b);
    return rc;
}

double procfs_cpu_pct(const struct procfs_cpu *prev, const struct procfs_cpu *now)
{
    if (now->total <= prev->total || now->idle < prev->idle)
        return -1;
    uint64_t dt = now->total - prev->total, di = now->idle - prev->idle;
    if (di > dt)
        di = dt;
    return 100.0 * (double)(dt - di) / (double)dt;
}

/* Finds "key" at the start of a line and parses the number after it. */
static int line_value(const char *text, const char *key, int64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t' || p[kl] == ':')) {
            const char *q = p + kl;
            while (*q == ' ' || *q == '\t' || *q == ':')
                q++;
            char *end;
            long long v = strtoll(q, &end, 10);
            if (end == q)
                return -1;
            *out = (int64_t)v;
            return 0;
        }
    }
    return -1;
}

int procfs_meminfo(const char *path, int64_t *total, int64_t *used)
{
    int64_t t, avail, fr, bu, ca;
    char *b = slurp(path);
    int rc = -1;
    if (!b)
        return -1;
    if (line_value(b, "MemTotal", &t) < 0)
        goto done;
    if (line_value(b, "MemAvailable", &avail) < 0) {
        /* kernels before 3.14: approximate */
        if (line_value(b, "MemFree", &fr) < 0 || line_value(b, "Buffers", &bu) < 0 ||
            line_value(b, "Cached", &ca) < 0)
            goto done;
        if (fr < 0 || bu < 0 || ca < 0 || fr > KIB_MAX - bu || fr + bu > KIB_MAX - ca)
            goto done;
        avail = fr + bu + ca;
    }
    /* sizes in KiB; beyond what bytes in an int64 can hold is not /proc */
    if (t < 0 || t > KIB_MAX || avail < 0 || avail > KIB_MAX)
        goto done;
    *total = t * 1024;
    *used = (t - avail) * 1024;
    if (*used < 0)
        *used = 0;
    rc = 0;
done:
    free(b);
    return rc;
}

int procfs_loadavg(const char *path, double load[3])
{
    char *b = slurp(path);
    int rc = -1;
    if (!b)
        return -1;
    if (sscanf(b, "%lf %lf %lf", &load[0], &load[1], &load[2]) == 3)
        rc = 0;
    free(b);
    return rc;
}

/* /proc/net/{netstat,snmp}: a header line "Prefix: A B C" followed by a
 * value line "Prefix: 1 2 3". Looks up two column names. */
static int header_pair(const char *path, const char *prefix, const char *k1, const char *k2,
                       int64_t *v1, int64_t *v2)
{
    char *b = slurp(path);
    int rc = -1, found = 0;
    size_t pl = strlen(prefix);
    char *save = NULL, *hdr = NULL;
    if (!b)
        return -1;
    for (char *line = strtok_r(b, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, prefix, pl) != 0)
            continue;
        if (!hdr) {
            hdr = line;
            continue;
        }
        /* walk header names and values together */
        char *hs = NULL, *vs = NULL;
        char *h = strtok_r(hdr + pl, " ", &hs);
        char *v = strtok_r(line + pl, " ", &vs);
        while (h && v) {
            if (strcmp(h, k1) == 0) {
                *v1 = strtoll(v, NULL, 10);
                found |= 1;
            } else if (strcmp(h, k2) == 0) {
                *v2 = strtoll(v, NULL, 10);
                found |= 2;
            }
            h = strtok_r(NULL, " ", &hs);
            v = strtok_r(NULL, " ", &vs);
        }
        break;
    }
    if (found == 3)
        rc = 0;
    free(b);
    return rc;
}

int procfs_net_v4(const char *path, int64_t *rx, int64_t *tx)
{
    return header_pair(path, "IpExt:", "InOctets", "OutOctets", rx, tx);
}

int procfs_net_v4_packets(const char *path, int64_t *rx, int64_t *tx)
{
    return header_pair(path, "Ip:", "InReceives", "OutRequests", rx, tx);
}

int procfs_net_v6(const char *path, int64_t *rx, int64_t *tx)
{
    char *b = slurp(path);
    int rc = -1;
    if (!b)
        return -1;
    if (line_value(b, "Ip6InOctets", rx) == 0 && line_value(b, "Ip6OutOctets", tx) == 0)
        rc = 0;
    free(b);
    return rc;
}

/* Value of KEY=... in os-release syntax, unquoted, into out. */
static int osr_value(const char *text, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) != 0 || p[kl] != '=')
            continue;
        const char *v = p + kl + 1;
        const char *e = strchr(v, '\n');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v++;
            n -= 2;
        }
        if (n == 0 || n >= outlen)
            return -1;
        memcpy(out, v, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

int procfs_os_release(const char *path, char *out, size_t outlen)
{
    char *b = slurp(path);
    int rc = -1;
    char name[128], ver[64];
    if (!b)
        return -1;
    if (osr_value(b, "PRETTY_NAME", out, outlen) == 0)
        rc = 0;
    else if (osr_value(b, "NAME", name, sizeof name) == 0) {
        if (osr_value(b, "VERSION_ID", ver, sizeof ver) < 0)
            ver[0] = '\0';
        if (snprintf(out, outlen, "%s%s%s", name, ver[0] ? " " : "", ver) < (int)outlen)
            rc = 0;
    }
    free(b);
    return rc;
}

static int hex_addr(const char *hex, int v6, char *out, size_t outlen)
{
    unsigned char bytes[16];
    size_t words = v6 ? 4 : 1;
    if (strlen(hex) != words * 8)
        return -1;
    for (size_t i = 0; i < words; i++) {
        char w[9];
        memcpy(w, hex + i * 8, 8);
        w[8] = '\0';
        /* the kernel prints each 32-bit word of the network-order address
         * as a host-order integer: copying it back restores the bytes. */
        uint32_t v = (uint32_t)strtoul(w, NULL, 16);
        memcpy(bytes + i * 4, &v, 4);
    }
    return inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, out, (socklen_t)outlen) ? 0 : -1;
}

/* Streams the file a line at a time: on a busy host /proc/net/tcp holds
 * one line per socket (10 000 TIME_WAIT ones are 1.5 MB), and reading it
 * whole both failed past PROCFS_MAX and left the runner's heap that much
 * bigger after each fingerprint. */
int procfs_ports(const char *path, const char *proto, struct procfs_port *ports,
                 size_t max, size_t *n)
{
    FILE *f = fopen(path, "re");
    char line[512];
    int v6 = strchr(proto, '6') != NULL, udp = proto[0] == 'u', first = 1, whole = 1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        int was_whole = whole;
        whole = strchr(line, '\n') != NULL;
        if (!was_whole || first) { /* the rest of a long line; the header */
            first = first && !whole;
            continue;
        }
        char la[40], ra[40], addr[46];
        unsigned lp, rp, st;
        if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x", la, &lp, ra, &rp, &st) != 5 ||
            lp > 65535)
            continue;
        if (udp ? (st != 0x07 || rp != 0) : st != 0x0A)
            continue;
        if (hex_addr(la, v6, addr, sizeof addr) < 0)
            continue;
        int dup = 0;
        for (size_t i = 0; i < *n && !dup; i++)
            dup = ports[i].port == (int)lp && !strcmp(ports[i].proto, proto) &&
                  !strcmp(ports[i].addr, addr);
        if (dup || *n >= max)
            continue;
        util_strlcpy(ports[*n].proto, proto, sizeof ports[*n].proto);
        util_strlcpy(ports[*n].addr, addr, sizeof ports[*n].addr);
        ports[*n].port = (int)lp;
        (*n)++;
    }
    fclose(f);
    return 0;
}

int procfs_version_word(const char *text, char *out, size_t outlen)
{
    char first[256];
    const char *e = strchr(text, '\n');
    size_t n = e ? (size_t)(e - text) : strlen(text);
    if (n >= sizeof first)
        n = sizeof first - 1;
    memcpy(first, text, n);
    first[n] = '\0';
    char *save = NULL;
    char *tok = strtok_r(first, " \t", &save); /* program name */
    if (!tok)
        return -1;
    tok = strtok_r(NULL, " \t", &save);
    if (tok && strcmp(tok, "version") == 0)
        tok = strtok_r(NULL, " \t", &save);
    if (!tok || !(tok[0] >= '0' && tok[0] <= '9'))
        return -1;
    return util_strlcpy(out, tok, outlen);
}

int procfs_iptables_summary(const char *text, char *out, size_t outlen)
{
    int rules = 0, chains = 0, len;
    char pol[256] = "";
    size_t pl = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, "-A ", 3) == 0)
            rules++;
        else if (strncmp(p, "-N ", 3) == 0)
            chains++;
        else if (strncmp(p, "-P ", 3) == 0) {
            char chain[32], target[32];
            if (sscanf(p, "-P %31s %31s", chain, target) == 2) {
                chains++;
                int w = snprintf(pol + pl, sizeof pol - pl, "%s%s %s", pl ? ", " : "", chain, target);
                if (w > 0 && (size_t)w < sizeof pol - pl)
                    pl += (size_t)w;
            }
        }
    }
    if (chains == 0 && rules == 0)
        return -1;
    len = snprintf(out, outlen, "iptables: %d chains, %d rules%s%s", chains, rules,
                   pl ? "; policies " : "", pol);
    return len > 0 && (size_t)len < outlen ? 0 : -1;
}

int procfs_nft_summary(const char *text, char *out, size_t outlen)
{
    int tables = 0, chains = 0, rules = 0, depth = 0, in_chain = 0, len;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || *p == '#')
            continue;
        if (strncmp(p, "table ", 6) == 0)
            tables++;
        else if (strncmp(p, "chain ", 6) == 0) {
            chains++;
            in_chain = depth + 1;
        } else if (in_chain && depth == in_chain && *p != '}' && strncmp(p, "type ", 5) != 0 &&
                   strncmp(p, "policy ", 7) != 0 && strncmp(p, "comment ", 8) != 0)
            rules++;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '{')
                depth++;
            else if (p[i] == '}') {
                if (in_chain && depth == in_chain)
                    in_chain = 0;
                depth--;
            }
        }
    }
    if (tables == 0)
        return -1;
    len = snprintf(out, outlen, "nftables: %d tables, %d chains, %d rules", tables, chains, rules);
    return len > 0 && (size_t)len < outlen ? 0 : -1;
}

int procfs_docker_version(const char *resp, size_t len, char *out, size_t outlen)
{
    const char *body = NULL;
    int rc = -1;
    json_t *v = NULL;
    if (len < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || strncmp(resp + 8, " 200", 4) != 0)
        return -1;
    for (size_t i = 0; i + 3 < len; i++)
        if (memcmp(resp + i, "\r\n\r\n", 4) == 0) {
            body = resp + i + 4;
            break;
        }
    if (!body)
        return -1;
    v = json_loadb(body, len - (size_t)(body - resp), 0, NULL);
    const char *ver = json_string_value(json_object_get(v, "Version"));
    const char *api = json_string_value(json_object_get(v, "ApiVersion"));
    if (!ver)
        goto done;
    int w = api ? snprintf(out, outlen, "%s (API %s)", ver, api) : snprintf(out, outlen, "%s", ver);
    if (w > 0 && (size_t)w < outlen)
        rc = 0;
done:
    json_decref(v);
    return rc;
}
