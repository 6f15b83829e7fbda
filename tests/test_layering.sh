#!/bin/sh
# The layer rule of docs/ARCHITECTURE.md, checked on the sources: a file
# under src/<layer>/ includes headers of its own layer or of layers below it
# (base < tensor < format < text < sample < model < adapter < engine), never
# of a layer above.
set -eu
cd "$LORC_SOURCE_DIR/src"
order="base tensor format text sample model adapter engine"
rank() {
    i=0
    for l in $order; do
        [ "$l" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
    echo -1
}
bad=0 checked=0
for layer in $order; do
    [ -d "$layer" ] || { echo "FAIL: src/$layer is missing"; exit 1; }
    own=$(rank "$layer")
    for f in $(find "$layer" -name '*.[ch]'); do
        # every quoted include that names a layer folder: "../X/..." or "X/..."
        for dep in $(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(\.\./\)*\([a-z_]*\)/.*"|\2|p' "$f"); do
            r=$(rank "$dep")
            [ "$r" -ge 0 ] || continue
            checked=$((checked + 1))
            if [ "$r" -gt "$own" ]; then
                echo "FAIL: src/$f ($layer) includes a header of $dep, a layer above it"
                bad=1
            fi
        done
    done
done
for dir in */; do
    d=${dir%/}
    [ "$(rank "$d")" -ge 0 ] || { echo "FAIL: src/$d is not in the layer order"; bad=1; }
done
[ "$checked" -gt 50 ] || { echo "FAIL: only $checked cross-layer includes found: the pattern is broken"; exit 1; }
[ "$bad" -eq 0 ] && echo "ok: $checked cross-layer includes, all downward"
exit $bad
