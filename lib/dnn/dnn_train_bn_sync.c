/* Synchronised batch norm for data-parallel training.
 *
 * W processes each hold n = N/W of the batch's N values per channel. One
 * process on the whole batch normalises with the batch's mean and variance and
 * back-propagates
 *     dx = k (dy - sum(dy)/N - xhat sum(dy xhat)/N),  k = scale/sigma,
 * where the sums run over the whole batch. oneDNN's batch norm knows only its
 * own share, so:
 *   forward:  a training pass gives the share's mean and variance; the
 *             processes sum mean and E[x^2] (in double, so the variance does
 *             not lose digits to cancellation); a second pass normalises with
 *             the whole batch's statistics (global-stats mode, which still
 *             writes the ReLU workspace).
 *   backward: oneDNN's pass with those statistics gives dx with the share's
 *             sums, dx_local = k (dy - S_b/n - xhat S_g/n), and the share's
 *             S_g = sum(dy xhat), S_b = sum(dy) as the parameter gradients.
 *             The processes sum S_g and S_b, and the difference to the wanted
 *             dx, k (D_b + xhat D_g) with D = S/n - S_total/N, is affine in x
 *             per channel: dx += b x + a with b = k D_g / sigma and
 *             a = k (D_b - D_g mean / sigma): two binary primitives.
 * The parameter gradients are left as the share's S_g, S_b: summing them with
 * the other gradients gives the whole batch's. */
#include "dnn_train_impl.h"

#include <math.h>

#define ARG(a, m) ((dnnl_exec_arg_t){(a), (m)})

static covidcam_status sum_across(cc_tnet *net, tlayer *l, const char *what, cc_err *e)
{
    if (net->sync.sum(net->sync.ctx, l->sums, 2 * l->channels) != 0)
        return cc_fail(e, COVIDCAM_ERR_IO, "batch norm layer %d: summing the %s across the %d "
                                           "processes failed",
                       l->index, what, net->sync.world);
    return COVIDCAM_OK;
}

/* The per-channel vector (1, C, 1, 1) in md's layout: oneDNN's fast binary
 * kernels broadcast a vector of the data's own blocked layout only. The
 * layouts oneDNN's convolutions pick are tried; another one gets a plain
 * vector (and the reference kernel). */
static covidcam_status vector_like(cc_tnet *net, const cc_dnn_desc *md, int channels,
                                   const cc_dnn_desc **out, cc_err *e)
{
    static const dnnl_format_tag_t tags4[] = {dnnl_aBcd16b, dnnl_aBcd8b, dnnl_aBcd4b,
                                               dnnl_acdb};
    int ndims = cc_dnn_desc_ndims(md);
    dnnl_dims_t dims, one = {1, channels, 1, 1};
    cc_dnn_desc_dims(md, dims);
    for (size_t i = 0; ndims == 4 && i < sizeof tags4 / sizeof *tags4; i++) {
        const cc_dnn_desc *same = NULL;
        covidcam_status st = cc_tdnn_desc(net, ndims, dims, cc_dnn_desc_dt(md), tags4[i], &same, e);
        if (st)
            return st;
        if (cc_dnn_desc_equal(same, md))
            return cc_tdnn_desc(net, ndims, one, dnnl_f32, tags4[i], out, e);
    }
    return cc_tdnn_desc(net, ndims, one, dnnl_f32, cc_tdnn_plain_tag(ndims), out, e);
}

/* The correction: dst += a (in place), then dst = src0 * b + dst, a and b
 * per channel. Two binary primitives rather than one with a binary post-op:
 * oneDNN 2.6 runs that combination on its slow reference code only. */
static covidcam_status make_fix(cc_tnet *net, tlayer *l, const cc_dnn_desc *md, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    const cc_dnn_desc *vec = NULL;
    dnnl_primitive_desc_t add = NULL, fma = NULL;
    size_t bytes = (size_t)l->channels * sizeof(float);
    CC_TDNN_CHECK(vector_like(net, md, l->channels, &vec, e));
    CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_binary_pd(net->eng, dnnl_binary_add, md, vec, md,
                                                     net->attr, &add),
                                    "batch norm correction", e));
    CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_binary_pd(net->eng, dnnl_binary_mul, md, vec, md,
                                                     net->attr_sum, &fma),
                                    "batch norm correction", e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, add, &l->fix_add, e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, fma, &l->fix, e));
    CC_TDNN_CHECK(cc_tdnn_alloc(net, bytes, (void **)&l->fix_a, e));
    CC_TDNN_CHECK(cc_tdnn_alloc(net, bytes, (void **)&l->fix_b, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, vec, l->fix_a, &l->fix_a_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, vec, l->fix_b, &l->fix_b_mem, e));
