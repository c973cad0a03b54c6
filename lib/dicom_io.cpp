// DICOM decoding to 8-bit gray on DCMTK (dcmdata parses, dcmjpeg / dcmjpls /
// the RLE codec decompress, dcmimgle / dcmimage render). The rules and the
// exact 8-bit mapping are in docs/preprocessing.md; why DCMTK in
// docs/building.md. Everything here is C++ with C linkage at the edge: no
// exception leaves cc_dicom_decode_gray.
#include "dicom_io.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include <zlib.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
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

bool is_vr(unsigned char a, unsigned char b)
{
    return cc_dicom_is_vr(a, b) != 0;
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

// Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
bool long_vr(unsigned char a, unsigned char b)
{
    if (a == 'O')
        return b == 'B' || b == 'D' || b == 'F' || b == 'L' || b == 'V' || b == 'W';
    if (a == 'S')
        return b == 'Q' || b == 'V';
    if (a == 'U')
        return b == 'C' || b == 'N' || b == 'R' || b == 'T' || b == 'V';
    return false;
}

// The dataset bytes the length walk reads, forward only: straight from the
// buffer, or through zlib for the deflated transfer syntax (whose element
// lengths DCMTK would otherwise trust just the same).
class mem_source
{
public:
    mem_source(const uint8_t *p, size_t len, size_t off) : p_(p), len_(len), off_(off) {}
    bool read(uint8_t *dst, size_t n)
    {
        if (len_ - off_ < n)
            return false;
        memcpy(dst, p_ + off_, n);
        off_ += n;
        return true;
    }
    uint64_t skip(uint64_t n)
    {
        size_t k = n < len_ - off_ ? static_cast<size_t>(n) : len_ - off_;
        off_ += k;
        return k;
    }
    uint64_t pos() const { return off_; }
    bool over_cap() const { return false; }

private:
    const uint8_t *p_;
    size_t len_, off_;
};

// Inflates in 16 KiB steps and keeps nothing else: constant memory whatever
// the stream claims. A damaged stream simply ends (DCMTK then reports it).
class inflate_source
{
public:
    static constexpr uint64_t cap = 1ull << 30; // DICOM_MAX_INFLATED_BYTES, docs/security.md
    inflate_source(const uint8_t *p, size_t len)
    {
        memset(&z_, 0, sizeof z_);
        ok_ = inflateInit2(&z_, -15) == Z_OK; // raw deflate (PS3.5 A.5)
        z_.next_in = const_cast<Bytef *>(p);
        z_.avail_in = static_cast<uInt>(len > 0xFFFFFFFFu ? 0xFFFFFFFFu : len);
        end_ = !ok_;
    }
    ~inflate_source()
    {
        if (ok_)
            inflateEnd(&z_);
    }
    inflate_source(const inflate_source &) = delete;
    inflate_source &operator=(const inflate_source &) = delete;
    bool read(uint8_t *dst, size_t n)
    {
        while (n > 0) {
            if (at_ == have_ && !fill())
                return false;
            size_t k = n < have_ - at_ ? n : have_ - at_;
            memcpy(dst, buf_ + at_, k);
            at_ += k;
            dst += k;
            n -= k;
        }
        return true;
    }
    uint64_t skip(uint64_t n)
    {
        uint64_t done = 0;
        while (done < n && !over_cap()) {
            if (at_ == have_ && !fill())
                break;
            uint64_t k = n - done < have_ - at_ ? n - done : have_ - at_;
            at_ += static_cast<size_t>(k);
            done += k;
        }
        return done;
    }
    uint64_t pos() const { return total_ - (have_ - at_); }
    bool over_cap() const { return total_ > cap; }

private:
    bool fill()
    {
        if (end_)
            return false;
        z_.next_out = buf_;
        z_.avail_out = sizeof buf_;
        int r = inflate(&z_, Z_NO_FLUSH);
        have_ = sizeof buf_ - z_.avail_out;
        at_ = 0;
        total_ += have_;
        if (r != Z_OK)
            end_ = true;
        return have_ > 0;
    }
    z_stream z_;
    bool ok_ = false, end_ = false;
    uint8_t buf_[16384];
    size_t have_ = 0, at_ = 0;
    uint64_t total_ = 0;
};

unsigned get16(const uint8_t *h, bool big)
{
    return big ? (h[0] << 8) | h[1] : h[0] | (h[1] << 8);
}

uint64_t get32(const uint8_t *h, bool big)
{
    return big ? (static_cast<uint64_t>(h[0]) << 24) | (h[1] << 16) | (h[2] << 8) | h[3]
               : (static_cast<uint64_t>(h[3]) << 24) | (h[2] << 16) | (h[1] << 8) | h[0];
}

covidcam_status length_lie(uint64_t at, unsigned group, unsigned elem, uint64_t vlen, uint64_t left,
                           cc_err *e)
{
    return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                   "truncated or corrupt DICOM file: element (%04X,%04X) at byte %llu declares %llu bytes, "
                   "only %llu left",
                   group, elem, static_cast<unsigned long long>(at), static_cast<unsigned long long>(vlen),
                   static_cast<unsigned long long>(left));
}

