/* metrics.c - heartbeat metrics: CPU % from /proc/stat deltas between
 * heartbeats, memory from /proc/meminfo, disk via statvfs of the state
 * directory, IPv4 bytes from /proc/net/netstat (IpExt), IPv6 bytes from
 * /proc/net/snmp6, load from /proc/loadavg. Keeps one CPU sample. */
#include "runner.h"

#include "applogs.h"
#include "procfs.h"

#include <string.h>
#include <sys/statvfs.h>

#include "util.h"

static struct procfs_cpu last_cpu;
static int have_cpu;
static uint64_t last_cpu_us;
static double last_pct = -1;

void metrics_init(struct runner *r)
{
    have_cpu = procfs_cpu("/proc/stat", &last_cpu) == 0;
    last_cpu_us = util_mono_us();
}

/* CPU busy % since the previous sample at least 1 s ago (a shorter
 * window is noise: the first heartbeat follows start by milliseconds). */
static double cpu_pct(void)
{
    struct procfs_cpu now;
    uint64_t t = util_mono_us();
    if (have_cpu && t - last_cpu_us < 1000000u)
        return last_pct;
    if (procfs_cpu("/proc/stat", &now) < 0)
        return -1;
    if (have_cpu)
        last_pct = procfs_cpu_pct(&last_cpu, &now);
    last_cpu = now;
    last_cpu_us = t;
    have_cpu = 1;
    return last_pct;
}

json_t *metrics_heartbeat(struct runner *r)
{
    struct proto_metrics m;
    struct statvfs sv;
    double load[3] = {0, 0, 0};

    memset(&m, 0, sizeof m);
    m.cpu_pct = cpu_pct();
    if (procfs_meminfo("/proc/meminfo", &m.mem_total, &m.mem_used) < 0)
        m.mem_total = m.mem_used = 0;
    if (statvfs(r->state_dir, &sv) == 0) {
        m.disk_total = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        m.disk_used = (int64_t)(sv.f_blocks - sv.f_bfree) * (int64_t)sv.f_frsize;
    }
    if (procfs_loadavg("/proc/loadavg", load) == 0) {
        m.load1 = load[0];
        m.load5 = load[1];
        m.load15 = load[2];
    }
    if (procfs_net_v4("/proc/net/netstat", &m.net.rx_v4, &m.net.tx_v4) < 0)
        m.net.rx_v4 = m.net.tx_v4 = -1;
    if (procfs_net_v6("/proc/net/snmp6", &m.net.rx_v6, &m.net.tx_v6) < 0)
        m.net.rx_v6 = m.net.tx_v6 = -1;  /* IPv6 disabled */
    m.logs_bytes = applogs_disk_bytes();
    return proto_heartbeat(&m);
}
