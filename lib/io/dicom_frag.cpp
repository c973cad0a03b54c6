// Checks of compressed frames that DCMTK 3.6.7's own decoders get wrong
// (lib/io/dicom_frag.h). Found by fuzz_dicom; each has a regression input in
// fuzz/regressions/dicom/.
#include "dicom_frag.h"

#include <cstdint>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"

namespace
{

// Little-endian 32-bit value (RLE headers are always little endian).
uint32_t le32(const uint8_t *p)
{
    return static_cast<uint32_t>(p[0]) | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// DCMTK's RLE decoder trusts the segment offsets of a frame's 64-byte header
// and reads wherever they point (a SEGV). Every RLE fragment holds one frame
// (PS3.5 A.4.2): 1 to 15 segments, the first at byte 64, offsets increasing
// and inside the fragment.
covidcam_status check_rle(const uint8_t *frag, uint32_t n, unsigned long i, cc_err *e)
{
    if (n < 64)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "corrupt RLE pixel data: fragment %lu has %u bytes, less than its 64-byte header", i,
                       n);
    uint64_t segs = le32(frag), prev = 0;
    if (segs < 1 || segs > 15)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "corrupt RLE pixel data: fragment %lu declares %llu segments (1 to 15)", i,
                       static_cast<unsigned long long>(segs));
    for (uint64_t k = 0; k < segs; k++) {
        uint64_t at = le32(frag + 4 + 4 * k);
        if ((k == 0 && at != 64) || (k > 0 && at <= prev) || at >= n)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt RLE pixel data: fragment %lu, segment %llu starts at byte %llu of %u", i,
                           static_cast<unsigned long long>(k + 1), static_cast<unsigned long long>(at), n);
        prev = at;
    }
    return COVIDCAM_OK;
}

// DCMTK's JPEG decoder first scans a frame's markers for its bit depth
// (DJCodecDecoder::scanJpegDataForBitDepth) and does not step over a TEM
// marker (0xFF01): it loops forever. The same scan, run here, refuses a
// fragment that would send it there.
covidcam_status check_jpeg(const uint8_t *d, uint32_t n, unsigned long i, cc_err *e)
{
    uint32_t off = 0;
    while (off + 4 < n) {
        unsigned m = (d[off] << 8) | d[off + 1];
        unsigned seg = (d[off + 2] << 8) | d[off + 3];
        if (m == 0xFF01)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt JPEG pixel data: fragment %lu has a TEM marker (FF01) at byte %u before "
                           "its frame header",
                           i, off);
        if (m >= 0xFFC0 && m <= 0xFFCF && m != 0xFFC4 && m != 0xFFC8 && m != 0xFFCC)
            return COVIDCAM_OK; // a frame header: the scan ends
        if (m == 0xFFC4 || m == 0xFFC8 || m == 0xFFCC || (m >= 0xFFDA && m <= 0xFFFE))
            off += seg + 2;
        else if (m >= 0xFFD0 && m <= 0xFFD9)
            off += 2;
        else if (m == 0xFFFF)
            off += 1;
        else if (d[off] == 0xFF && d[off + 1] > 2 && d[off + 1] <= 0xBF)
            off += 2;
        else
            return COVIDCAM_OK; // not a marker: the scan gives up, DCMTK reports it
    }
    return COVIDCAM_OK;
}

} // namespace

covidcam_status cc_dicom_check_fragments(DcmDataset *ds, E_TransferSyntax xfer, cc_err *e)
{
    bool rle = xfer == EXS_RLELossless;
    bool jpeg = xfer >= EXS_JPEGProcess1 && xfer <= EXS_JPEGProcess14SV1;
    if (!rle && !jpeg)
        return COVIDCAM_OK;
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
        if (n > 0 && (item->getUint8Array(frag).bad() || !frag))
            continue;
        covidcam_status st = rle ? check_rle(frag, n, i, e) : check_jpeg(frag, n, i, e);
        if (st)
            return st;
    }
    return COVIDCAM_OK;
}
