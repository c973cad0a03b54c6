// A C++ program linked against libcovidcam.so: the exported C symbols resolve
// from C++ and behave as documented.
#include <cstdio>
#include <cstring>

#include "covidcam.h"

int main()
{
    char want[32];
    std::snprintf(want, sizeof want, "%d.%d.%d", COVIDCAM_VERSION_MAJOR, COVIDCAM_VERSION_MINOR,
                  COVIDCAM_VERSION_PATCH);
    const char *v = covidcam_version();
    if (!v || std::strcmp(v, want) != 0) {
        std::printf("covidcam_version() = %s, expected %s\n", v ? v : "(null)", want);
        return 1;
    }
    covidcam_model *m = nullptr;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = covidcam_model_load("/nonexistent-covidcam-dir/m.safetensors", &m, err,
                                             sizeof err);
    if (st != COVIDCAM_ERR_IO || m != nullptr || !std::strstr(err, "m.safetensors")) {
        std::printf("loading a missing file: %s (%s)\n", covidcam_status_string(st), err);
        return 1;
    }
    covidcam_model_free(m);
    std::printf("libcovidcam %s from C++: ok\n", v);
    return 0;
}
