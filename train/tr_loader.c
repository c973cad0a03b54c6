#include "tr_loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_io.h"
#include "tr_rng.h"

#define TR_SLOTS 3

struct tr_loader {
    tr_loader_cfg cfg;
    size_t sample_floats;
    int nbatches;
    int part, offset; /* rows of each batch made here, and the first one */
    int *order;
    tr_batch slot[TR_SLOTS];
    int filled[TR_SLOTS];
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    /* Guarded by mu. Jobs are samples numbered from the first batch on. */
    unsigned gen;
    int epoch, first;
    long next_job, total_jobs;
    int consumed; /* batches released since start */
    int active;   /* workers inside a job */
    int failures;
    int quit;
    int error;
    cc_err err;
};

int tr_loader_batches(const tr_loader *l)
{
    return l->nbatches;
}

/* Rows of this loader's share of relative batch r (a short last batch may
 * leave a share with fewer rows, or none). */
static int batch_count(const tr_loader *l, int r)
{
    long start = (long)(l->first + r) * l->cfg.batch + l->offset;
    long left = l->cfg.split->n - start;
    return left <= 0 ? 0 : left < l->part ? (int)left : l->part;
}

/* Decode and prepare one sample; returns 0, or -1 if the image is unreadable. */
static int make_sample(tr_loader *l, int item, int epoch, float *out, float *tmp, cc_err *e)
{
    const tr_item *it = &l->cfg.split->items[item];
    cc_image img = {0};
    if (cc_image_read_file(it->path, &img, NULL, e) != COVIDCAM_OK)
        return -1;
    tr_rng r = tr_rng_make(l->cfg.seed, TR_RNG_AUGMENT, (uint64_t)epoch, (uint64_t)item);
    uint64_t seed = tr_rng_u64(&r);
    tr_prepare(&img, l->cfg.size, l->cfg.resize, l->cfg.channels, l->cfg.mean, l->cfg.std,
               &l->cfg.aug, seed, tmp, out);
    cc_image_free(&img);
    return 0;
}

static void run_job(tr_loader *l, long job, int epoch, float *tmp)
{
    int r = (int)(job / l->part), i = (int)(job % l->part);
    tr_batch *b = &l->slot[r % TR_SLOTS];
    int item = l->order[(long)(l->first + r) * l->cfg.batch + l->offset + i];
    float *x = b->x + (size_t)i * l->sample_floats;
    cc_err e;
    if (make_sample(l, item, epoch, x, tmp, &e) == 0) {
        b->labels[i] = l->cfg.split->items[item].label;
        return;
    }
    memset(x, 0, l->sample_floats * sizeof *x);
    b->labels[i] = -1;
    pthread_mutex_lock(&l->mu);
    l->failures++;
    if (l->cfg.strict && !l->error) {
        l->error = 1;
        l->err = e;
    }
    pthread_mutex_unlock(&l->mu);
    if (!l->cfg.strict)
        fprintf(stderr, "warning: skipping unreadable image: %s\n", e.msg);
}

