// DICOM decoding to 8-bit gray on DCMTK (dcmdata parses, dcmjpeg / dcmjpls /
// the RLE codec decompress, dcmimgle / dcmimage render). The rules and the
// exact 8-bit mapping are in docs/preprocessing.md; why DCMTK in
// docs/building.md. Everything here is C++ with C linkage at the edge: no
// exception leaves cc_dicom_decode_gray.
#include "dicom_io.h"
#include "dicom_frag.h"
#include "dicom_walk.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmdata/dccodec.h"
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"
// Color support of DicomImage: the header defines one static registration
// object that points dcmimgle at dcmimage's color classes when the library
// is loaded (DCMTK's documented mechanism; the pointer never changes after).
#include "dcmtk/dcmimage/diregist.h"

namespace
{

// What the decoder needs to know before any pixel is touched.
struct pixel_layout {
    Uint16 rows = 0, cols = 0, spp = 0, bits_alloc = 0, bits_stored = 0, high_bit = 0, pixrep = 0;
    long frames = 1;
    OFString photometric;
};

// DCMTK keeps its codecs in one process-wide registry (DcmCodecList) and its
// logging configuration in oflog. Both are set up here exactly once, under
// std::call_once, and are only read afterwards: DcmCodecList guards its list
// with a read/write lock, so concurrent decodes are safe. Registering is not
// itself thread-safe in DCMTK (a plain static flag), hence the once. The
// library's rule "no global mutable state" is about its own objects; this is
// the toolkit's registry, immutable after the first call.
//
// DCMTK's loggers print warnings about damaged files to stderr; a library
// reports through its error messages instead, so the "dcmtk" logger tree is
// switched off. (An application that uses DCMTK itself and wants those
// messages can raise the level again after its first DICOM decode.)
std::once_flag toolkit_once;

void toolkit_init()
{
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    OFLog::getLogger("dcmtk").setLogLevel(OFLogger::OFF_LOG_LEVEL);
}

// Copy a DICOM string into a fixed field: trimmed of padding (spaces, NUL),
// only printable ASCII (others become '?'), truncated to fit.
void copy_field(char *dst, size_t size, const char *src)
{
    dst[0] = '\0';
    if (!src)
        return;
    size_t n = strlen(src);
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
        n--;
    size_t i = 0;
    while (i < n && src[i] == ' ')
        i++;
    size_t k = 0;
    for (; i < n && k + 1 < size; i++, k++) {
        unsigned char c = static_cast<unsigned char>(src[i]);
        dst[k] = (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    dst[k] = '\0';
}

void copy_string(DcmItem *ds, const DcmTagKey &tag, char *dst, size_t size)
{
    OFString v;
    if (ds->findAndGetOFString(tag, v).good())
        copy_field(dst, size, v.c_str());
    else
        dst[0] = '\0';
}

// A printable version of a UID or short value, for messages.
const char *printable(const char *s, char *buf, size_t size)
{
    copy_field(buf, size, s);
    return buf;
}

// Map a failed dcmdata read to a status and message.
covidcam_status read_failure(const OFCondition &c, cc_err *e)
{
    if (c == EC_MemoryExhausted)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory parsing the DICOM file");
    if (c == EC_StreamNotifyClient || c == EC_EndOfStream || c == EC_PrematureSequDelimitationItem ||
        c == EC_SequDelimitationItemMissing || c == EC_ItemDelimitationItemMissing)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "truncated DICOM file: %s", c.text());
    return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "corrupt DICOM file: %s", c.text());
}

covidcam_status no_pixel_data(DcmDataset *ds, cc_err *e)
{
    if (ds->tagExists(DCM_FloatPixelData) || ds->tagExists(DCM_DoubleFloatPixelData))
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "DICOM file holds float pixel data (7FE0,0008/0009), not an image of "
                       "integer pixels (7FE0,0010)");
    OFString sop, modality;
    ds->findAndGetOFString(DCM_SOPClassUID, sop);
    ds->findAndGetOFString(DCM_Modality, modality);
    char sbuf[65], mbuf[17];
    printable(sop.c_str(), sbuf, sizeof sbuf);
    printable(modality.c_str(), mbuf, sizeof mbuf);
    return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                   "DICOM file has no pixel data (7FE0,0010): SOP class %s (%s), modality %s",
                   sbuf[0] ? sbuf : "absent", sbuf[0] ? dcmFindNameOfUID(sbuf, "unknown") : "-",
                   mbuf[0] ? mbuf : "absent");
}

covidcam_status get_u16(DcmDataset *ds, const DcmTagKey &tag, const char *name, Uint16 *v, cc_err *e)
{
    OFCondition c = ds->findAndGetUint16(tag, *v);
    if (c.bad())
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM image without a valid %s (%04X,%04X): %s", name,
                       tag.getGroup(), tag.getElement(), c.text());
    return COVIDCAM_OK;
}

