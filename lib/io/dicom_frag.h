// Checks of compressed DICOM frames before DCMTK's decoders see them
// (lib/io/dicom_frag.cpp; docs/security.md, section "DICOM"). C++, internal to
// the DICOM decoder.
#ifndef COVIDCAM_DICOM_FRAG_H
#define COVIDCAM_DICOM_FRAG_H

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcxfer.h"

extern "C" {
#include "error.h"
}

// For RLE and the JPEG transfer syntaxes, check every fragment of the
// encapsulated Pixel Data for the inputs DCMTK 3.6.7 mishandles: RLE segment
// offsets outside their fragment (it reads there), a JPEG TEM marker before
// the frame header (it loops). BAD_FORMAT naming the fragment and byte; OK
// otherwise (other damage is DCMTK's to report). Reads only.
covidcam_status cc_dicom_check_fragments(DcmDataset *ds, E_TransferSyntax xfer, cc_err *e);

#endif