// Walk the dataset's elements and refuse any defined length that runs past
// the end of the data. DCMTK allocates an element's declared length before it
// reads the value, so a 12-byte header claiming 2 GiB would make it reserve
// 2 GiB; this walk runs first and reads the bytes the way DCMTK does:
// sequences and items are entered (their elements are checked too), an
// explicit-VR UN of undefined length holds implicit-VR items (CP-246),
// encapsulated pixel fragments are bounded but not parsed, and nesting is
// limited (DCMTK parses sequences recursively). Stops quietly at a header it
// cannot read: DCMTK then reports the damage.
constexpr int max_nesting = 64; // sequences + items; real files use a handful

struct level {
    uint64_t end;   // where a defined-length container ends; UINT64_MAX: at its delimiter
    bool implicit;  // implicit VR inside
    bool fragments; // encapsulated pixel data: items are opaque fragments
    bool item;      // an item (else a sequence or pixel data)
};

template <class Source> covidcam_status check_lengths(Source &src, bool explicit_vr, bool big, cc_err *e)
{
    level stack[max_nesting + 1];
    int depth = 0;
    stack[0] = {UINT64_MAX, !explicit_vr, false, false};
    uint8_t h[12];
    for (;;) {
        uint64_t at = src.pos();
        while (depth > 0 && at >= stack[depth].end)
            depth--;
        const level cur = stack[depth];
        if (src.over_cap())
            return cc_fail(e, COVIDCAM_ERR_LIMIT, "deflated DICOM dataset inflates to more than %llu bytes",
                           static_cast<unsigned long long>(inflate_source::cap));
        if (!src.read(h, 8))
            return COVIDCAM_OK;
        unsigned group = get16(h, big), elem = get16(h + 2, big);
        uint64_t vlen;
        bool container = false, inner_implicit = cur.implicit, pixel_items = cur.implicit;
        if (group == 0xFFFE) { // item and delimiters: 4-byte length, no VR
            vlen = get32(h + 4, big);
            if (elem == 0xE0DD) { // sequence delimiter: closes its items and the sequence
                while (depth > 0 && stack[depth].item)
                    depth--;
                if (depth > 0 && stack[depth].end == UINT64_MAX)
                    depth--;
                continue;
            }
            if (elem == 0xE00D) { // item delimiter
                if (depth > 0 && stack[depth].item && stack[depth].end == UINT64_MAX)
                    depth--;
                continue;
            }
            if (elem != 0xE000)
                continue;
            container = !cur.fragments;
        } else if (!cur.implicit) {
            // A VR DCMTK does not know is read as it reads it: two capital
            // letters take the 4-byte length form (as UN), anything else the
            // 2-byte form (dcvr.h: EVR_UNKNOWN / EVR_UNKNOWN2B).
            bool caps = h[4] >= 'A' && h[4] <= 'Z' && h[5] >= 'A' && h[5] <= 'Z';
            if (long_vr(h[4], h[5]) || (!is_vr(h[4], h[5]) && caps)) {
                if (!src.read(h + 8, 4))
                    return COVIDCAM_OK;
                vlen = get32(h + 8, big);
            } else {
                vlen = get16(h + 6, big);
            }
            container = h[4] == 'S' && h[5] == 'Q';
            bool un = h[4] == 'U' && h[5] == 'N';
            pixel_items = h[4] == 'O' && (h[5] == 'B' || h[5] == 'W') && group == 0x7FE0 && elem == 0x0010;
            // Undefined lengths belong to SQ, UN (implicit-VR items, CP-246) and
            // encapsulated OB/OW pixel data; DCMTK's reading of any other is a guess.
            if (vlen == 0xFFFFFFFFu && !container && !un && !pixel_items)
                return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                               "corrupt DICOM file: element (%04X,%04X) at byte %llu with VR %c%c has an "
                               "undefined length",
                               group, elem, static_cast<unsigned long long>(at), isprint(h[4]) ? h[4] : '?',
                               isprint(h[5]) ? h[5] : '?');
            if (un && vlen == 0xFFFFFFFFu)
                inner_implicit = true;
        } else {
            vlen = get32(h + 4, big);
        }
        bool open_ended = vlen == 0xFFFFFFFFu;
        if (!container && !open_ended) {
            uint64_t got = src.skip(vlen);
            if (got < vlen && !src.over_cap())
                return length_lie(at, group, elem, vlen, got, e);
            continue;
        }
        if (depth == max_nesting)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "DICOM sequences nested deeper than %d levels at element (%04X,%04X), byte %llu",
                           max_nesting / 2, group, elem, static_cast<unsigned long long>(at));
        bool fragments = open_ended && pixel_items && group == 0x7FE0 && elem == 0x0010;
        bool item = group == 0xFFFE;
        stack[++depth] = {open_ended ? UINT64_MAX : src.pos() + vlen, inner_implicit, fragments, item};
    }
}

