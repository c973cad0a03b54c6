#include "json_escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4)
        return 0;
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int cli_is_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

char *cli_utf8_text(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1); /* each bad byte becomes 3 bytes */
    if (!out)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n) {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    out[o] = '\0';
    return out;
}

json_t *cli_json_text(const char *s)
{
    if (cli_is_utf8(s))
        return json_string(s);
    char *out = cli_utf8_text(s);
    if (!out)
        return NULL;
    json_t *j = json_string(out);
    free(out);
    return j;
}

int cli_json_set_file(json_t *obj, const char *key, const char *path)
{
    if (json_object_set_new(obj, key, cli_json_text(path)))
        return -1;
    if (cli_is_utf8(path))
        return 0;
    size_t len = strlen(path);
    char *hex = malloc(2 * len + 1);
    if (!hex)
        return -1;
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)path[i]);
    char name[64];
    snprintf(name, sizeof name, "%s_bytes", key);
    int rc = json_object_set_new(obj, name, json_string(hex));
    free(hex);
    return rc;
}

void cli_fprint_json_failure(FILE *f)
{
    fputs("{\"status\":\"out of memory\",\"error\":\"cannot format the JSON line\"}\n", f);
}

void cli_print_json_failure(void)
{
    cli_fprint_json_failure(stdout);
}

json_t *cli_json_error(const char *file, const char *status, const char *msg)
{
    json_t *o = json_object();
    if (!o || cli_json_set_file(o, "file", file) ||
        json_object_set_new(o, "status", json_string(status)) ||
        json_object_set_new(o, "error", cli_json_text(msg))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void cli_fprint_error_json(FILE *f, const char *file, const char *status, const char *msg)
{
    json_t *o = cli_json_error(file, status, msg);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line) {
        cli_fprint_json_failure(f);
        return;
    }
    fprintf(f, "%s\n", line);
    free(line);
}

void cli_print_error_json(const char *file, const char *status, const char *msg)
{
    cli_fprint_error_json(stdout, file, status, msg);
}
