#include "tr_loss.h"

#include <math.h>
#include <string.h>

tr_loss_out tr_softmax_xent(const float *logits, const int *labels, int n, int k,
                            double smoothing, float *grad, int *pred)
{
    int valid = 0;
    for (int i = 0; i < n; i++)
        valid += labels[i] >= 0;
    return tr_softmax_xent_norm(logits, labels, n, k, smoothing, valid, grad, pred);
}

tr_loss_out tr_softmax_xent_norm(const float *logits, const int *labels, int n, int k,
                                 double smoothing, long norm, float *grad, int *pred)
{
    return tr_softmax_xent_weighted(logits, labels, n, k, smoothing, NULL, (double)norm, grad, pred);
}

/* The target weight of class c for a sample of label y. */
static double coef(const float *w, int c, int y, double smoothing, int k)
{
    double q = smoothing / k + (c == y ? 1.0 - smoothing : 0.0);
    if (!w)
        return q;
    return w[c] * smoothing / k + (c == y ? w[y] * (1.0 - smoothing) : 0.0);
}

/* The rows' loss: row i's target is lam_i * q(y_i) + (1 - lam_i) * q(y2_i)
 * (y2, lam NULL: q(y_i)), q the smoothed, optionally class-weighted target. */
static tr_loss_out xent_rows(const float *logits, const int *labels, const int *y2,
                             const float *lam, int n, int k, double smoothing, const float *w,
                             double norm, float *grad, int *pred)
{
    tr_loss_out out = {0, 0, 0, 0};
    double wk = 0; /* sum of the class weights */
    for (int c = 0; w && c < k; c++)
        wk += w[c];
    for (int i = 0; i < n; i++)
        out.valid += labels[i] >= 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int arg = 0;
        for (int c = 1; c < k; c++)
            if (z[c] > z[arg])
                arg = c;
        if (pred)
            pred[i] = arg;
        int y = labels[i], yb = y2 ? y2[i] : y;
        double l = lam ? (double)lam[i] : 1.0;
        if (y < 0) {
            if (grad)
                memset(grad + (size_t)i * k, 0, (size_t)k * sizeof *grad);
            continue;
        }
        double zmax = z[arg], sum = 0;
        for (int c = 0; c < k; c++)
            sum += exp((double)z[c] - zmax);
        double lse = zmax + log(sum);
        /* a_c, the weight of -log p_c in this sample's loss (q_c unweighted,
         * summing to 1); the gradient of sum_c a_c * -log p_c is p * sum(a) - a. */
        double asum = w ? smoothing / k * wk + (1.0 - smoothing) * (l * w[y] + (1 - l) * w[yb])
                        : 1.0;
        double loss = 0;
        for (int c = 0; c < k; c++) {
            double a = l * coef(w, c, y, smoothing, k) + (1 - l) * coef(w, c, yb, smoothing, k);
            double logp = (double)z[c] - lse;
            loss -= a * logp;
            if (grad)
                grad[(size_t)i * k + c] = (float)((exp(logp) * asum - a) / norm);
        }
        out.loss_sum += loss;
        out.weight_sum += w ? l * w[y] + (1 - l) * w[yb] : 1.0;
        out.correct += arg == (l >= 0.5 ? y : yb); /* the dominant label */
    }
    return out;
}

tr_loss_out tr_softmax_xent_weighted(const float *logits, const int *labels, int n, int k,
                                     double smoothing, const float *w, double norm, float *grad,
                                     int *pred)
{
    return xent_rows(logits, labels, NULL, NULL, n, k, smoothing, w, norm, grad, pred);
}

tr_loss_out tr_softmax_xent_mixed(const float *logits, const int *labels, const int *y2,
                                  const float *lam, int n, int k, double smoothing, double norm,
                                  float *grad, int *pred)
{
    return xent_rows(logits, labels, y2, lam, n, k, smoothing, NULL, norm, grad, pred);
}
