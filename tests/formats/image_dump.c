/* image_dump FILE...: decode each file with the library's image layer and
 * write, per file, a line "format width height" then width*height gray bytes
 * to stdout (or "error STATUS message" and no bytes). For tests that compare
 * the library with another decoder. */
#include <stdio.h>

#include "image_io.h"

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        cc_err e = {{0}};
        cc_image img;
        covidcam_image_info info;
        covidcam_status st = cc_image_read_file(argv[i], &img, &info, &e);
        if (st != COVIDCAM_OK) {
            printf("error %d %s\n", (int)st, e.msg);
            bad = 1;
            continue;
        }
        printf("%d %d %d %s\n", (int)info.format, img.width, img.height, info.photometric);
        fwrite(img.pixels, 1, (size_t)img.width * img.height, stdout);
        cc_image_free(&img);
    }
    return fflush(stdout) != 0 || bad;
}
