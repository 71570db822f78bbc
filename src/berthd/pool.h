/* pool.h - a small worker-thread pool for work that may block (argon2id,
 * later Docker/API calls), so the event loop never does.
 *
 * work() runs on a worker thread and must touch only its own arg; done()
 * runs back on the loop thread, from pool_drain(), which http.c calls when
 * lws_cancel_service() wakes the loop. */
#ifndef BERTHD_POOL_H
#define BERTHD_POOL_H

struct lws_context;
struct pool;

typedef void (*pool_fn)(void *arg);

struct pool *pool_new(int threads);
/* A pool whose queue holds at most max_queued jobs not yet started
 * (pool_submit then answers -1) and whose completions are queued on
 * done_to (drained with it) when not NULL. Free it before done_to. */
struct pool *pool_new_bounded(int threads, int max_queued, struct pool *done_to);
void pool_set_context(struct pool *p, struct lws_context *ctx);
/* 0, or -1 when out of memory or the queue is full. */
int pool_submit(struct pool *p, pool_fn work, pool_fn done, void *arg);
/* Queues done(arg) to run on the loop at the next drain; any thread. */
int pool_post(struct pool *p, pool_fn done, void *arg);
/* Runs done() of every finished job; loop thread only. */
void pool_drain(struct pool *p);
/* Stops the threads after the queued work is finished, runs the last
 * completions, and frees the pool. */
void pool_free(struct pool *p);

#endif
