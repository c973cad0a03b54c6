#include "csv_row.h"

#include <stdlib.h>
#include <string.h>

static void field(FILE *f, const char *s, int first)
{
    if (!first)
        fputc(',', f);
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The text of a JSON value (caller frees): strings as they are, numbers as
 * --json prints them, arrays joined with "; ", null/absent as "". */
static char *value_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_true(v) || json_is_false(v))
        return strdup(json_is_true(v) ? "true" : "false");
    if (json_is_array(v)) {
        size_t len = 1, i;
        json_t *x;
        json_array_foreach(v, i, x) len += strlen(json_string_value(x) ? json_string_value(x) : "") + 2;
        char *s = calloc(1, len);
        if (!s)
            return NULL;
        json_array_foreach(v, i, x)
        {
            if (i)
                strcat(s, "; ");
            strcat(s, json_string_value(x) ? json_string_value(x) : "");
        }
        return s;
    }
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
}

static int put(FILE *f, const json_t *v, int first)
{
    char *s = value_text(v);
    if (!s)
        return -1;
    field(f, s, first);
    free(s);
    return 0;
}

static const json_t *extra_value(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v ? v : json_object_get(json_object_get(obj, "outputs"), key);
}

int cli_csv_header(FILE *f, const cli_csv_columns *c)
{
    field(f, "file", 1);
    field(f, "status", 0);
    field(f, "top", 0);
    for (int i = 0; i < covidcam_model_num_classes(c->model); i++)
        field(f, covidcam_model_class_name(c->model, i), 0);
    for (int i = 0; i < c->nextra; i++)
        field(f, c->extra[i], 0);
    static const char *const tail[] = {"ood", "ood_score", "warnings", "error", "file_bytes"};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
        field(f, tail[i], 0);
    fputs("\r\n", f);
    return ferror(f) ? -1 : 0;
}

int cli_csv_row(FILE *f, const cli_csv_columns *c, const json_t *obj)
{
    const json_t *status = json_object_get(obj, "status");
    const json_t *probs = json_object_get(obj, "probabilities");
    int bad = put(f, json_object_get(obj, "file"), 1);
    field(f, status ? json_string_value(status) : "ok", 0);
    bad |= put(f, json_object_get(obj, "top"), 0);
    for (int i = 0; i < covidcam_model_num_classes(c->model); i++)
        bad |= put(f, json_object_get(probs, covidcam_model_class_name(c->model, i)), 0);
    for (int i = 0; i < c->nextra; i++)
        bad |= put(f, extra_value(obj, c->extra[i]), 0);
    static const char *const tail[] = {"ood", "ood_score", "warnings", "error", "file_bytes"};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
        bad |= put(f, json_object_get(obj, tail[i]), 0);
    fputs("\r\n", f);
    fflush(f);
    return bad || ferror(f) ? -1 : 0;
}
