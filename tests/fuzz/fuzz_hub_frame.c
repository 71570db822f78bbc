/* fuzz_hub_frame.c - berthd's end of the runner link fed whatever a
 * runner host can send: hub_frame(), the function hub_callback hands
 * every complete text frame to, on a link with no socket (wsi NULL).
 *
 * The store is a real SQLite one in a temporary directory, set up once:
 * an organization, two servers (the link speaks for server 1), a
 * registration token and a PENDING script job for each server. Each input
 * runs inside a transaction rolled back at the end, so every input starts
 * from the same state.
 *
 * Input: byte 0 picks the link's phase (even: a credential link, which
 * first gets a valid hello and so is live; odd: a registration link
 * before its hello); the rest is split at '\n' into frames. Checked: no
 * crash, no sanitizer report, no leak; a refused frame always says why;
 * server 2's job is never touched. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berthd.h"
#include "api.h"
#include "hub.h"
#include "job.h"
#include "log.h"
#include "store.h"
#include "util.h"

static struct srv srv;
static int64_t server1, server2, token1, job2;

static int64_t job_for(int64_t org, int64_t server)
{
    struct job j;
    int64_t id = 0;
    memset(&j, 0, sizeof j);
    j.org_id = org;
    j.server_id = server;
    util_strlcpy(j.kind, "script", sizeof j.kind);
    j.spec_json = "{\"name\":\"s\",\"body\":\"true\",\"timeout_s\":0}";
    util_strlcpy(j.status, "PENDING", sizeof j.status);
    j.created_at = util_now();
    assert(store_job_create(srv.store, &j, &id) == STORE_OK);
    return id;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char dir[] = "/tmp/berth-fuzz-hub-XXXXXX";
    char err[256], hash[CRYPTO_HASH_HEX];
    int64_t org, now = util_now();
    assert(mkdtemp(dir));
    log_set_level(LOG_ERROR);
    memset(srv.token_key, 7, sizeof srv.token_key);
    assert(store_open(dir, "", &srv.store, err, sizeof err) == STORE_OK);
    assert(store_migrate(srv.store) > 0);
    assert(store_org_create(srv.store, "fuzz", now, &org) == STORE_OK);
    assert(store_server_create(srv.store, org, "one", now, &server1) == STORE_OK);
    assert(store_server_create(srv.store, org, "two", now, &server2) == STORE_OK);
    crypto_token_hash(srv.token_key, "brg_fuzz", hash);
    assert(store_regtoken_create(srv.store, server1, hash, now, now + 86400 * 365) == STORE_OK);
    struct regtoken t;
    assert(store_regtoken_by_hash(srv.store, hash, &t) == STORE_OK);
    token1 = t.id;
    job_for(org, server1); /* job "1": the link's own */
    job2 = job_for(org, server2);
    srv.hub = hub_new(&srv);
    srv.jobs = jobs_new(&srv);
    assert(srv.hub && srv.jobs);
    /* the job frames reach job.c through the hub's table, as in berthd */
    assert(job_kind_register(srv.jobs, &script_job_kind) == 0);
    assert(jobs_start(srv.jobs, srv.hub) == 0);
    return 0;
}

static const char hello[] = "{\"type\":\"hello\",\"proto\":1,\"version\":\"f\",\"hostname\":\"f\","
                            "\"jobs\":[{\"job\":\"1\",\"last_seq\":0,\"done\":false}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct hub_conn c;
    char why[124];
    memset(&c, 0, sizeof c);
    c.server_id = server1;
    c.org_id = 1;
    c.phase = data[0] & 1 ? HUB_P_REG : HUB_P_CRED;
    c.regtoken_id = data[0] & 1 ? token1 : 0;
    assert(store_begin(srv.store) == STORE_OK);
    int open = 1;
    if (!(data[0] & 1))
        open = hub_frame(srv.hub, &c, hello, sizeof hello - 1, why, sizeof why) == 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (open && p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        why[0] = '\0';
        if (hub_frame(srv.hub, &c, p, n, why, sizeof why) < 0) {
            assert(why[0]); /* a refusal always says why */
            open = 0;
        }
        p += n + 1;
    }
    struct job j;
    assert(store_job_get(srv.store, 0, job2, &j) == STORE_OK);
    assert(strcmp(j.status, "PENDING") == 0); /* another server's job: untouched */
    store_job_release(&j);
    hub_conn_release(srv.hub, &c);
    store_rollback(srv.store);
    return 0;
}
