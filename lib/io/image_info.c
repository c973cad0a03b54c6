#include "image_info.h"

#include <stdio.h>
#include <string.h>

static void start(covidcam_image_info *info, covidcam_image_format f, int w, int h)
{
    covidcam_image_info_init(info);
    info->format = f;
    info->width = w;
    info->height = h;
    info->frames = 1;
}

void cc_info_from_png(const uint8_t *png, int width, int height, covidcam_image_info *info)
{
    static const struct {
        int color_type, channels;
        const char *name;
    } types[] = {{0, 1, "GRAY"}, {2, 3, "RGB"}, {3, 1, "PALETTE"}, {4, 2, "GRAY_ALPHA"},
                 {6, 4, "RGBA"}};
    start(info, COVIDCAM_FORMAT_PNG, width, height);
    info->bits = png[24]; /* IHDR: 8 signature + 8 chunk header + w, h */
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (types[i].color_type == png[25]) {
            info->channels = types[i].channels;
            snprintf(info->photometric, sizeof info->photometric, "%s", types[i].name);
        }
}

void cc_info_from_jpeg(const cc_jpeg_meta *m, int width, int height, covidcam_image_info *info)
{
    start(info, COVIDCAM_FORMAT_JPEG, width, height);
    info->bits = m->bits;
    info->channels = m->components;
    info->orientation = m->orientation;
    snprintf(info->photometric, sizeof info->photometric, "%s", m->photometric);
}

static covidcam_window_source window_source(int s)
{
    switch (s) {
    case CC_DICOM_WINDOW_FILE: return COVIDCAM_WINDOW_FILE;
    case CC_DICOM_WINDOW_VOI_LUT: return COVIDCAM_WINDOW_VOI_LUT;
    case CC_DICOM_WINDOW_RANGE: return COVIDCAM_WINDOW_RANGE;
    default: return COVIDCAM_WINDOW_NONE;
    }
}

void cc_info_from_dicom(const cc_dicom_meta *m, int width, int height,
                        covidcam_image_info *info)
{
    start(info, COVIDCAM_FORMAT_DICOM, width, height);
    info->bits = m->bits_stored;
    info->channels = m->samples_per_pixel;
    info->frames = m->frames;
    snprintf(info->photometric, sizeof info->photometric, "%s", m->photometric);
    snprintf(info->modality, sizeof info->modality, "%s", m->modality);
    snprintf(info->view_position, sizeof info->view_position, "%s", m->view_position);
    snprintf(info->body_part, sizeof info->body_part, "%s", m->body_part);
    snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", m->transfer_syntax);
    info->window_source = window_source(m->window_source);
    info->window_center = m->window_center;
    info->window_width = m->window_width;
}

void cc_info_pixels(int width, int height, covidcam_image_info *info)
{
    start(info, COVIDCAM_FORMAT_PIXELS, width, height);
    info->bits = 8;
    info->channels = 1;
    snprintf(info->photometric, sizeof info->photometric, "GRAY");
}

void cc_info_tensor(int channels, int height, int width, covidcam_image_info *info)
{
    start(info, COVIDCAM_FORMAT_TENSOR, width, height);
    info->bits = 32;
    info->channels = channels;
}

covidcam_status cc_info_check(const covidcam_image_info *dst, cc_err *e)
{
    size_t need = offsetof(covidcam_image_info, format) + sizeof dst->format;
    if (!dst)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "info must not be NULL");
    if (dst->struct_size < need)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "info.struct_size is %zu; call covidcam_image_info_init() first",
                       dst->struct_size);
    return COVIDCAM_OK;
}

covidcam_status cc_info_export(const covidcam_image_info *src, covidcam_image_info *dst,
                               cc_err *e)
{
    covidcam_status st = cc_info_check(dst, e);
    if (st != COVIDCAM_OK)
        return st;
    size_t n = dst->struct_size < sizeof *src ? dst->struct_size : sizeof *src;
    size_t skip = sizeof dst->struct_size;
    memcpy((char *)dst + skip, (const char *)src + skip, n - skip);
    return COVIDCAM_OK;
}
