// include/covidcam.h compiles as C++11 with -pedantic-errors -Werror and gives
// its functions C linkage: redeclaring them extern "C" below is an error if the
// header declared them with C++ linkage.
#include "covidcam.h"

extern "C" {
const char *covidcam_version(void);
const char *covidcam_status_string(covidcam_status status);
covidcam_status covidcam_model_load(const char *path, covidcam_model **out, char *errbuf,
                                    size_t errbuf_size);
void covidcam_model_free(covidcam_model *model);
covidcam_status covidcam_session_create(const covidcam_model *model,
                                        const covidcam_session_options *options,
                                        covidcam_session **out, char *errbuf,
                                        size_t errbuf_size);
covidcam_status covidcam_classify_pixels(covidcam_session *session, const uint8_t *pixels,
                                         int width, int height, size_t stride,
                                         float *probabilities, float *logits, size_t capacity,
                                         int *top_class);
covidcam_status covidcam_gradcam_file(covidcam_session *session, const char *path,
                                      const covidcam_gradcam_options *options,
                                      covidcam_heatmap **out);
void covidcam_heatmap_free(covidcam_heatmap *heatmap);
}

static_assert(COVIDCAM_OK == 0, "COVIDCAM_OK is 0");

int covidcam_header_check_cxx();

int covidcam_header_check_cxx()
{
    covidcam_session_options o = covidcam_session_options();
    o.struct_size = sizeof o;
    return static_cast<int>(o.struct_size);
}
