#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

covidcam_status cc_fail(cc_err *e, covidcam_status st, const char *fmt, ...)
{
    if (!e)
        return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return st;
}

void cc_err_prefix(cc_err *e, const char *fmt, ...)
{
    if (!e)
        return;
    char prefix[COVIDCAM_ERRBUF_SIZE];
    char old[COVIDCAM_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Truncation keeps the start of the message, which names the culprit. */
    size_t n = strnlen(prefix, sizeof e->msg - 1);
    memcpy(e->msg, prefix, n);
    if (n + 2 < sizeof e->msg) {
        memcpy(e->msg + n, ": ", 2);
        n += 2;
    }
    size_t rest = strnlen(old, sizeof old);
    if (rest > sizeof e->msg - 1 - n)
        rest = sizeof e->msg - 1 - n;
    memcpy(e->msg + n, old, rest);
    e->msg[n + rest] = '\0';
}

void cc_err_export(const cc_err *e, char *errbuf, size_t errbuf_size)
{
    if (!e || !errbuf || errbuf_size == 0)
        return;
    snprintf(errbuf, errbuf_size, "%s", e->msg);
}