fail:
    dnnl_primitive_desc_destroy(add);
    dnnl_primitive_desc_destroy(fma);
    return st;
}

covidcam_status cc_tdnn_bn_sync_setup(cc_tnet *net, tlayer *l, const cc_dnn_desc *md,
                                      unsigned flags, const cc_dnn_desc *ws_md, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_primitive_desc_t pd = NULL;
    const cc_dnn_desc *ws = NULL;
    CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_bn_fwd_pd(net->eng, dnnl_forward_training, md,
                                                     l->bn.eps, flags | dnnl_use_global_stats,
                                                     net->attr, &pd),
                                    "synchronised batch norm", e));
    /* The backward reads the workspace this pass writes in the layout the
     * plain training pass declared. */
    CC_TDNN_CHECK(cc_tdnn_query(net, pd, dnnl_query_workspace_md, &ws, e));
    if (ws_md ? !cc_dnn_desc_equal(ws, ws_md) : cc_dnn_desc_bytes(ws) != 0)
        CC_TDNN_CHECK(cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                              "synchronised batch norm: oneDNN's workspace layouts differ"));
    CC_TDNN_CHECK(cc_tdnn_prim(net, pd, &l->fwd_sync, e));
    CC_TDNN_CHECK(make_fix(net, l, md, e));
    CC_TDNN_CHECK(cc_tdnn_alloc(net, 2 * (size_t)l->channels * sizeof(double), (void **)&l->sums,
                                e));
    l->synced = 1;
fail:
    dnnl_primitive_desc_destroy(pd);
    return st;
}

covidcam_status cc_tdnn_bn_sync_fwd(cc_tnet *net, tlayer *l, int nargs, dnnl_exec_arg_t *args,
                                    cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    int C = l->channels;
    double w = net->sync.world;
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->fwd, nargs, args, e));
    CC_TDNN_TRY(dnnl_stream_wait(net->strm), "stream wait");
    for (int c = 0; c < C; c++) {
        l->sums[c] = l->mean[c];
        l->sums[C + c] = (double)l->var[c] + (double)l->mean[c] * l->mean[c];
    }
    CC_TDNN_CHECK(sum_across(net, l, "statistics", e));
    for (int c = 0; c < C; c++) {
        double mean = l->sums[c] / w, var = l->sums[C + c] / w - mean * mean;
        l->mean[c] = (float)mean;
        l->var[c] = (float)(var > 0 ? var : 0);
    }
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->fwd_sync, nargs, args, e));
fail:
    return st;
}

covidcam_status cc_tdnn_bn_sync_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    int C = l->channels;
    const cc_tbn_params *p = &l->bn;
    double n = l->reduce_n, total = n * net->sync.world;
    CC_TDNN_TRY(dnnl_stream_wait(net->strm), "stream wait");
    for (int c = 0; c < C; c++) {
        l->sums[c] = p->dscale[c];
        l->sums[C + c] = p->dshift[c];
    }
    CC_TDNN_CHECK(sum_across(net, l, "gradient sums", e));
    for (int c = 0; c < C; c++) {
        double sigma = sqrt((double)l->var[c] + p->eps), k = p->scale[c] / sigma;
        double dg = p->dscale[c] / n - l->sums[c] / total;
        double db = p->dshift[c] / n - l->sums[C + c] / total;
        l->fix_b[c] = (float)(k * dg / sigma);
        l->fix_a[c] = (float)(k * (db - dg * l->mean[c] / sigma));
    }
    dnnl_memory_t dx = cc_tdnn_port_diff(&l->in[0]);
    dnnl_exec_arg_t add[] = {ARG(DNNL_ARG_SRC_0, dx), ARG(DNNL_ARG_SRC_1, l->fix_a_mem),
                             ARG(DNNL_ARG_DST, dx)};
    dnnl_exec_arg_t fma[] = {ARG(DNNL_ARG_SRC_0, cc_tdnn_port_src(&l->in[0])),
                             ARG(DNNL_ARG_SRC_1, l->fix_b_mem), ARG(DNNL_ARG_DST, dx)};
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->fix_add, 3, add, e));
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->fix, 3, fma, e));
fail:
    return st;
}