// Read and check the image pixel module before any pixel is decoded.
covidcam_status read_layout(DcmDataset *ds, pixel_layout *lay, cc_err *e)
{
    covidcam_status st;
    if ((st = get_u16(ds, DCM_Rows, "Rows", &lay->rows, e)) ||
        (st = get_u16(ds, DCM_Columns, "Columns", &lay->cols, e)) ||
        (st = get_u16(ds, DCM_SamplesPerPixel, "SamplesPerPixel", &lay->spp, e)) ||
        (st = get_u16(ds, DCM_BitsAllocated, "BitsAllocated", &lay->bits_alloc, e)) ||
        (st = get_u16(ds, DCM_BitsStored, "BitsStored", &lay->bits_stored, e)))
        return st;
    if (ds->findAndGetUint16(DCM_HighBit, lay->high_bit).bad())
        lay->high_bit = static_cast<Uint16>(lay->bits_stored - 1);
    if (ds->findAndGetUint16(DCM_PixelRepresentation, lay->pixrep).bad())
        lay->pixrep = 0;
    if (lay->rows == 0 || lay->cols == 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM image of %u rows x %u columns (0028,0010/0011)",
                       lay->rows, lay->cols);
    if (lay->rows > COVIDCAM_MAX_IMAGE_DIM || lay->cols > COVIDCAM_MAX_IMAGE_DIM)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "DICOM image of rows %u x columns %u (0028,0010/0011): over the limit of %u per side",
                       lay->rows, lay->cols, COVIDCAM_MAX_IMAGE_DIM);
    unsigned long long npix = static_cast<unsigned long long>(lay->rows) * lay->cols;
    if (npix > COVIDCAM_MAX_IMAGE_PIXELS)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "DICOM image of %u x %u = %llu pixels: over the limit of %u pixels", lay->rows,
                       lay->cols, npix, COVIDCAM_MAX_IMAGE_PIXELS);
    if (lay->spp != 1 && lay->spp != 3)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "DICOM SamplesPerPixel (0028,0002) %u: only 1 (gray) and 3 (color) are supported",
                       lay->spp);
    if (lay->bits_alloc != 8 && lay->bits_alloc != 16)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "DICOM BitsAllocated (0028,0100) %u: only 8 and 16 are supported", lay->bits_alloc);
    if (lay->bits_stored < 1 || lay->bits_stored > lay->bits_alloc)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "DICOM BitsStored (0028,0101) %u does not fit BitsAllocated (0028,0100) %u",
                       lay->bits_stored, lay->bits_alloc);
    if (lay->high_bit < lay->bits_stored - 1 || lay->high_bit >= lay->bits_alloc)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "DICOM HighBit (0028,0102) %u does not fit BitsStored %u in BitsAllocated %u",
                       lay->high_bit, lay->bits_stored, lay->bits_alloc);
    if (lay->pixrep > 1)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM PixelRepresentation (0028,0103) %u (0 or 1)",
                       lay->pixrep);
    Sint32 frames = 1;
    if (ds->tagExists(DCM_NumberOfFrames) && ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad())
        frames = 0;
    if (frames < 1)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "DICOM NumberOfFrames (0028,0008) is not a positive number");
    lay->frames = frames;
    ds->findAndGetOFString(DCM_PhotometricInterpretation, lay->photometric);
    return COVIDCAM_OK;
}

// The transfer syntax is one DCMTK reads natively or has a registered decoder for.
covidcam_status check_transfer_syntax(E_TransferSyntax xfer, const char *uid, cc_err *e)
{
    char ubuf[65];
    printable(uid, ubuf, sizeof ubuf);
    if (xfer == EXS_Unknown)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED, "unknown DICOM transfer syntax %s",
                       ubuf[0] ? ubuf : "(absent)");
    DcmXfer x(xfer);
    if (!x.isEncapsulated())
        return COVIDCAM_OK;
    if (DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit))
        return COVIDCAM_OK;
    const char *why = "";
    if (strncmp(x.getXferID(), "1.2.840.10008.1.2.4.9", 21) == 0 ||
        strncmp(x.getXferID(), "1.2.840.10008.1.2.4.20", 22) == 0)
        why = ": the free DCMTK has no JPEG 2000 decoder";
    return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED, "DICOM transfer syntax %s (%s) cannot be decoded%s",
                   x.getXferName(), x.getXferID(), why);
}

