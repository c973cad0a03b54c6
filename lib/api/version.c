#include "covidcam.h"

#define CC_STR2(x) #x
#define CC_STR(x) CC_STR2(x)

const char *covidcam_version(void)
{
    return CC_STR(COVIDCAM_VERSION_MAJOR) "." CC_STR(COVIDCAM_VERSION_MINOR) "." CC_STR(
        COVIDCAM_VERSION_PATCH);
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
