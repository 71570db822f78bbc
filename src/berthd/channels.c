/* channels.c - berthd's end of runner-link channels (see channels.h). */
#include "channels.h"
#include "hub.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRANT_STEP 4 /* credit is renewed once a quarter of the window was passed on */

struct channel {
    struct channel *next;        /* on its link's list (hub_conn.chans) */
    struct channels *cs;
    struct hub_conn *link;
    uint32_t id;
    int64_t server_id, user_id;
    int opened;
    struct chan_credit tx;       /* what we may still send to the runner */
    int64_t rx_avail;            /* what the runner may still send us */
    int64_t rx_window;
    int64_t consumed;            /* passed on since the last grant */
    uint64_t bytes_in, bytes_out;
    const struct channel_client *client;
    void *arg;
};

struct channels {
    struct srv *srv;
    struct hub *hub;
    uint32_t next_id;
    struct channels_limits lim;
};

static int env_limit(const char *name, int dflt)
{
    const char *v = getenv(name);
    int64_t n;
    return v && util_parse_i64(v, &n) == 0 && n >= 0 && n <= 4096 ? (int)n : dflt;
}

struct channels *channels_new(struct srv *s)
{
    struct channels *cs = calloc(1, sizeof *cs);
    if (!cs)
        return NULL;
    cs->srv = s;
    cs->next_id = 1;
    cs->lim.per_runner = env_limit("BERTH_CHANNELS_PER_RUNNER", 16);
    cs->lim.per_user = env_limit("BERTH_CHANNELS_PER_USER", 8);
    return cs;
}

void channels_limits(struct channels *cs, struct channels_limits *out) { *out = cs->lim; }

static struct channel *find(struct hub_conn *c, uint32_t id)
{
    for (struct channel *ch = c->chans; ch; ch = ch->next)
        if (ch->id == id)
            return ch;
    return NULL;
}

static void unlink_ch(struct channel *ch)
{
    for (struct channel **pp = (struct channel **)&ch->link->chans; *pp; pp = &(*pp)->next)
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
}

/* The runner's end or the link's: tell the client, free. */
static void ended(struct channel *ch, const char *reason, int exit_code)
{
    unlink_ch(ch);
    ch->client->closed(ch->arg, ch, reason, exit_code);
    free(ch);
}

/* The link's open channels (*per_link) and how many of them are user_id's. */
static int count_user(const struct hub_conn *link, int64_t user_id, int *per_link)
{
    int n = 0;
    *per_link = 0;
    for (struct channel *ch = link->chans; ch; ch = ch->next) {
        (*per_link)++;
        n += ch->user_id == user_id;
    }
    return n;
}

struct channel *channel_open(struct srv *s, int64_t server_id, int64_t user_id,
                             const struct chan_open *o, const struct channel_client *client,
                             void *arg, char *why, size_t wn)
{
    struct channels *cs = s->channels;
    struct hub_conn *c = cs ? hub_live_link(cs->hub, server_id) : NULL;
    if (!c) {
        util_strlcpy(why, "the server's runner is not connected", wn);
        return NULL;
    }
    int per_link;
    int mine = count_user(c, user_id, &per_link);
    if (per_link >= cs->lim.per_runner) {
        snprintf(why, wn, "the server has %d open channels, its limit", per_link);
        return NULL;
    }
    if (mine >= cs->lim.per_user) {
        snprintf(why, wn, "you have %d open channels on this server, your limit", mine);
        return NULL;
    }
    struct channel *ch = calloc(1, sizeof *ch);
    if (!ch) {
        util_strlcpy(why, "out of memory", wn);
        return NULL;
    }
    struct chan_open oo = *o;
    do { /* ids are unique on the link; 0 is never one */
        oo.id = cs->next_id++;
    } while (!oo.id || find(c, oo.id));
    if (oo.window < CHAN_WINDOW_MIN || oo.window > CHAN_WINDOW_MAX)
        oo.window = CHAN_WINDOW_DEFAULT;
    json_t *msg = chan_open_msg(&oo);
    if (!msg) {
        free(ch);
        util_strlcpy(why, "the channel's parameters are out of range", wn);
        return NULL;
    }
    ch->cs = cs;
    ch->link = c;
    ch->id = oo.id;
    ch->server_id = server_id;
    ch->user_id = user_id;
    ch->rx_avail = ch->rx_window = oo.window;
    ch->client = client;
    ch->arg = arg;
    if (hub_conn_send(c, msg) < 0) {
        free(ch);
        util_strlcpy(why, "the server's runner is not reading", wn);
        return NULL;
    }
    ch->next = c->chans;
    c->chans = ch;
    return ch;
}