// Native pixel data must hold the whole first frame.
covidcam_status check_native_length(DcmDataset *ds, const pixel_layout &lay, cc_err *e)
{
    DcmElement *px = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, px).bad() || !px)
        return no_pixel_data(ds, e);
    unsigned long long need =
        static_cast<unsigned long long>(lay.rows) * lay.cols * lay.spp * (lay.bits_alloc / 8);
    unsigned long long have = px->getLength();
    if (have < need)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "DICOM pixel data (7FE0,0010) has %llu bytes, the first frame of %u x %u x %u "
                       "samples of %u bits needs %llu",
                       have, lay.rows, lay.cols, lay.spp, lay.bits_alloc, need);
    return COVIDCAM_OK;
}

covidcam_status image_failure(EI_Status s, cc_err *e)
{
    if (s == EIS_MemoryFailure)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory decoding the DICOM pixel data");
    if (s == EIS_NotSupportedValue)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED, "DICOM pixel data: %s", DicomImage::getString(s));
    return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM pixel data cannot be decoded: %s",
                   DicomImage::getString(s));
}

// Pick the VOI transformation (VOI LUT, the first window, or the full range
// of the stored bits through the modality step) and report it in *meta.
covidcam_status set_voi(DcmDataset *ds, DicomImage *di, cc_dicom_meta *m, cc_err *e)
{
    DcmItem *lut_item = nullptr;
    if (ds->findAndGetSequenceItem(DCM_VOILUTSequence, lut_item, 0).good() && lut_item &&
        di->getVoiLutCount() > 0 && di->setVoiLut(0)) {
        Uint16 n = 0, first = 0;
        lut_item->findAndGetUint16(DCM_LUTDescriptor, n, 0);
        lut_item->findAndGetUint16(DCM_LUTDescriptor, first, 1);
        double count = n == 0 ? 65536.0 : n;
        m->window_source = CC_DICOM_WINDOW_VOI_LUT;
        m->window_center = first + count / 2;
        m->window_width = count;
        return COVIDCAM_OK;
    }
    Float64 c = 0, w = 0;
    if (ds->findAndGetFloat64(DCM_WindowCenter, c, 0).good() &&
        ds->findAndGetFloat64(DCM_WindowWidth, w, 0).good() && w >= 1 && c == c) {
        if (!di->setWindow(c, w))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "DICOM window center %g width %g (0028,1050/1051) refused", c, w);
        m->window_source = CC_DICOM_WINDOW_FILE;
        m->window_center = c;
        m->window_width = w;
        return COVIDCAM_OK;
    }
    double lo = 0, hi = 0;
    if (!di->getMinMaxValues(lo, hi, 1))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM pixel value range cannot be determined");
    w = hi - lo + 1;
    c = lo + w / 2;
    if (!di->setWindow(c, w))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM pixel range %g..%g cannot be windowed", lo, hi);
    m->window_source = CC_DICOM_WINDOW_RANGE;
    m->window_center = c;
    m->window_width = w;
    return COVIDCAM_OK;
}

// Gray from DCMTK's 8-bit RGB with the PNG decoder's weights (lib/io/png_io.h),
// so a color DICOM and a PNG of the same pixels give the same gray.
void rgb_to_gray(const uint8_t *rgb, uint8_t *gray, size_t n)
{
    for (size_t i = 0; i < n; i++, rgb += 3) {
        unsigned r = rgb[0], g = rgb[1], b = rgb[2];
        gray[i] = (r == g && g == b) ? static_cast<uint8_t>(r)
                                     : static_cast<uint8_t>((6968 * r + 23434 * g + 2366 * b) >> 15);
    }
}

covidcam_status render(DcmDataset *ds, E_TransferSyntax xfer, const pixel_layout &lay, cc_image *out,
                       cc_dicom_meta *m, cc_err *e)
{
    // Only the first frame is read (and, when compressed, decompressed).
    DicomImage di(ds, xfer, CIF_UsePartialAccessToPixelData, 0, 1);
    if (di.getStatus() != EIS_Normal)
        return image_failure(di.getStatus(), e);
    if (di.getWidth() != lay.cols || di.getHeight() != lay.rows)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM pixel data decodes to %lu x %lu, not %u x %u",
                       di.getWidth(), di.getHeight(), lay.cols, lay.rows);
    size_t n = static_cast<size_t>(lay.rows) * lay.cols;
    const uint8_t *px;
    if (di.isMonochrome()) {
        covidcam_status st = set_voi(ds, &di, m, e);
        if (st)
            return st;
        px = static_cast<const uint8_t *>(di.getOutputData(8, 0, 0));
    } else {
        m->window_source = CC_DICOM_WINDOW_RANGE;
        m->window_center = 128;
        m->window_width = 256;
        px = static_cast<const uint8_t *>(di.getOutputData(8, 0, 0));
    }
    if (!px)
        return image_failure(di.getStatus() != EIS_Normal ? di.getStatus() : EIS_InvalidImage, e);
    uint8_t *pixels = static_cast<uint8_t *>(malloc(n));
    if (!pixels)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %u x %u image", lay.cols,
                       lay.rows);
    if (di.isMonochrome())
        memcpy(pixels, px, n);
    else
        rgb_to_gray(px, pixels, n);
    out->width = lay.cols;
    out->height = lay.rows;
    out->pixels = pixels;
    return COVIDCAM_OK;
}

