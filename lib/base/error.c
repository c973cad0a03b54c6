#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages up to this long are formatted on the stack before shortening. */
#define CC_FULL_MSG 8192

static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 in UTF-8 */

static int utf8_continuation(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/* Copy `full` (n bytes) into dst (size bytes). When it does not fit, keep its
 * head and tail with an ellipsis in the middle: the head names the culprit
 * ("cannot open /long/path..."), the tail says why ("...: File name too long"),
 * and a long path in between is what can go. Cuts fall on UTF-8 boundaries. */
static void elide(char *dst, size_t size, const char *full, size_t n)
{
    if (n < size) {
        memcpy(dst, full, n + 1);
        return;
    }
    size_t room = size - 1 - (sizeof ellipsis - 1);
    size_t head = room / 2, tail = room - head;
    while (head > 0 && utf8_continuation(full[head]))
        head--;
    size_t from = n - tail;
    while (from < n && utf8_continuation(full[from]))
        from++;
    memcpy(dst, full, head);
    memcpy(dst + head, ellipsis, sizeof ellipsis - 1);
    memcpy(dst + head + sizeof ellipsis - 1, full + from, n - from);
    dst[head + sizeof ellipsis - 1 + (n - from)] = '\0';
}

static void set_message(cc_err *e, const char *fmt, va_list ap)
{
    char stack[CC_FULL_MSG];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    if (n < 0) {
        snprintf(e->msg, sizeof e->msg, "(unformattable message: %s)", fmt);
    } else if ((size_t)n < sizeof stack) {
        elide(e->msg, sizeof e->msg, stack, (size_t)n);
    } else {
        char *heap = malloc((size_t)n + 1);
        if (heap && vsnprintf(heap, (size_t)n + 1, fmt, again) == n)
            elide(e->msg, sizeof e->msg, heap, (size_t)n);
        else
            elide(e->msg, sizeof e->msg, stack, sizeof stack - 1);
        free(heap);
    }
    va_end(again);
}

covidcam_status cc_fail(cc_err *e, covidcam_status st, const char *fmt, ...)
{
    if (!e)
        return st;
    va_list ap;
    va_start(ap, fmt);
    set_message(e, fmt, ap);
    va_end(ap);
    return st;
}

static void set_formatted(cc_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_formatted(cc_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(e, fmt, ap);
    va_end(ap);
}

void cc_err_prefix(cc_err *e, const char *fmt, ...)
{
    if (!e)
        return;
    char prefix[CC_FULL_MSG];
    char old[COVIDCAM_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    set_formatted(e, "%s: %s", prefix, old);
}

void cc_err_export(const cc_err *e, char *errbuf, size_t errbuf_size)
{
    if (!e || !errbuf || errbuf_size == 0)
        return;
    snprintf(errbuf, errbuf_size, "%s", e->msg);
}
