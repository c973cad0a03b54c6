"""Whether a classification can be trusted (covidcam_assessment): warnings
from checks on the input image, and the out-of-distribution score when the
model carries OOD statistics. Never changes the probabilities."""

import ctypes

from . import _lib

# covidcam_assessment.warnings is an unsigned bit set; the library names the
# bits it knows (covidcam_warning_name) and says why each matters
# (covidcam_warning_description), so every front end prints the same text.
_BITS = 32


class Assessment:
    """A snapshot of covidcam_assessment. Attributes: warnings (list of names
    such as "likely_inverted", empty when none), ood_available (the model has
    OOD statistics), ood (True when the image is unlike the training images),
    ood_score and ood_threshold (0.0 when not available)."""

    def __init__(self, c, lib):
        self._bits = [1 << i for i in range(_BITS)
                      if c.warnings & (1 << i) and lib.warning_name(1 << i)]
        self.warnings = [lib.warning_name(b).decode("ascii") for b in self._bits]
        self._why = [lib.warning_description(b).decode("utf-8") for b in self._bits]
        self.ood_available = bool(c.ood_available)
        self.ood = bool(c.ood)
        self.ood_score = c.ood_score
        self.ood_threshold = c.ood_threshold

    def sentences(self):
        """The warnings as the command-line programs print them ("name: why"),
        plus "out_of_distribution: ..." when flagged."""
        out = ["%s: %s" % (w, why) for w, why in zip(self.warnings, self._why)]
        if self.ood:
            out.append("out_of_distribution: score %.1f is above the model's threshold %.1f"
                       % (self.ood_score, self.ood_threshold))
        return out

    def ood_line(self):
        """The table output's verdict for a flagged image, or None."""
        if not self.ood:
            return None
        return ("  OUT OF DISTRIBUTION: this image is unlike the model's training images "
                "(score %.1f > %.1f); do not trust the answer" % (self.ood_score,
                                                                  self.ood_threshold))

    def as_dict(self):
        """The fields covidcam-classify --json prints: {"ood": bool,
        "ood_score": number or None, "warnings": [...]}."""
        return {"ood": self.ood,
                "ood_score": self.ood_score if self.ood_available else None,
                "warnings": list(self.warnings)}

    def __repr__(self):
        return "<covidcam.Assessment ood=%s score=%.4g warnings=%s>" % (
            self.ood, self.ood_score, self.warnings)


def new_struct():
    """A covidcam_assessment with struct_size set (covidcam_assessment_init)."""
    a = _lib.AssessmentStruct()
    a.struct_size = ctypes.sizeof(a)
    return a
