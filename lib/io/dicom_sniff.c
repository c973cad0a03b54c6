/* Recognising DICOM bytes (lib/io/dicom_io.h). Plain C and always built, so that
 * a build without DCMTK can still tell a DICOM file from a bad PNG. */
#include <stdint.h>
#include <string.h>

#include "dicom_io.h"

int cc_dicom_is_vr(unsigned char a, unsigned char b)
{
    static const char vrs[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
    for (size_t i = 0; i + 1 < sizeof vrs; i += 2)
        if (vrs[i] == (char)a && vrs[i + 1] == (char)b)
            return 1;
    return 0;
}

int cc_dicom_sniff(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (!p || len < 8)
        return 0;
    if (len >= 132 && memcmp(p + 128, "DICM", 4) == 0)
        return 1;
    unsigned group = p[0] | (p[1] << 8);
    unsigned elem = p[2] | (p[3] << 8);
    if ((group != 0x0002 && group != 0x0008) || elem > 0x0020)
        return 0;
    if (cc_dicom_is_vr(p[4], p[5]))
        return 1;
    uint64_t vlen = (uint64_t)p[4] | ((uint64_t)p[5] << 8) | ((uint64_t)p[6] << 16) | ((uint64_t)p[7] << 24);
    return vlen <= len - 8;
}
