/* fuzz_procfs.c - what berth-runner reads from its host and reports in
 * heartbeats and fingerprints (src/runner/procfs.c): every /proc and
 * /etc/os-release parser on the same bytes (through a memfd, as they take
 * a path), and the command-output parsers (git/curl --version, iptables
 * -S, nft list ruleset, Docker's /version answer). */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procfs.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fd = memfd_create("fuzz_procfs", 0);
    assert(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

static void files(const uint8_t *data, size_t size)
{
    struct procfs_cpu cpu, cpu2 = {0, 0};
    int64_t a, b;
    double load[3];
    char out[256];
    struct procfs_port ports[8];
    size_t n = 0;
    assert(ftruncate(fd, 0) == 0);
    assert(pwrite(fd, data, size, 0) == (ssize_t)size);
    if (procfs_cpu(path, &cpu) == 0) {
        double p = procfs_cpu_pct(&cpu2, &cpu);
        assert(p == -1 || (p >= 0 && p <= 100));
    }
    if (procfs_meminfo(path, &a, &b) == 0)
        assert(b >= 0);
    procfs_loadavg(path, load);
    procfs_net_v4(path, &a, &b);
    procfs_net_v4_packets(path, &a, &b);
    procfs_net_v6(path, &a, &b);
    if (procfs_os_release(path, out, sizeof out) == 0)
        assert(strlen(out) < sizeof out);
    static const char *const kinds[] = {"tcp", "tcp6", "udp", "udp6"};
    for (int k = 0; k < 4; k++)
        procfs_ports(path, kinds[k], ports, 8, &n);
    assert(n <= 8);
    for (size_t i = 0; i < n; i++)
        assert(ports[i].port >= 0 && strlen(ports[i].addr) < sizeof ports[i].addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[96];
    files(data, size);
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    if (procfs_version_word(s, out, sizeof out) == 0)
        assert(out[0] >= '0' && out[0] <= '9');
    if (procfs_iptables_summary(s, out, sizeof out) == 0)
        assert(strlen(out) < sizeof out);
    if (procfs_nft_summary(s, out, sizeof out) == 0)
        assert(strlen(out) < sizeof out);
    if (procfs_docker_version((const char *)data, size, out, sizeof out) == 0)
        assert(strlen(out) < sizeof out);
    free(s);
    return 0;
}
