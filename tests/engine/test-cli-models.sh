#!/bin/sh
# dermalens-cli init-weights, weights-info, classify and segment (TAP).
CLI="$1"
PY="${DERM_TEST_PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY=python3
DEV="${DERM_TEST_DEVICE:-cpu}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0; fail=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); fail=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

# Two small RGB PNGs (a dark disc on skin tones), written with zlib only.
"$PY" - "$T" <<'PYEOF'
import struct, sys, zlib
def png(path, w, h, cx, cy, r):
    rows = b""
    for y in range(h):
        rows += b"\0" + b"".join(bytes((60, 40, 30)) if (x-cx)**2 + (y-cy)**2 <= r*r else bytes((200, 160, 140)) for x in range(w))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
png(sys.argv[1] + "/a.png", 60, 45, 30, 22, 12)
png(sys.argv[1] + "/b.png", 37, 51, 15, 20, 9)
PYEOF

"$CLI" init-weights --arch resnet18 --image-size 32 --out "$T/r18.safetensors" >/dev/null; rc=$?
check "init-weights resnet18 exits 0" '[ $rc -eq 0 ] && [ -s "$T/r18.safetensors" ]'
"$CLI" init-weights --arch unet --unet-base 4 --image-size 32 --out "$T/unet.safetensors" >/dev/null; rc=$?
check "init-weights unet exits 0" '[ $rc -eq 0 ] && [ -s "$T/unet.safetensors" ]'
"$CLI" init-weights --arch vgg16 --out "$T/x.safetensors" 2>/dev/null; rc=$?
check "init-weights refuses an unknown architecture with 2" '[ $rc -eq 2 ] && [ ! -e "$T/x.safetensors" ]'

out=$("$CLI" weights-info --json "$T/r18.safetensors"); rc=$?
check "weights-info --json names the architecture and 7 classes" '[ $rc -eq 0 ] && echo "$out" | "$PY" -c "
import json,sys; d=json.load(sys.stdin)
assert d[\"architecture\"]==\"resnet18\" and d[\"classes\"]==[\"MEL\",\"NV\",\"BCC\",\"AKIEC\",\"BKL\",\"DF\",\"VASC\"]
assert d[\"tensors\"]==122 and d[\"metadata\"][\"input_size\"]==\"32\""'
out=$("$CLI" weights-info "$T/r18.safetensors"); rc=$?
check "weights-info prints the architecture" '[ $rc -eq 0 ] && echo "$out" | grep -q "^Architecture: *resnet18"'

out=$("$CLI" classify --device "$DEV" --json --weights "$T/r18.safetensors" "$T/a.png"); rc=$?
check "classify --json of one image is one object summing to 1" '[ $rc -eq 0 ] && echo "$out" | "$PY" -c "
import json,sys; d=json.load(sys.stdin)
p=d[\"probabilities\"]; assert list(p)==[\"MEL\",\"NV\",\"BCC\",\"AKIEC\",\"BKL\",\"DF\",\"VASC\"]
assert abs(sum(p.values())-1)<1e-4 and all(0<=v<=1 for v in p.values())
assert d[\"predicted\"]==max(p,key=p.get) and d[\"image\"].endswith(\"a.png\")
assert d[\"model\"][\"architecture\"]==\"resnet18\""'
out=$("$CLI" classify --device "$DEV" --json --tta --weights "$T/r18.safetensors" "$T/a.png" "$T/b.png"); rc=$?
check "classify --json --tta of two images is an array of two" '[ $rc -eq 0 ] && echo "$out" | "$PY" -c "
import json,sys; d=json.load(sys.stdin); assert len(d)==2
for x in d: assert abs(sum(x[\"probabilities\"].values())-1)<1e-4 and x[\"tta\"] is True"'
out=$("$CLI" classify --device "$DEV" --weights "$T/r18.safetensors" "$T/a.png"); rc=$?
check "classify prints the predicted class" '[ $rc -eq 0 ] && echo "$out" | grep -Eq "a.png: (MEL|NV|BCC|AKIEC|BKL|DF|VASC) 0\.[0-9]+"'

out=$("$CLI" segment --device "$DEV" --json --weights "$T/unet.safetensors" "$T/b.png" --out "$T/mask.png"); rc=$?
check "segment writes a mask at the image's size" '[ $rc -eq 0 ] && echo "$out" | "$PY" -c "
import json,struct,sys; d=json.load(sys.stdin)
w,h=struct.unpack(\">II\", open(\"$T/mask.png\",\"rb\").read()[16:24])
assert (w,h)==(37,51)==(d[\"width\"],d[\"height\"]) and 0<=d[\"lesion_fraction\"]<=1"'

# Errors: exit 1 with a message, 2 for usage.
err=$("$CLI" classify --weights "$T/unet.safetensors" "$T/a.png" 2>&1 >/dev/null); rc=$?
check "classify with a U-Net file fails with a hint" '[ $rc -eq 1 ] && echo "$err" | grep -q segment'
head -c 1000 "$T/r18.safetensors" > "$T/cut.safetensors"
err=$("$CLI" classify --weights "$T/cut.safetensors" "$T/a.png" 2>&1 >/dev/null); rc=$?
check "a truncated weight file is refused" '[ $rc -eq 1 ] && echo "$err" | grep -q "not a usable weight file"'
err=$("$CLI" weights-info "$T/cut.safetensors" 2>&1 >/dev/null); rc=$?
check "weights-info refuses a truncated file" '[ $rc -eq 1 ] && [ -n "$err" ]'
err=$("$CLI" classify --weights "$T/r18.safetensors" "$T/missing.png" 2>&1 >/dev/null); rc=$?
check "a missing image fails with exit 1" '[ $rc -eq 1 ] && echo "$err" | grep -q missing.png'
"$CLI" classify "$T/a.png" 2>/dev/null; rc=$?
check "classify without --weights exits 2" '[ $rc -eq 2 ]'
"$CLI" segment --weights "$T/unet.safetensors" "$T/a.png" 2>/dev/null; rc=$?
check "segment without --out exits 2" '[ $rc -eq 2 ]'

echo "1..$n"
exit $fail
