#include "q_val.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "q_images.h"

#define Q_MAX_CLASSES 1000

static int open_session(const char *prog, const covidcam_model *model, int threads,
                        covidcam_precision p, covidcam_session **s)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = threads;
    o.precision = p;
    if (covidcam_session_create(model, &o, s, err, sizeof err) == COVIDCAM_OK)
        return 0;
    fprintf(stderr, "%s: cannot create a %s session: %s\n", prog, covidcam_precision_name(p),
            err);
    return -1;
}

/* One image in both sessions into the tally. */
static int one(const char *prog, covidcam_session *s[2], const cli_input *item, int label,
               int nc, q_val *v)
{
    float p[2][Q_MAX_CLASSES];
    int top[2];
    for (int k = 0; k < 2; k++)
        if (covidcam_classify_file(s[k], item->path, p[k], NULL, Q_MAX_CLASSES, &top[k])) {
            fprintf(stderr, "%s: %s: %s\n", prog, item->path, covidcam_session_last_error(s[k]));
            return -1;
        }
    v->images++;
    v->fp32_correct += top[0] == label;
    v->int8_correct += top[1] == label;
    v->agree += top[0] == top[1];
    for (int c = 0; c < nc; c++)
        v->max_dprob = fmax(v->max_dprob, fabs((double)p[1][c] - p[0][c]));
    return 0;
}

int q_val_run(const char *prog, const covidcam_model *model, int threads, const cli_inputs *in,
              const size_t *idx, long n, q_val *out)
{
    covidcam_session *s[2] = {NULL, NULL};
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (open_session(prog, model, threads, COVIDCAM_PRECISION_FP32, &s[0]) ||
        open_session(prog, model, threads, COVIDCAM_PRECISION_INT8, &s[1]))
        goto done;
    for (long i = 0; i < n; i++) {
        const cli_input *item = &in->item[idx[i]];
        char cls[256];
        int label = covidcam_model_class_index(model, q_class_of(item, cls, sizeof cls));
        if (label < 0) {
            fprintf(stderr, "%s: %s: the folder '%s' is none of the model's classes (--val "
                            "wants DIR/<class>/<image>)\n",
                    prog, item->path, cls);
            goto done;
        }
        if (one(prog, s, item, label, covidcam_model_num_classes(model), out))
            goto done;
    }
    rc = 0;
done:
    covidcam_session_free(s[0]);
    covidcam_session_free(s[1]);
    return rc;
}
