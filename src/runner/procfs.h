/* procfs.h - pure parsers for the /proc files and command output the
 * runner reports. Each takes a path (so tests point it at fixtures in
 * tests/unit/fixtures/) or a text, and returns 0 or -1. No globals. */
#ifndef BERTH_RUNNER_PROCFS_H
#define BERTH_RUNNER_PROCFS_H

#include <stddef.h>
#include <stdint.h>

struct procfs_cpu {
    uint64_t total, idle;              /* jiffies since boot, all CPUs */
};

/* /proc/stat: the aggregate "cpu" line (idle includes iowait). */
int procfs_cpu(const char *path, struct procfs_cpu *out);
/* Busy share between two samples in percent, -1 if no time passed. */
double procfs_cpu_pct(const struct procfs_cpu *prev, const struct procfs_cpu *now);
/* /proc/meminfo: MemTotal and MemTotal - MemAvailable, in bytes. */
int procfs_meminfo(const char *path, int64_t *total, int64_t *used);
/* /proc/loadavg. */
int procfs_loadavg(const char *path, double load[3]);
/* /proc/net/netstat "IpExt:" InOctets/OutOctets (IPv4 bytes). */
int procfs_net_v4(const char *path, int64_t *rx, int64_t *tx);
/* /proc/net/snmp6 Ip6InOctets/Ip6OutOctets (IPv6 bytes). */
int procfs_net_v6(const char *path, int64_t *rx, int64_t *tx);
/* /proc/net/snmp "Ip:" InReceives/OutRequests (IPv4 packets), the
 * fallback when netstat lacks IpExt octets. */
int procfs_net_v4_packets(const char *path, int64_t *rx, int64_t *tx);

/* /etc/os-release PRETTY_NAME (else NAME VERSION_ID). */
int procfs_os_release(const char *path, char *out, size_t outlen);

struct procfs_port {
    char proto[5];                     /* tcp, tcp6, udp, udp6 */
    char addr[46];
    int port;
};
/* /proc/net/{tcp,tcp6,udp,udp6}: appends listening sockets (TCP LISTEN,
 * UDP unconnected) not yet in ports[0..*n), up to max. proto names the
 * file's kind ("tcp", "tcp6", "udp", "udp6"). */
int procfs_ports(const char *path, const char *proto, struct procfs_port *ports,
                 size_t max, size_t *n);

/* "git version 2.39.2" -> "2.39.2"; "curl 7.88.1 (x86...)" -> "7.88.1":
 * the first token after the program name (and an optional "version")
 * on the first line. */
int procfs_version_word(const char *text, char *out, size_t outlen);

/* Summaries: "iptables: 3 chains, 12 rules; INPUT DROP, FORWARD DROP,
 * OUTPUT ACCEPT" and "nftables: 2 tables, 5 chains, 17 rules". */
int procfs_iptables_summary(const char *text, char *out, size_t outlen);
int procfs_nft_summary(const char *text, char *out, size_t outlen);

/* Docker Engine API answer to GET /version (HTTP/1.0, whole response):
 * "Version" (and "ApiVersion") -> "20.10.24 (API 1.41)". */
int procfs_docker_version(const char *resp, size_t len, char *out, size_t outlen);

#endif
