#include "options.h"

#include <string.h>

covidcam_status cc_options_read(const void *user, size_t min_size, size_t known_end,
                                size_t our_size, void *out, const char *what, cc_err *e)
{
    size_t size;
    memcpy(&size, user, sizeof size); /* struct_size is the first field of every option struct */
    if (size < min_size)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "%s.struct_size is %zu, less than the %zu bytes of the smallest version; "
                       "initialise the struct with its _init function",
                       what, size, min_size);
    /* An uninitialised struct_size must not send the check below reading far
     * past the caller's struct; no version will come near this size. */
    if (size > CC_OPTIONS_MAX_SIZE)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "%s.struct_size is %zu, more than any version's (%d bytes at most); "
                       "initialise the struct with its _init function",
                       what, size, CC_OPTIONS_MAX_SIZE);
    const unsigned char *p = user;
    for (size_t i = our_size; i < size; i++)
        if (p[i])
            return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                           "%s sets byte %zu of %zu, a field newer than this library (%s), which "
                           "knows %zu bytes",
                           what, i, size, covidcam_version(), our_size);
    memcpy(out, user, size < known_end ? size : known_end);
    return COVIDCAM_OK;
}
