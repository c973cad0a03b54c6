/* Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR
 * 2018): train on convex combinations of pairs of images and of their
 * labels, a regulariser against memorising the training films.
 *
 * The images of a batch are paired as they come (rows 2j and 2j + 1 of a
 * process's share; the epoch order is already random, so the pairing is),
 * and each pair is blended with its own weight lambda ~ Beta(alpha, alpha):
 *   x_2j'   = lambda * x_2j   + (1 - lambda) * x_2j+1
 *   x_2j+1' = lambda * x_2j+1 + (1 - lambda) * x_2j
 * Row i then loses lambda_i * CE(y_i) + (1 - lambda_i) * CE(partner's y)
 * (tr_softmax_xent_mixed). A pair with an unreadable image (label < 0) and
 * the last row of an odd share stay as they are (lambda 1, own label).
 * lambda depends only on (seed, iteration, row), so a resumed run mixes
 * exactly as a straight one. */
#ifndef TR_MIXUP_H
#define TR_MIXUP_H

#include <stddef.h>
#include <stdint.h>

#include "tr_rng.h"

/* A draw of Beta(alpha, alpha), alpha > 0, from r (two gamma draws by
 * Marsaglia and Tsang's method, which must come from the trainer's own
 * resumable stream rather than a library's global generator). */
double tr_beta_sym(tr_rng *r, double alpha);

/* Blends the n rows of x (each `stride` floats) in place as above. labels:
 * the n rows' labels; y2 (n) receives each row's second label, lam (n) its
 * weight lambda. `row0`: the share's first row in the whole batch, so that a
 * row's lambda does not depend on how many processes share the batch. No
 * allocation; x, labels, y2 and lam must not overlap. */
void tr_mixup(float *x, const int *labels, int n, size_t stride, double alpha, uint64_t seed,
              long iter, int row0, int *y2, float *lam);

#endif
