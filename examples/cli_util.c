#include "cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double cli_round3(double x)
{
    return round(x * 1e3) / 1e3;
}

int cli_parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* The negated comparisons also reject NaN. */
    if (errno || end == s || *end || !(v >= lo) || !(v <= hi))
        return -1;
    *out = v;
    return 0;
}

json_t *cli_json_float(float f)
{
    char buf[32];
    /* 9 significant digits always round-trip a float; fewer usually do. */
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f)
            break;
    }
    return json_real(strtod(buf, NULL));
}

json_t *cli_json_class_map(const covidcam_model *model, const float *values)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (int i = 0; i < covidcam_model_num_classes(model); i++) {
        if (json_object_set_new(obj, covidcam_model_class_name(model, i),
                                cli_json_float(values[i]))) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

int cli_print_json(json_t *obj)
{
    if (!obj)
        return -1;
    /* Precision 9 prints cli_json_float() values in their shortest form. */
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    if (!s)
        return -1;
    int rc = puts(s) < 0 ? -1 : 0;
    free(s);
    return rc;
}

int cli_open(const char *prog, const char *path, int threads, covidcam_model **model,
             covidcam_session **session)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    covidcam_session_options opt;
    covidcam_status rc = covidcam_model_load(path, &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: cannot load model %s: %s: %s\n", prog, path,
                covidcam_status_string(rc), err);
        return -1;
    }
    covidcam_session_options_init(&opt);
    opt.num_threads = threads;
    rc = covidcam_session_create(m, &opt, &s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: cannot create a session: %s: %s\n", prog,
                covidcam_status_string(rc), err);
        covidcam_model_free(m);
        return -1;
    }
    *model = m;
    *session = s;
    return 0;
}

int cli_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && strcasecmp(base + n - 4, ".png") == 0)
        n -= 4;
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, base, n);
    out[n] = '\0';
    return 0;
}
