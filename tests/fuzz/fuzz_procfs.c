/* fuzz_procfs.c - what berth-runner reads from its host and reports in
 * heartbeats and fingerprints (src/runner/procfs.c): every /proc and
 * /etc/os-release parser chosen by the first byte, on the rest (through
 * a file on /dev/shm, as they take a path), and the command-output parsers (git/curl --version, iptables
 * -S, nft list ruleset, Docker's /version answer). */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "procfs.h"

static int fd = -1;
static char path[64];

/* One file on tmpfs, rewritten for each input (opening a plain path is
 * much cheaper than /proc/self/fd/N of a memfd). */
static void cleanup(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(path, sizeof path, "/dev/shm/berth-fuzz-procfs-%d", (int)getpid());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert(fd >= 0);
    atexit(cleanup);
    return 0;
}

/* One parser per input, chosen by its first byte: each reads the file. */
static void file(int which, const uint8_t *data, size_t size)
{
    static const char *const kinds[] = {"tcp", "tcp6", "udp", "udp6"};
    struct procfs_cpu cpu, cpu0 = {0, 0};
    int64_t a, b;
    double load[3];
    char out[256];
    struct procfs_port ports[8];
    size_t n = 0;
    assert(ftruncate(fd, 0) == 0);
    assert(pwrite(fd, data, size, 0) == (ssize_t)size);
    switch (which % 10) {
    case 0:
        if (procfs_cpu(path, &cpu) == 0) {
            double p = procfs_cpu_pct(&cpu0, &cpu);
            assert(p == -1 || (p >= 0 && p <= 100));
        }
        break;
    case 1:
        if (procfs_meminfo(path, &a, &b) == 0)
            assert(a >= 0 && b >= 0);
        break;
    case 2: procfs_loadavg(path, load); break;
    case 3: procfs_net_v4(path, &a, &b); break;
    case 4: procfs_net_v4_packets(path, &a, &b); break;
    case 5: procfs_net_v6(path, &a, &b); break;
    case 6:
        if (procfs_os_release(path, out, sizeof out) == 0)
            assert(strlen(out) < sizeof out);
        break;
    default:
        for (int k = 0; k < 4; k++)
            procfs_ports(path, kinds[(which + k) % 4], ports, 8, &n);
        assert(n <= 8);
        for (size_t i = 0; i < n; i++)
            assert(ports[i].port >= 0 && ports[i].port <= 65535 &&
                   strlen(ports[i].addr) < sizeof ports[i].addr);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[96];
    if (size < 1)
        return 0;
    file(data[0], data + 1, size - 1);
    data++;
    size--;
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