// Bounds-check the file meta group (explicit VR little endian) and find its
// TransferSyntaxUID, then walk the dataset in the encoding that UID names
// (without a meta group DCMTK guesses it from the first element; so do we).
// The meta group must be well formed so that DCMTK and this walk agree on
// where the dataset starts and how it is encoded: after "DICM" it must
// start with a group 0002 element, and a group length (0002,0000) must match.
covidcam_status check_file_lengths(const uint8_t *p, size_t len, cc_err *e)
{
    bool part10 = len >= 132 && memcmp(p + 128, "DICM", 4) == 0;
    size_t off = part10 ? 132 : 0;
    if (part10 && (len < off + 8 || p[off] != 0x02 || p[off + 1] != 0x00 || !is_vr(p[off + 4], p[off + 5])))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "truncated or corrupt DICOM file: no file meta group (0002,xxxx) after \"DICM\"");
    bool explicit_vr = true, big = false, deflated = false, have_meta = false, have_ts = false;
    uint64_t group_end = 0; // from (0002,0000), 0 when absent
    while (off + 8 <= len && p[off] == 0x02 && p[off + 1] == 0x00) {
        if (!is_vr(p[off + 4], p[off + 5]))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt DICOM file meta group: element (0002,%04X) has no valid VR",
                           get16(p + off + 2, false));
        have_meta = true;
        unsigned elem = get16(p + off + 2, false);
        size_t hdr = long_vr(p[off + 4], p[off + 5]) ? 12 : 8;
        if (off + hdr > len)
            break;
        uint64_t vlen = hdr == 12 ? get32(p + off + 8, false) : get16(p + off + 6, false);
        if (vlen > len - off - hdr)
            return length_lie(off, 0x0002, elem, vlen, len - off - hdr, e);
        if (elem == 0x0000 && vlen == 4)
            group_end = off + hdr + 4 + get32(p + off + hdr, false);
        if (elem == 0x0010 && (p[off + 4] != 'U' || p[off + 5] != 'I'))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt DICOM file meta group: TransferSyntaxUID (0002,0010) has VR %c%c, not UI",
                           isprint(p[off + 4]) ? p[off + 4] : '?', isprint(p[off + 5]) ? p[off + 5] : '?');
        if (elem == 0x0010) {
            char uid[65], shown[65];
            size_t n = vlen < sizeof uid - 1 ? static_cast<size_t>(vlen) : sizeof uid - 1;
            memcpy(uid, p + off + hdr, n);
            uid[n] = '\0';
            copy_field(uid, sizeof uid, printable(uid, shown, sizeof shown));
            // DCMTK guesses the encoding of a dataset whose syntax it does not
            // know; refusing such files keeps this walk and DCMTK in step.
            DcmXfer x(uid); // an empty UID would name DCMTK's internal "virtual" syntax
            if (!uid[0] || x.getXfer() == EXS_Unknown || strcmp(x.getXferID(), uid) != 0)
                return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED, "unknown DICOM transfer syntax %s (0002,0010)",
                               uid[0] ? uid : "\"\"");
            have_ts = true;
            explicit_vr = x.isExplicitVR();
            big = x.isBigEndian();
            deflated = x.getStreamCompression() != ESC_none;
        }
        off += hdr + static_cast<size_t>(vlen);
    }
    if (have_meta && !have_ts && off + 8 <= len)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "DICOM file meta group without a TransferSyntaxUID (0002,0010)");
    if (group_end && group_end != off)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "truncated or corrupt DICOM file: the file meta group length (0002,0000) ends at byte "
                       "%llu, the group at byte %zu",
                       static_cast<unsigned long long>(group_end), off);
    if (deflated) {
        inflate_source src(p + off, len - off);
        return check_lengths(src, true, false, e);
    }
    if (!have_meta && off + 6 <= len)
        explicit_vr = is_vr(p[off + 4], p[off + 5]);
    mem_source src(p, len, off);
    return check_lengths(src, explicit_vr, big, e);
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

