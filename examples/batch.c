#include "batch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json_escape.h"
#include "pool.h"
#include "progress.h"

void cli_append(char **s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t old = *s ? strlen(*s) : 0;
    char *t = realloc(*s, old + (size_t)n + 1);
    if (!t)
        return;
    va_start(ap, fmt);
    vsnprintf(t + old, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = t;
}

void cli_result_error(cli_result *r, const char *prog, const char *file, covidcam_status st,
                      const char *msg)
{
    cli_append(&r->err, "%s: %s: %s: %s\n", prog, file, covidcam_status_string(st), msg);
    json_decref(r->obj);
    r->obj = cli_json_error(file, covidcam_status_string(st), msg);
    r->status = (int)st;
}

int cli_expand(const char *prog, int argc, char **argv, const char *pattern, cli_inputs *in)
{
    for (int i = 0; i < argc; i++)
        if (cli_inputs_add(in, prog, argv[i], pattern, stdin))
            return -1;
    if (in->count)
        return 0;
    fprintf(stderr, "%s: no images found in the given folders or list\n", prog);
    return 1;
}

FILE *cli_open_csv(const char *prog, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
    return f;
}

typedef struct run {
    cli_batch *b;
    cli_result *res;
    cli_progress progress;
    int failed;
} run;

static void work(void *session, size_t i, void *shared)
{
    run *r = shared;
    const cli_input *item = &r->b->in->item[i];
    cli_result *res = &r->res[i];
    if (item->status) {
        cli_result_error(res, r->b->prog, item->path, (covidcam_status)item->status,
                         item->error);
        return;
    }
    r->b->image(session, item, i, res, r->b->tool);
}

/* Chunk c: images c * chunk_size on, in one batch call. */
static void work_chunk(void *session, size_t c, void *shared)
{
    run *r = shared;
    size_t first = c * (size_t)r->b->chunk_size, n = r->b->in->count;
    int count = (int)(n - first < (size_t)r->b->chunk_size ? n - first : (size_t)r->b->chunk_size);
    const cli_input *items = &r->b->in->item[first];
    for (int k = 0; k < count; k++)
        if (items[k].status)
            cli_result_error(&r->res[first + k], r->b->prog, items[k].path,
                             (covidcam_status)items[k].status, items[k].error);
    r->b->chunk(session, items, count, &r->res[first], r->b->tool);
}

static void write_line(FILE *f, const json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (s)
        fprintf(f, "%s\n", s);
    else
        cli_fprint_json_failure(f);
    free(s);
    fflush(f);
}

static void emit(size_t i, void *shared)
{
    run *r = shared;
    cli_batch *b = r->b;
    cli_result *res = &r->res[i];
    if (res->err) {
        cli_progress_clear(&r->progress);
        fputs(res->err, stderr);
    }
    if (b->json)
        write_line(stdout, res->obj);
    else if (res->out)
        fputs(res->out, stdout);
    fflush(stdout);
    if (b->index_jsonl)
        write_line(b->index_jsonl, res->obj);
    FILE *csv[2] = {b->csv, b->index_csv};
    for (int k = 0; k < 2; k++)
        if (csv[k] && (!res->obj || cli_csv_row(csv[k], &b->columns, res->obj))) {
            cli_progress_clear(&r->progress);
            fprintf(stderr, "%s: %s: cannot write its CSV row\n", b->prog, b->in->item[i].path);
            res->status = res->status ? res->status : -1;
        }
    if (res->status)
        r->failed = 1;
    cli_progress_step(&r->progress, res->status, res->top);
    json_decref(res->obj);
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

static void emit_chunk(size_t c, void *shared)
{
    run *r = shared;
    size_t first = c * (size_t)r->b->chunk_size, n = r->b->in->count;
    for (size_t i = first; i < n && i < first + (size_t)r->b->chunk_size; i++)
        emit(i, shared);
}

int cli_batch_run(cli_batch *b, covidcam_session **sessions, int jobs)
{
    size_t n = b->in->count;
    run r = {.b = b, .res = calloc(n ? n : 1, sizeof *r.res)};
    int show = !b->quiet && (n > 1 || b->in->any_folder);
    if (!r.res || cli_progress_start(&r.progress, b->prog, b->model, n, show)) {
        fprintf(stderr, "%s: out of memory\n", b->prog);
        free(r.res);
        return 1;
    }
    FILE *csv[2] = {b->csv, b->index_csv};
    for (int k = 0; k < 2; k++)
        if (csv[k] && cli_csv_header(csv[k], &b->columns))
            r.failed = 1;
    int chunked = b->chunk && b->chunk_size > 1;
    size_t units = chunked ? (n + (size_t)b->chunk_size - 1) / (size_t)b->chunk_size : n;
    if (cli_pool_run(units, jobs, (void **)sessions, chunked ? work_chunk : work,
                     chunked ? emit_chunk : emit, &r)) {
        fprintf(stderr, "%s: cannot start worker threads\n", b->prog);
        r.failed = 1;
    }
    cli_progress_finish(&r.progress, show, b->in->not_images, b->in->not_files);
    free(r.res);
    return r.failed;
}