static void *worker(void *arg)
{
    tr_loader *l = arg;
    float *tmp = malloc(2 * (size_t)l->cfg.size * l->cfg.size * sizeof *tmp);
    pthread_mutex_lock(&l->mu);
    while (!l->quit) {
        int ready = l->next_job < l->total_jobs &&
                    l->next_job / l->part < l->consumed + TR_SLOTS;
        if (!ready || !tmp) {
            pthread_cond_wait(&l->work, &l->mu);
            continue;
        }
        long job = l->next_job++;
        unsigned gen = l->gen;
        int epoch = l->epoch;
        l->active++;
        pthread_mutex_unlock(&l->mu);
        run_job(l, job, epoch, tmp);
        pthread_mutex_lock(&l->mu);
        l->active--;
        if (gen == l->gen)
            l->filled[(job / l->part) % TR_SLOTS]++;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    free(tmp);
    return NULL;
}

static covidcam_status alloc_slots(tr_loader *l, cc_err *e)
{
    for (int s = 0; s < TR_SLOTS; s++) {
        l->slot[s].x = calloc((size_t)l->part * l->sample_floats, sizeof(float));
        l->slot[s].labels = calloc((size_t)l->part, sizeof(int));
        if (!l->slot[s].x || !l->slot[s].labels)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for batch buffers");
    }
    l->order = malloc((size_t)(l->cfg.split->n ? l->cfg.split->n : 1) * sizeof *l->order);
    if (!l->order)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    return COVIDCAM_OK;
}

covidcam_status tr_loader_create(const tr_loader_cfg *cfg, tr_loader **out, cc_err *e)
{
    int shards = cfg && cfg->shards > 0 ? cfg->shards : 1;
    if (!cfg || !cfg->split || cfg->batch <= 0 || cfg->size <= 0 || cfg->workers <= 0 ||
        cfg->batch % shards || cfg->shard < 0 || cfg->shard >= shards)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad loader configuration");
    tr_loader *l = calloc(1, sizeof *l);
    if (!l)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    l->cfg = *cfg;
    l->sample_floats = (size_t)cfg->channels * cfg->size * cfg->size;
    l->part = cfg->batch / shards;
    l->offset = cfg->shard * l->part;
    l->nbatches = cfg->drop_last ? cfg->split->n / cfg->batch
                                 : (cfg->split->n + cfg->batch - 1) / cfg->batch;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->done, NULL);
    covidcam_status st = alloc_slots(l, e);
    if (st) {
        tr_loader_free(l);
        return st;
    }
    l->threads = calloc((size_t)cfg->workers, sizeof *l->threads);
    for (int i = 0; l->threads && i < cfg->workers; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0)
            break;
        l->nthreads++;
    }
    if (l->nthreads == 0) {
        tr_loader_free(l);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "cannot start loader threads");
    }
    *out = l;
    return COVIDCAM_OK;
}

void tr_loader_free(tr_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    free(l->threads);
    for (int s = 0; s < TR_SLOTS; s++) {
        free(l->slot[s].x);
        free(l->slot[s].labels);
    }
    free(l->order);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->done);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

covidcam_status tr_loader_start(tr_loader *l, int epoch, int first, cc_err *e)
{
    if (first < 0 || first > l->nbatches)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "batch %d out of range", first);
    pthread_mutex_lock(&l->mu);
    l->gen++;
    l->next_job = l->total_jobs; /* hand out nothing more */
    while (l->active > 0)
        pthread_cond_wait(&l->done, &l->mu);
    for (int i = 0; i < l->cfg.split->n; i++)
        l->order[i] = i;
    if (l->cfg.shuffle) {
        tr_rng r = tr_rng_make(l->cfg.seed, TR_RNG_SHUFFLE, (uint64_t)epoch, 0);
        tr_rng_shuffle(&r, l->order, l->cfg.split->n);
    }
    l->epoch = epoch;
    l->first = first;
    l->consumed = 0;
    l->next_job = 0;
    l->total_jobs = 0;
    /* Jobs are numbered batch * share + row; the last batch may be short. */
    if (l->nbatches > first)
        l->total_jobs = (long)(l->nbatches - first - 1) * l->part +
                        batch_count(l, l->nbatches - first - 1);
    for (int s = 0; s < TR_SLOTS; s++)
        l->filled[s] = 0;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    return COVIDCAM_OK;
}

covidcam_status tr_loader_next(tr_loader *l, const tr_batch **b, cc_err *e)
{
    pthread_mutex_lock(&l->mu);
    int r = l->consumed;
    if (l->first + r >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "no more batches this epoch");
    }
    int want = batch_count(l, r);
    while (l->filled[r % TR_SLOTS] < want && !l->error)
        pthread_cond_wait(&l->done, &l->mu);
    if (l->error) {
        covidcam_status st = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "%s", l->err.msg);
        pthread_mutex_unlock(&l->mu);
        return st;
    }
    tr_batch *slot = &l->slot[r % TR_SLOTS];
    slot->count = want;
    if (want < l->part)
        memset(slot->x + (size_t)want * l->sample_floats, 0,
               (size_t)(l->part - want) * l->sample_floats * sizeof(float));
    for (int i = want; i < l->part; i++)
        slot->labels[i] = -1;
    pthread_mutex_unlock(&l->mu);
    *b = slot;
    return COVIDCAM_OK;
}

void tr_loader_release(tr_loader *l)
{
    pthread_mutex_lock(&l->mu);
    l->filled[l->consumed % TR_SLOTS] = 0;
    l->consumed++;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
}

int tr_loader_failures(tr_loader *l)
{
    pthread_mutex_lock(&l->mu);
    int n = l->failures;
    pthread_mutex_unlock(&l->mu);
    return n;
}