void fill_meta(DcmDataset *ds, const char *xfer_uid, const pixel_layout &lay, cc_dicom_meta *m)
{
    copy_field(m->transfer_syntax, sizeof m->transfer_syntax, xfer_uid);
    copy_field(m->photometric, sizeof m->photometric, lay.photometric.c_str());
    copy_string(ds, DCM_Modality, m->modality, sizeof m->modality);
    copy_string(ds, DCM_ViewPosition, m->view_position, sizeof m->view_position);
    copy_string(ds, DCM_BodyPartExamined, m->body_part, sizeof m->body_part);
    m->bits_stored = lay.bits_stored;
    m->samples_per_pixel = lay.spp;
    m->is_signed = lay.pixrep == 1;
    m->frames = static_cast<int>(lay.frames > 0x7fffffff ? 0x7fffffff : lay.frames);
    Float64 slope = 1, icpt = 0;
    if (ds->findAndGetFloat64(DCM_RescaleSlope, slope).bad())
        slope = 1;
    if (ds->findAndGetFloat64(DCM_RescaleIntercept, icpt).bad())
        icpt = 0;
    m->rescale_slope = slope;
    m->rescale_intercept = icpt;
}

covidcam_status decode(const uint8_t *p, size_t len, cc_image *out, cc_dicom_meta *meta, cc_err *e)
{
    std::call_once(toolkit_once, toolkit_init);
    if (!dcmDataDict.isDictionaryLoaded())
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "DCMTK's DICOM data dictionary is not loaded (check DCMDICTPATH)");
    if (!cc_dicom_sniff(p, len))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "not DICOM: no \"DICM\" at byte 128 and no group 0002/0008 element at byte 0");

    covidcam_status st = cc_dicom_check_lengths(p, len, e);
    if (st)
        return st;
    DcmFileFormat ff;
    DcmInputBufferStream in;
    in.setBuffer(p, static_cast<offile_off_t>(len));
    in.setEos();
    ff.transferInit();
    OFCondition c = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    ff.transferEnd();
    in.releaseBuffer();

    OFString meta_ts;
    if (ff.getMetaInfo())
        ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, meta_ts);
    DcmDataset *ds = ff.getDataset();
    E_TransferSyntax xfer = ds ? ds->getOriginalXfer() : EXS_Unknown;
    if (c.bad()) {
        if (xfer == EXS_Unknown && !meta_ts.empty() && DcmXfer(meta_ts.c_str()).getXfer() == EXS_Unknown)
            return check_transfer_syntax(EXS_Unknown, meta_ts.c_str(), e);
        return read_failure(c, e);
    }
    if (!ds)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM file without a dataset");
    if (xfer == EXS_Unknown && !meta_ts.empty())
        xfer = DcmXfer(meta_ts.c_str()).getXfer();
    if (xfer == EXS_Unknown && meta_ts.empty())
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "truncated or corrupt DICOM file: no dataset after the file meta group");
    const char *xfer_uid = xfer != EXS_Unknown ? DcmXfer(xfer).getXferID() : meta_ts.c_str();
    if ((st = check_transfer_syntax(xfer, xfer_uid, e)))
        return st;
    if (!ds->tagExists(DCM_PixelData))
        return no_pixel_data(ds, e);

    pixel_layout lay;
    if ((st = read_layout(ds, &lay, e)))
        return st;
    if (!DcmXfer(xfer).isEncapsulated() && (st = check_native_length(ds, lay, e)))
        return st;
    if ((st = cc_dicom_check_fragments(ds, xfer, e)))
        return st;

    cc_dicom_meta m;
    memset(&m, 0, sizeof m);
    cc_image img = {0, 0, nullptr};
    if ((st = render(ds, xfer, lay, &img, &m, e)))
        return st;
    fill_meta(ds, xfer_uid, lay, &m);
    *out = img;
    if (meta)
        *meta = m;
    return COVIDCAM_OK;
}

} // namespace

extern "C" covidcam_status cc_dicom_decode_gray(const void *buf, size_t len, cc_image *out,
                                                cc_dicom_meta *meta, cc_err *e)
{
    if (!out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "cc_dicom_decode_gray: out is NULL");
    if (!buf && len)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "cc_dicom_decode_gray: buf is NULL");
    try {
        return decode(static_cast<const uint8_t *>(buf), len, out, meta, e);
    } catch (const std::bad_alloc &) {
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory decoding a DICOM file");
    } catch (const std::exception &x) {
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM decoder failed: %s", x.what());
    } catch (...) {
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "DICOM decoder failed with an unknown exception");
    }
}
