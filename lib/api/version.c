#include "covidcam.h"

/* CC_VERSION_* come from meson's project() version (lib/meson.build), the one
 * place the version is set; the header's macros must agree. */
_Static_assert(COVIDCAM_VERSION_MAJOR == CC_VERSION_MAJOR &&
                   COVIDCAM_VERSION_MINOR == CC_VERSION_MINOR &&
                   COVIDCAM_VERSION_PATCH == CC_VERSION_PATCH,
               "include/covidcam.h COVIDCAM_VERSION_* differ from meson.build's project version");

const char *covidcam_version(void)
{
    return CC_VERSION_STRING;
}

const char *covidcam_status_string(covidcam_status status)
{
    switch (status) {
    case COVIDCAM_OK: return "ok";
    case COVIDCAM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case COVIDCAM_ERR_IO: return "i/o error";
    case COVIDCAM_ERR_BAD_FORMAT: return "bad format";
    case COVIDCAM_ERR_UNSUPPORTED: return "unsupported";
    case COVIDCAM_ERR_OUT_OF_MEMORY: return "out of memory";
    case COVIDCAM_ERR_BACKEND: return "backend error";
    case COVIDCAM_ERR_LIMIT: return "limit exceeded";
    }
    return "unknown status";
}
