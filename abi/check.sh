#!/bin/sh
# Compare a built libcovidcam.so with the committed ABI baseline.
#
#   abi/check.sh BUILD_DIR/lib/libcovidcam.so
#
# Fails (exit 1) on any change abidiff reports in the public ABI: a removed or
# hidden function, a changed signature, a change in the layout of a type
# declared in include/covidcam.h. Types only defined inside lib/ (the opaque
# handles' contents) are private and ignored; added functions and enumerators
# appended to an enum are compatible and pass (added functions are listed), and
# so are fields appended to the struct_size-versioned option structs
# (abi/versioned-structs.supp). See abi/README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=${1:?usage: abi/check.sh path/to/libcovidcam.so}
baseline=${ABI_BASELINE:-$here/libcovidcam.abi}
command -v abidiff >/dev/null || { echo "abi/check.sh: abidiff not found (apt-get install abigail-tools)" >&2; exit 2; }

diff_abi() { # extra abidiff options...
    abidiff --headers-dir2 "$here/../include" --drop-private-types \
        --suppressions "$here/versioned-structs.supp" "$@" "$baseline" "$lib"
}

# abidiff's exit status is a bit mask: 1 error, 2 usage, 4 ABI change,
# 8 incompatible change. Additions alone set 4, hence the second run.
rc=0
diff_abi || rc=$?
[ $rc -eq 0 ] && { echo "abi/check.sh: public ABI matches $baseline"; exit 0; }
rc=0
diff_abi --no-added-syms >/dev/null || rc=$?
if [ $rc -ne 0 ]; then
    echo "abi/check.sh: the public ABI differs from $baseline (abidiff status $rc)." >&2
    echo "If the change is intended, follow abi/README.md to update the baseline." >&2
    exit 1
fi
echo "abi/check.sh: compatible additions only (listed above); update the baseline at the next release"
