/* White-box invariants of a session, checked by the allocation-failure test
 * after every failed call. */
#ifndef RB_INVARIANTS_H
#define RB_INVARIANTS_H

#include "covidcam.h"

/* Every primitive the session holds (forward, and the lazily created Grad-CAM
 * backward ones) must fit in the session's scratchpad: a primitive is only
 * ever executed with that buffer. Returns NULL when it holds, else a static
 * description of the first primitive that does not fit. */
const char *rb_scratchpad_violation(const covidcam_session *s);

#endif