long channel_write(struct channel *ch, const void *p, size_t n)
{
    if (!ch->opened)
        return 0; /* the runner's window comes with chan.opened */
    size_t take = n;
    if ((int64_t)take > ch->tx.avail)
        take = (size_t)ch->tx.avail;
    if (take > CHAN_DATA_MAX)
        take = CHAN_DATA_MAX;
    if (!take)
        return 0;
    uint8_t hdr[CHAN_HDR];
    chan_data_header(hdr, ch->id, CHAN_STDIO);
    if (hub_conn_send_binary(ch->link, hdr, sizeof hdr, p, take) < 0)
        return -1;
    chan_credit_take(&ch->tx, take);
    ch->bytes_in += take;
    return (long)take;
}

void channel_resize(struct channel *ch, int cols, int rows)
{
    json_t *m = chan_resize_msg(ch->id, cols, rows);
    if (m)
        hub_conn_send(ch->link, m);
}

void channel_consumed(struct channel *ch, size_t n)
{
    ch->consumed += (int64_t)n;
    if (ch->consumed < ch->rx_window / GRANT_STEP)
        return;
    json_t *m = chan_credit_msg(ch->id, ch->consumed);
    if (m && hub_conn_send(ch->link, m) == 0) {
        ch->rx_avail += ch->consumed;
        ch->consumed = 0;
    }
}

void channel_close(struct channel *ch, const char *reason)
{
    json_t *m = chan_close_msg(ch->id, reason ? reason : "closed by the client", -1);
    if (m)
        hub_conn_send(ch->link, m);
    unlink_ch(ch);
    free(ch);
}

void channel_bytes(const struct channel *ch, uint64_t *in, uint64_t *out)
{
    *in = ch->bytes_in;
    *out = ch->bytes_out;
}

/* ---- frames from the runner ---- */

static void refuse(struct hub_conn *c, struct channel *ch, const char *reason)
{
    json_t *m = chan_close_msg(ch->id, reason, -1);
    if (m)
        hub_conn_send(c, m);
    log_warn("channels", "server %lld: channel %u closed: %s", (long long)c->server_id,
             ch->id, reason);
    ended(ch, reason, -1);
}

static int on_binary(void *arg, struct hub_conn *c, const uint8_t *data, size_t len, char *why,
                     size_t wn)
{
    (void)arg;
    struct chan_data d;
    if (chan_data_parse(data, len, &d, why, wn) < 0)
        return -1; /* the link breaks the frame layout: close it */
    struct channel *ch = find(c, d.id);
    if (!ch)
        return 0; /* closed meanwhile: dropped */
    if (!ch->opened || (int64_t)d.len > ch->rx_avail) {
        refuse(c, ch, ch->opened ? "credit exceeded" : "data before chan.opened");
        return 0;
    }
    ch->rx_avail -= (int64_t)d.len;
    ch->bytes_out += d.len;
    if (ch->client->data)
        ch->client->data(ch->arg, ch, d.stream, d.data, d.len);
    return 0;
}

static int on_opened(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t wn)
{
    (void)arg;
    uint32_t id;
    int64_t window;
    if (chan_parse_opened(msg, &id, &window, why, wn) < 0)
        return -1;
    struct channel *ch = find(c, id);
    if (!ch || ch->opened)
        return 0;
    ch->opened = 1;
    ch->tx.avail = window;
    if (ch->client->opened)
        ch->client->opened(ch->arg, ch);
    if (ch->client->writable)
        ch->client->writable(ch->arg, ch);
    return 0;
}

static int on_credit(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t wn)
{
    (void)arg;
    uint32_t id;
    int64_t bytes;
    if (chan_parse_credit(msg, &id, &bytes, why, wn) < 0)
        return -1;
    struct channel *ch = find(c, id);
    if (!ch || !ch->opened)
        return 0;
    int was_empty = ch->tx.avail == 0;
    chan_credit_grant(&ch->tx, bytes);
    if (was_empty && ch->client->writable)
        ch->client->writable(ch->arg, ch);
    return 0;
}

static int on_close(void *arg, struct hub_conn *c, json_t *msg, char *why, size_t wn)
{
    (void)arg;
    struct chan_close cl;
    if (chan_parse_close(msg, &cl, why, wn) < 0)
        return -1;
    struct channel *ch = find(c, cl.id);
    if (ch)
        ended(ch, cl.reason, cl.exit_code);
    return 0;
}

static void link_closed(void *arg, struct hub_conn *c)
{
    (void)arg;
    while (c->chans)
        ended(c->chans, "the runner's link was lost", -1);
}

int channels_start(struct channels *cs, struct hub *h)
{
    cs->hub = h;
    struct hub_link_hooks hooks = {NULL, NULL, link_closed, cs};
    if (hub_add_link_hooks(h, &hooks) < 0 || hub_handle_binary(h, on_binary, cs) < 0 ||
        hub_handle(h, PROTO_CHAN_OPENED, on_opened, cs) < 0 ||
        hub_handle(h, PROTO_CHAN_CREDIT, on_credit, cs) < 0 ||
        hub_handle(h, PROTO_CHAN_CLOSE, on_close, cs) < 0)
        return -1;
    return 0;
}

void channels_free(struct channels *cs) { free(cs); }
