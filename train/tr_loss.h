/* Softmax cross-entropy with optional label smoothing (PyTorch semantics). */
#ifndef TR_LOSS_H
#define TR_LOSS_H

typedef struct tr_loss_out {
    double loss_sum; /* summed over valid samples */
    int valid;       /* samples with a label >= 0 */
    int correct;     /* valid samples whose argmax is the label */
    double weight_sum; /* sum of the valid samples' class weights (valid when unweighted) */
} tr_loss_out;

/* logits: n x k. Samples with label < 0 are ignored. With `grad` non-NULL it
 * receives d(mean loss)/d(logits) (zero rows for ignored samples). `pred`
 * (may be NULL) receives each row's argmax. The target distribution is
 * (1 - smoothing) * onehot + smoothing / k. */
tr_loss_out tr_softmax_xent(const float *logits, const int *labels, int n, int k,
                            double smoothing, float *grad, int *pred);

/* The same with the mean taken over `norm` samples instead of this batch's
 * valid ones: the whole batch's when it is spread over several processes, so
 * that their gradients add up to the whole batch's mean. */
tr_loss_out tr_softmax_xent_norm(const float *logits, const int *labels, int n, int k,
                                 double smoothing, long norm, float *grad, int *pred);

/* The class-weighted loss of PyTorch's CrossEntropyLoss(weight=w,
 * label_smoothing=s): sample i of label y loses
 *   (1 - s) * w[y] * -log p_y  +  (s / k) * sum_c w[c] * -log p_c,
 * and the mean divides by the sum of w[y] over the samples (`norm`: the whole
 * batch's, from every process; in loss_sum and weight_sum this batch's).
 * w NULL is every weight 1, which is tr_softmax_xent_norm. */
tr_loss_out tr_softmax_xent_weighted(const float *logits, const int *labels, int n, int k,
                                     double smoothing, const float *w, double norm, float *grad,
                                     int *pred);

/* Mixup's loss (tr_mixup.h): row i loses
 *   lam[i] * CE_s(labels[i]) + (1 - lam[i]) * CE_s(y2[i]),
 * CE_s the smoothed cross-entropy above, the mean taken over `norm` samples;
 * `correct` counts rows whose argmax is the label of the larger weight.
 * Rows with labels[i] < 0 are ignored (zero gradient); y2[i] must be a class
 * wherever labels[i] is one (tr_mixup gives a row's own label when it is not
 * blended). Unweighted. */
tr_loss_out tr_softmax_xent_mixed(const float *logits, const int *labels, const int *y2,
                                  const float *lam, int n, int k, double smoothing, double norm,
                                  float *grad, int *pred);

#endif
