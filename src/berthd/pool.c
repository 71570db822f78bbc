/* pool.c - worker threads with a job queue and a completion queue.
 * Workers push finished jobs onto the completion queue and wake the loop
 * with lws_cancel_service(); the loop runs the completions. A bounded pool
 * (outbound.c's) refuses work past its queue limit and hands its
 * completions to another pool's queue, so one drain runs them all. */
#include "pool.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdlib.h>

struct job {
    pool_fn work, done;
    void *arg;
    struct job *next;
};

struct queue {
    struct job *head, *tail;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct queue todo, finished;
    pthread_t *threads;
    int nthreads, stop;
    int max_queued, nqueued;    /* max_queued 0: unbounded */
    struct pool *done_to;       /* completions go to that pool (NULL: this one) */
    struct lws_context *ctx;
};

static void q_push(struct queue *q, struct job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static struct job *q_pop(struct queue *q)
{
    struct job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
    }
    return j;
}

/* Queues j's completion on p and wakes p's loop; any thread. */
static void finish(struct pool *p, struct job *j)
{
    pthread_mutex_lock(&p->mu);
    q_push(&p->finished, j);
    struct lws_context *ctx = p->ctx;
    pthread_mutex_unlock(&p->mu);
    if (ctx)
        lws_cancel_service(ctx);
}

static void *worker(void *vp)
{
    struct pool *p = vp;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct job *j;
        while (!(j = q_pop(&p->todo)) && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!j)
            break;
        p->nqueued--;
        pthread_mutex_unlock(&p->mu);
        j->work(j->arg);
        finish(p->done_to ? p->done_to : p, j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct pool *pool_new(int threads) { return pool_new_bounded(threads, 0, NULL); }

struct pool *pool_new_bounded(int threads, int max_queued, struct pool *done_to)
{
    struct pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_queued = max_queued > 0 ? max_queued : 0;
    p->done_to = done_to;
    if (threads < 1)
        threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (!p->nthreads) {
        free(p->threads);
        free(p);
        return NULL;
    }
    return p;
}

void pool_set_context(struct pool *p, struct lws_context *ctx)
{
    pthread_mutex_lock(&p->mu);
    p->ctx = ctx;
    pthread_mutex_unlock(&p->mu);
}

static struct job *job_new(pool_fn work, pool_fn done, void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (j)
        *j = (struct job){work, done, arg, NULL};
    return j;
}

int pool_submit(struct pool *p, pool_fn work, pool_fn done, void *arg)
{
    struct job *j = job_new(work, done, arg);
    if (!j)
        return -1;
    pthread_mutex_lock(&p->mu);
    if (p->max_queued && p->nqueued >= p->max_queued) {
        pthread_mutex_unlock(&p->mu);
        free(j);
        return -1;
    }
    p->nqueued++;
    q_push(&p->todo, j);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int pool_post(struct pool *p, pool_fn done, void *arg)
{
    struct job *j = job_new(NULL, done, arg);
    if (!j)
        return -1;
    finish(p, j);
    return 0;
}

void pool_drain(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct job *list = p->finished.head;
    p->finished.head = p->finished.tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (list) {
        struct job *next = list->next;
        list->done(list->arg);
        free(list);
        list = next;
    }
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    p->ctx = NULL;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pool_drain(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}
