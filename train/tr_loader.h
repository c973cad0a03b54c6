/* Batches of prepared images made by worker threads ahead of the consumer.
 *
 * Workers decode and augment samples into a ring of batch slots while the
 * caller trains on earlier batches. A sample depends only on (seed, epoch,
 * its index in the split), and the epoch order only on (seed, epoch), so the
 * batches are identical whatever the thread timing or the resume point. */
#ifndef TR_LOADER_H
#define TR_LOADER_H

#include <stdint.h>

#include "tr_augment.h"
#include "tr_dataset.h"

typedef struct tr_loader_cfg {
    const tr_split *split;
    int batch;
    int size, channels;
    cc_resize_mode resize; /* the model's metadata mode */
    const float *mean, *std;
    tr_aug aug;
    int shuffle;   /* a new random order every epoch */
    int drop_last; /* only full batches (training: BN needs the batch size fixed) */
    uint64_t seed;
    int workers;
    int strict; /* an unreadable image is an error instead of a skipped sample */
    /* Data parallelism: of every batch of `batch` samples this loader makes
     * only share number `shard` of `shards` equal shares (rows shard * batch /
     * shards on); batch must be a multiple of shards. 0, 0: the whole batch. */
    int shard, shards;
} tr_loader_cfg;

typedef struct tr_batch {
    float *x;    /* share x channels x size x size; rows past count are zero */
    int *labels; /* -1 for a sample that could not be read (skipped) */
    int count;   /* valid rows */
} tr_batch;

typedef struct tr_loader tr_loader;

covidcam_status tr_loader_create(const tr_loader_cfg *cfg, tr_loader **out, cc_err *e);
void tr_loader_free(tr_loader *l);

/* Batches per epoch. */
int tr_loader_batches(const tr_loader *l);

/* Begin producing the batches of `epoch` from batch `first` on; any batches
 * still in flight from a previous start are discarded. */
covidcam_status tr_loader_start(tr_loader *l, int epoch, int first, cc_err *e);

/* The next batch, waiting for the workers if needed; valid until
 * tr_loader_release(). Fails (with --strict) on an unreadable image. */
covidcam_status tr_loader_next(tr_loader *l, const tr_batch **b, cc_err *e);
void tr_loader_release(tr_loader *l);

/* Images that could not be read so far (each read failure counts). */
int tr_loader_failures(tr_loader *l);

#endif
