#!/bin/sh
# Regenerate abi/libcovidcam.abi from a build of libcovidcam.so. Only for a
# deliberate ABI change, in a commit of its own that says why (abi/README.md).
#
#   abi/update.sh BUILD_DIR/lib/libcovidcam.so
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=${1:?usage: abi/update.sh path/to/libcovidcam.so}
# Hash type ids and no absolute paths keep the file stable across machines.
abidw --no-corpus-path --no-comp-dir-path --type-id-style hash \
    --headers-dir "$here/../include" --drop-private-types "$lib" >"$here/libcovidcam.abi"
echo "abi/update.sh: wrote abi/libcovidcam.abi from $lib"