// DCMTK 3.6.7's RLE decoder trusts the segment offsets of a frame's 64-byte
// header and reads wherever they point (fuzz_dicom: a SEGV). Every RLE
// fragment holds one frame (PS3.5 A.4.2); its header is checked here first:
// 1 to 15 segments, the first at byte 64, offsets increasing and inside the
// fragment.
covidcam_status check_rle_fragments(DcmDataset *ds, E_TransferSyntax xfer, cc_err *e)
{
    DcmElement *el = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el || el->ident() != EVR_PixelData)
        return COVIDCAM_OK; // DCMTK reports a missing or odd pixel element itself
    DcmPixelSequence *seq = nullptr;
    if (static_cast<DcmPixelData *>(el)->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq)
        return COVIDCAM_OK;
    for (unsigned long i = 1; i < seq->card(); i++) { // item 0 is the offset table
        DcmPixelItem *item = nullptr;
        Uint8 *frag = nullptr;
        if (seq->getItem(item, i).bad() || !item)
            continue;
        Uint32 n = item->getLength();
        if (n > 0 && item->getUint8Array(frag).bad())
            frag = nullptr;
        if (n < 64 || !frag)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt RLE pixel data: fragment %lu has %u bytes, less than its 64-byte header", i,
                           n);
        uint64_t segs = get32(frag, false), prev = 0;
        if (segs < 1 || segs > 15)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt RLE pixel data: fragment %lu declares %llu segments (1 to 15)", i,
                           static_cast<unsigned long long>(segs));
        for (uint64_t k = 0; k < segs; k++) {
            uint64_t at = get32(frag + 4 + 4 * k, false);
            if ((k == 0 && at != 64) || (k > 0 && at <= prev) || at >= n)
                return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                               "corrupt RLE pixel data: fragment %lu, segment %llu starts at byte %llu of %u", i,
                               static_cast<unsigned long long>(k + 1), static_cast<unsigned long long>(at), n);
            prev = at;
        }
    }
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

// Gray from DCMTK's 8-bit RGB with the PNG decoder's weights (lib/png_io.h),
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

    covidcam_status st = check_file_lengths(p, len, e);
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
    if (xfer == EXS_RLELossless && (st = check_rle_fragments(ds, xfer, e)))
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
