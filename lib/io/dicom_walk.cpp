// The length walk of the DICOM decoder (lib/io/dicom_walk.h): reads a DICOM
// file's element headers the way DCMTK will and refuses declared lengths that
// run past the data, before DCMTK parses (and allocates) anything.
#include "dicom_walk.h"

#include <cctype>
#include <cstdint>
#include <cstring>

#include <zlib.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/dcmdata/dcxfer.h"

#include "dicom_io.h"

namespace
{

bool is_vr(unsigned char a, unsigned char b)
{
    return cc_dicom_is_vr(a, b) != 0;
}

// The length field that follows two VR bytes in DCMTK's explicit-VR reader
// (DcmItem::readTagAndLength builds a DcmVR from them). DcmVR itself answers,
// so this walk cannot drift from the toolkit: besides the standard VRs and
// unknown ones (two capitals: 4 bytes, as UN; anything else: 2), DCMTK
// accepts its internal VR names from a file too. "px", "ox" and "lt" take
// the 4-byte form (and "px" makes the element Pixel Data, whose value DCMTK
// allocates at once), and "na" -- the VR of items and delimiters -- a 4-byte
// length right after the VR, with no reserved bytes.
enum length_form { LEN_16, LEN_32_RESERVED, LEN_32 };

length_form explicit_length_form(unsigned char a, unsigned char b)
{
    const char name[3] = {static_cast<char>(a), static_cast<char>(b), '\0'};
    DcmVR vr(name);
    if (vr.getEVR() == EVR_na)
        return LEN_32;
    return vr.usesExtendedLengthEncoding() ? LEN_32_RESERVED : LEN_16;
}

// Bytes of an explicit-VR element header (tag, VR, reserved, length) of each form.
size_t explicit_header_size(length_form f)
{
    return f == LEN_16 ? 8 : f == LEN_32 ? 10 : 12;
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
// Like DCMTK's DcmZLibInputFilter, it feeds zlib one zero byte after the
// file's last byte (raw deflate needs it to finish a final block): an
// unterminated stream inflates to what DCMTK reads, pad byte included, so a
// length whose last byte only that pad completes is checked too.
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
    // Inflates until output comes or the stream can give no more: a call
    // that only consumes input (block headers, the pad) is not the end.
    bool fill()
    {
        have_ = at_ = 0;
        while (have_ == 0 && !end_) {
            if (z_.avail_in == 0 && !padded_) {
                z_.next_in = &pad_;
                z_.avail_in = 1;
                padded_ = true;
            }
            z_.next_out = buf_;
            z_.avail_out = sizeof buf_;
            int r = inflate(&z_, Z_NO_FLUSH);
            have_ = sizeof buf_ - z_.avail_out;
            total_ += have_;
            if (r != Z_OK)
                end_ = true;
        }
        return have_ > 0;
    }
    z_stream z_;
    bool ok_ = false, end_ = false, padded_ = false;
    Bytef pad_ = 0;
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

// The declared value length of the explicit-VR header h of form f: its last
// 2 or 4 bytes.
uint64_t explicit_length(const uint8_t *h, length_form f, bool big)
{
    return f == LEN_16 ? get16(h + 6, big) : get32(h + explicit_header_size(f) - 4, big);
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
        bool delim = group == 0xFFFE && (elem == 0xE000 || elem == 0xE00D || elem == 0xE0DD);
        if (delim) { // item and delimiters: 4-byte length, no VR (other FFFE tags are elements)
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
            container = !cur.fragments;
        } else if (!cur.implicit) {
            // The length form DCMTK reads after these VR bytes, whatever they are.
            length_form form = explicit_length_form(h[4], h[5]);
            size_t hdr = explicit_header_size(form);
            if (hdr > 8 && !src.read(h + 8, hdr - 8))
                return COVIDCAM_OK;
            vlen = explicit_length(h, form, big);
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
        bool item = delim;
        stack[++depth] = {open_ended ? UINT64_MAX : src.pos() + vlen, inner_implicit, fragments, item};
    }
}

// Bounds-check the file meta group (explicit VR little endian) and find its
// TransferSyntaxUID, then walk the dataset in the encoding that UID names
// (without a meta group DCMTK guesses it from the first element; so do we).
// The meta group must be well formed so that DCMTK and this walk agree on
// where the dataset starts and how it is encoded: after "DICM" it must
// start with a group 0002 element, and a group length (0002,0000) must match.
// The element at `off` read as explicit VR little endian, the way DCMTK's
// meta group reader reads it: its length must fit and be defined.
covidcam_status check_one_explicit(const uint8_t *p, size_t len, size_t off, cc_err *e)
{
    length_form form = explicit_length_form(p[off + 4], p[off + 5]);
    size_t hdr = explicit_header_size(form);
    if (off + hdr > len)
        return COVIDCAM_OK;
    uint64_t vlen = explicit_length(p + off, form, false);
    if (vlen == 0xFFFFFFFFu || vlen > len - off - hdr)
        return length_lie(off, get16(p + off, false), get16(p + off + 2, false), vlen, len - off - hdr, e);
    return COVIDCAM_OK;
}

// The VRs of the file meta group's elements (PS3.10 7.1). Anything else (a
// sequence, an unknown VR) would be parsed by DCMTK in ways the walk does not
// follow, so it is refused.
bool meta_vr(unsigned char a, unsigned char b)
{
    static const char vrs[] = "ULOBUISHAEUR";
    for (size_t i = 0; i + 1 < sizeof vrs; i += 2)
        if (vrs[i] == a && vrs[i + 1] == b)
            return true;
    return false;
}

} // namespace

extern "C" covidcam_status cc_dicom_check_lengths(const uint8_t *p, size_t len, cc_err *e)
{
    bool part10 = len >= 132 && memcmp(p + 128, "DICM", 4) == 0;
    size_t off = part10 ? 132 : 0;
    if (part10 && (len < off + 8 || p[off] != 0x02 || p[off + 1] != 0x00 || !is_vr(p[off + 4], p[off + 5])))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "truncated or corrupt DICOM file: no file meta group (0002,xxxx) after \"DICM\"");
    bool explicit_vr = true, big = false, deflated = false, have_meta = false, have_ts = false;
    uint64_t group_end = 0; // from (0002,0000), 0 when absent
    long last_elem = -1;    // elements must ascend: DCMTK keeps the first of two
    while (off + 8 <= len && p[off] == 0x02 && p[off + 1] == 0x00) {
        if (!meta_vr(p[off + 4], p[off + 5]))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt DICOM file meta group: element (0002,%04X) has VR %c%c, not one of the "
                           "meta group's (UL, OB, UI, SH, AE, UR)",
                           get16(p + off + 2, false), isprint(p[off + 4]) ? p[off + 4] : '?',
                           isprint(p[off + 5]) ? p[off + 5] : '?');
        have_meta = true;
        unsigned elem = get16(p + off + 2, false);
        if (static_cast<long>(elem) <= last_elem)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt DICOM file meta group: element (0002,%04X) repeated or out of order", elem);
        last_elem = elem;
        length_form form = explicit_length_form(p[off + 4], p[off + 5]);
        size_t hdr = explicit_header_size(form);
        if (off + hdr > len)
            break;
        uint64_t vlen = explicit_length(p + off, form, false);
        if (vlen > len - off - hdr)
            return length_lie(off, 0x0002, elem, vlen, len - off - hdr, e);
        if (elem == 0x0000 && (vlen != 4 || p[off + 4] != 'U' || p[off + 5] != 'L'))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt DICOM file meta group: its group length (0002,0000) is not one UL");
        if (elem == 0x0000)
            group_end = off + hdr + 4 + get32(p + off + hdr, false);
        if (elem == 0x0010 && (p[off + 4] != 'U' || p[off + 5] != 'I'))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "corrupt DICOM file meta group: TransferSyntaxUID (0002,0010) has VR %c%c, not UI",
                           isprint(p[off + 4]) ? p[off + 4] : '?', isprint(p[off + 5]) ? p[off + 5] : '?');
        if (elem == 0x0010) {
            char uid[65];
            size_t n = vlen < sizeof uid - 1 ? static_cast<size_t>(vlen) : sizeof uid - 1;
            memcpy(uid, p + off + hdr, n);
            while (n > 0 && (uid[n - 1] == '\0' || uid[n - 1] == ' ')) // UI padding
                n--;
            uid[n] = '\0';
            for (size_t i = 0; i < n; i++) // printable in the message; such a UID is unknown anyway
                if (!isprint(static_cast<unsigned char>(uid[i])))
                    uid[i] = '?';
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
    if (have_meta && !group_end && off + 8 <= len) {
        // Without a group length DCMTK reads one element past the group, as
        // explicit VR little endian, before it sees that the group has ended.
        if (deflated)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "DICOM file meta group without a group length (0002,0000) before a deflated "
                           "dataset");
        covidcam_status st = check_one_explicit(p, len, off, e);
        if (st)
            return st;
    }
    if (deflated) {
        inflate_source src(p + off, len - off);
        return check_lengths(src, true, false, e);
    }
    if (!have_meta && off + 6 <= len)
        explicit_vr = is_vr(p[off + 4], p[off + 5]);
    mem_source src(p, len, off);
    return check_lengths(src, explicit_vr, big, e);
}
