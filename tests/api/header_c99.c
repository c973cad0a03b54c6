/* include/covidcam.h must be self-contained, strict C99 (built with
 * -std=c99 -pedantic-errors -Werror by tests/api/meson.build). */
#include "covidcam.h"

/* The API's types and macros are usable from C99. */
typedef char check_ok_is_zero[COVIDCAM_OK == 0 ? 1 : -1];
typedef char check_errbuf[COVIDCAM_ERRBUF_SIZE >= 256 ? 1 : -1];

int covidcam_header_check(void);

int covidcam_header_check(void)
{
    covidcam_session_options o;
    covidcam_gradcam_options g;
    covidcam_status st = COVIDCAM_ERR_LIMIT;
    o.struct_size = sizeof o;
    g.struct_size = sizeof g;
    g.method = COVIDCAM_CAM_LAYERCAM;
    o.precision = COVIDCAM_PRECISION_FP32;
    return (int)st + (int)o.struct_size + (int)g.method + (int)o.precision;
}
