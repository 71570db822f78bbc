/* test_runner_proc.c - the runner's /proc and command-output parsers
 * (src/runner/procfs.c) against fixture files in fixtures/runner/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "procfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FIXTURES
#error "FIXTURES must name tests/unit/fixtures/runner"
#endif

static const char *fx(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", FIXTURES, name);
    return p;
}

static void cpu_sample_and_delta(void **state)
{
    struct procfs_cpu a, b;
    assert_int_equal(procfs_cpu(fx("stat"), &a), 0);
    assert_int_equal(a.total, 1010);  /* guest columns not added twice */
    assert_int_equal(a.idle, 850);    /* idle + iowait */
    assert_int_equal(procfs_cpu(fx("stat2"), &b), 0);
    assert_int_equal(b.total, 1190);
    /* 180 jiffies passed, 100 idle -> 80 busy */
    double pct = procfs_cpu_pct(&a, &b);
    assert_true(pct > 44.4 && pct < 44.5);
    assert_true(procfs_cpu_pct(&b, &b) < 0);
    assert_int_equal(procfs_cpu(fx("missing"), &a), -1);
}

static void meminfo_available_and_fallback(void **state)
{
    int64_t t, u;
    assert_int_equal(procfs_meminfo(fx("meminfo"), &t, &u), 0);
    assert_int_equal(t, 2000000LL * 1024);
    assert_int_equal(u, 500000LL * 1024);
    assert_int_equal(procfs_meminfo(fx("meminfo_old"), &t, &u), 0);
    assert_int_equal(t, 1000LL * 1024);
    assert_int_equal(u, 400LL * 1024);
}

/* text in a fresh temporary file; the caller unlinks the path */
static char *tmp_with(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/berth-procfs-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* Found by tests/fuzz/fuzz_procfs (UBSan): a KiB count past INT64_MAX/1024
 * overflowed int64 when turned into bytes; such a file is refused now. */
static void meminfo_out_of_range(void **state)
{
    int64_t t = 0, u = 0;
    char *p = tmp_with("MemTotal: 9223372036854775807 kB\nMemAvailable: 1 kB\n");
    assert_int_equal(procfs_meminfo(p, &t, &u), -1);
    unlink(p);
    p = tmp_with("MemTotal: 100 kB\nMemFree: 9223372036854775807 kB\nBuffers: 9 kB\nCached: 1 kB\n");
    assert_int_equal(procfs_meminfo(p, &t, &u), -1);
    unlink(p);
    p = tmp_with("MemTotal: -100 kB\nMemAvailable: 1 kB\n");
    assert_int_equal(procfs_meminfo(p, &t, &u), -1);
    unlink(p);
    p = tmp_with("MemTotal: 9007199254740991 kB\nMemAvailable: 1 kB\n");
    assert_int_equal(procfs_meminfo(p, &t, &u), 0);
    assert_true(t == 9007199254740991LL * 1024);
    unlink(p);
}

static void loadavg(void **state)
{
    double l[3];
    assert_int_equal(procfs_loadavg(fx("loadavg"), l), 0);
    assert_true(l[0] == 0.5 && l[1] == 0.25 && l[2] == 1.75);
}

static void net_v4_v6(void **state)
{
    int64_t rx = 0, tx = 0;
    assert_int_equal(procfs_net_v4(fx("netstat"), &rx, &tx), 0);
    assert_int_equal(rx, 824251990);
    assert_int_equal(tx, 700488989);
    assert_int_equal(procfs_net_v6(fx("snmp6"), &rx, &tx), 0);
    assert_int_equal(rx, 128);
    assert_int_equal(tx, 880);
    assert_int_equal(procfs_net_v4_packets(fx("snmp"), &rx, &tx), 0);
    assert_int_equal(rx, 1000);
    assert_int_equal(tx, 900);
    /* the snmp file has no IpExt line */
    assert_int_equal(procfs_net_v4(fx("snmp"), &rx, &tx), -1);
}

static void os_release(void **state)
{
    char s[128];
    assert_int_equal(procfs_os_release(fx("os-release"), s, sizeof s), 0);
    assert_string_equal(s, "Debian GNU/Linux 12 (bookworm)");
    assert_int_equal(procfs_os_release(fx("os-release-noname"), s, sizeof s), 0);
    assert_string_equal(s, "Alpine 3.19.1");
}

static void listening_ports(void **state)
{
    struct procfs_port p[8];
    size_t n = 0;
    assert_int_equal(procfs_ports(fx("tcp"), "tcp", p, 8, &n), 0);
    assert_int_equal(n, 2); /* duplicate 0.0.0.0:22 folded, ESTABLISHED skipped */
    assert_string_equal(p[0].addr, "0.0.0.0");
    assert_int_equal(p[0].port, 22);
    assert_string_equal(p[1].addr, "127.0.0.1");
    assert_int_equal(p[1].port, 8080);
    assert_int_equal(procfs_ports(fx("tcp6"), "tcp6", p, 8, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(p[2].proto, "tcp6");
    assert_string_equal(p[2].addr, "::");
    assert_int_equal(p[2].port, 80);
    assert_string_equal(p[3].addr, "::1");
    assert_int_equal(p[3].port, 53);
    assert_int_equal(procfs_ports(fx("udp"), "udp", p, 8, &n), 0);
    assert_int_equal(n, 5); /* connected UDP socket skipped */
    assert_string_equal(p[4].addr, "127.0.0.53");
    assert_int_equal(p[4].port, 53);
    /* the cap holds */
    n = 0;
    assert_int_equal(procfs_ports(fx("tcp"), "tcp", p, 1, &n), 0);
    assert_int_equal(n, 1);
}

/* Found by tests/fuzz/fuzz_procfs: a port field past 65535 was reported
 * as it was (negative once past INT_MAX); such lines are skipped now. */
static void ports_out_of_range(void **state)
{
    struct procfs_port p[8];
    size_t n = 0;
    char *path = tmp_with("  sl  local_address rem_address   st\n"
                          "   0: 00000000:10000 00000000:0000 0A 0 0\n"
                          "   1: 00000000:FFFFFFFF 00000000:0000 0A 0 0\n"
                          "   2: 00000000:FFFF 00000000:0000 0A 0 0\n");
    assert_int_equal(procfs_ports(path, "tcp", p, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].port, 65535);
    unlink(path);
}

static void version_words(void **state)
{
    char v[32];
    assert_int_equal(procfs_version_word("git version 2.39.2\n", v, sizeof v), 0);
    assert_string_equal(v, "2.39.2");
    assert_int_equal(procfs_version_word("curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1\n"
                                         "Release-Date: 2023-02-20\n", v, sizeof v), 0);
    assert_string_equal(v, "7.88.1");
    assert_int_equal(procfs_version_word("command not found", v, sizeof v), -1);
    assert_int_equal(procfs_version_word("", v, sizeof v), -1);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = calloc(1, 65536);
    size_t n = fread(b, 1, 65535, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void firewall_summaries(void **state)
{
    char s[256];
    char *t = slurp(fx("iptables-S"));
    assert_int_equal(procfs_iptables_summary(t, s, sizeof s), 0);
    assert_string_equal(s, "iptables: 4 chains, 3 rules; policies INPUT DROP, FORWARD DROP, OUTPUT ACCEPT");
    free(t);
    t = slurp(fx("nft-ruleset"));
    assert_int_equal(procfs_nft_summary(t, s, sizeof s), 0);
    assert_string_equal(s, "nftables: 2 tables, 3 chains, 3 rules");
    free(t);
    assert_int_equal(procfs_iptables_summary("", s, sizeof s), -1);
    assert_int_equal(procfs_nft_summary("", s, sizeof s), -1);
}

static void docker_version(void **state)
{
    char s[64];
    char *t = slurp(fx("docker-version.http"));
    assert_int_equal(procfs_docker_version(t, strlen(t), s, sizeof s), 0);
    assert_string_equal(s, "20.10.24 (API 1.41)");
    free(t);
    const char *bad = "HTTP/1.0 500 Internal Server Error\r\n\r\n{}";
    assert_int_equal(procfs_docker_version(bad, strlen(bad), s, sizeof s), -1);
    const char *nobody = "HTTP/1.0 200 OK\r\n";
    assert_int_equal(procfs_docker_version(nobody, strlen(nobody), s, sizeof s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_sample_and_delta),
        cmocka_unit_test(meminfo_available_and_fallback),
        cmocka_unit_test(meminfo_out_of_range),
        cmocka_unit_test(loadavg),
        cmocka_unit_test(net_v4_v6),
        cmocka_unit_test(os_release),
        cmocka_unit_test(listening_ports),
        cmocka_unit_test(ports_out_of_range),
        cmocka_unit_test(version_words),
        cmocka_unit_test(firewall_summaries),
        cmocka_unit_test(docker_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
