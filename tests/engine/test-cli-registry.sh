#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# dermalens-cli models list|show|import|activate|export|delete on a
# throw-away store (TAP). A torchvision ResNet-50 with a 7-class head, as the
# notebook this project began from trained it (classes in alphabetical
# order), is imported, activated and classifies as PyTorch does.
CLI="$1"
PY="${DERM_TEST_PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_DATA_HOME="$T/xdg"
DB="$T/store"
mkdir -p "$DB"
n=0; fail=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); fail=1; echo "not ok $n - $1"; }
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); $1"; }

out=$("$CLI" models list --db "$DB" --json); rc=$?
check "an empty registry lists []" '[ $rc -eq 0 ] && echo "$out" | json "assert d == []"'

# A Dermalens classifier, a U-Net and an ImageNet-headed (1000 classes) model.
"$CLI" init-weights --arch resnet18 --image-size 32 --out "$T/r18.safetensors" >/dev/null
"$CLI" init-weights --arch unet --unet-base 4 --image-size 32 --out "$T/unet.safetensors" >/dev/null
"$CLI" init-weights --arch resnet18 --classes 1000 --image-size 32 --out "$T/r18-1000.safetensors" >/dev/null

out=$("$CLI" models import --db "$DB" --json "$T/r18.safetensors"); rc=$?
check "a Dermalens classifier is imported as version 1, not active" '[ $rc -eq 0 ] && echo "$out" | json "
assert d[\"id\"] == 1 and d[\"kind\"] == \"classifier\" and d[\"architecture\"] == \"resnet18\"
assert not d[\"active\"] and d[\"file\"].startswith(\"$DB/models/imported-r18-\")"'
out=$("$CLI" models import --db "$DB" --activate "$T/unet.safetensors"); rc=$?
check "a U-Net is imported and activated as the segmenter" '[ $rc -eq 0 ] && echo "$out" | grep -q "version 2 (segmenter, unet), now active"'

err=$("$CLI" models import --db "$DB" "$T/r18-1000.safetensors" 2>&1); rc=$?
check "a 1000-class file is refused with a reason" '[ $rc -eq 1 ] && echo "$err" | grep -q "1000 classes, not the seven diagnoses"'
printf 'not a model' >"$T/broken.safetensors"
"$CLI" models import --db "$DB" "$T/broken.safetensors" 2>/dev/null; rc=$?
check "a broken file is refused" '[ $rc -eq 1 ]'
check "refused imports leave nothing in the models folder" '[ $(ls -A "$DB/models" | wc -l) -eq 2 ]'

"$CLI" models activate --db "$DB" 1 >/dev/null; rc=$?
out=$("$CLI" models list --db "$DB" --json)
check "activate makes version 1 the active classifier" '[ $rc -eq 0 ] && echo "$out" | json "
a = {v[\"id\"]: v[\"active\"] for v in d}; assert a == {1: True, 2: True}, a"'
"$CLI" models activate --db "$DB" 9 2>/dev/null; rc=$?
check "activating a version that does not exist fails" '[ $rc -eq 1 ]'
"$CLI" models activate --db "$DB" x 2>/dev/null; rc=$?
check "a version that is not a number is a usage error" '[ $rc -eq 2 ]'

"$CLI" models export --db "$DB" 1 "$T/out.safetensors" >/dev/null; rc=$?
sha=$("$CLI" models show --db "$DB" --json 1 | json "print(d['sha256'])")
check "export copies the registered file (same SHA-256)" '[ $rc -eq 0 ] && [ "$(sha256sum "$T/out.safetensors" | cut -d" " -f1)" = "$sha" ]'

err=$("$CLI" models delete --db "$DB" 1 2>&1); rc=$?
check "the active version is not deleted" '[ $rc -eq 1 ] && echo "$err" | grep -q "active"'

# The notebook's model: torchvision ResNet-50, head of 7 in alphabetical order.
if "$PY" - "$T" <<'PYEOF'
import json, struct, sys, zlib
try:
    import numpy as np
    import torch
    import torchvision
except Exception as e:
    print("skip: %s" % e, file=sys.stderr)
    sys.exit(77)
out = sys.argv[1]
torch.manual_seed(7)
model = torchvision.models.resnet50(num_classes=7)
with torch.no_grad():
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.05, 0.25) if name.endswith("bn3") else m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.1)
    model.fc.bias.copy_(torch.tensor([0.3, -0.2, 0.5, -0.4, 1.0, 0.1, -0.6]))
model.eval()
header, blobs, offset = {}, [], 0
for name, t in model.state_dict().items():
    data = t.detach().contiguous().numpy().tobytes()
    header[name] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[t.dtype],
                    "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(out + "/notebook-resnet50.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
gen = np.random.RandomState(3)
image = gen.randint(0, 256, size=(224, 224, 3)).astype(np.uint8)
rows = b"".join(b"\0" + image[y].tobytes() for y in range(224))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(out + "/img.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 224, 224, 8, 2, 0, 0, 0))
                                   + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().div(255.0).sub(mean).div(std)
with torch.no_grad():
    p = torch.softmax(model(x), 1)[0].tolist()
codes = ["AKIEC", "BCC", "BKL", "DF", "MEL", "NV", "VASC"]
json.dump(dict(zip(codes, p)), open(out + "/expected.json", "w"))
PYEOF
then
  out=$("$CLI" models import --db "$DB" --json --classes akiec,bcc,bkl,df,mel,nv,vasc \
        "$T/notebook-resnet50.safetensors"); rc=$?
  check "a torchvision ResNet-50 with a 7-class head is imported" '[ $rc -eq 0 ] && echo "$out" | json "
assert d[\"id\"] == 3 and d[\"architecture\"] == \"resnet50\" and \"torchvision\" in d[\"provenance\"]"'
  "$CLI" models activate --db "$DB" 3 >/dev/null; rc=$?
  file=$("$CLI" models show --db "$DB" --json 3 | json "assert d['active']; print(d['file'])")
  check "and activated from the CLI" '[ $rc -eq 0 ] && [ -f "$file" ]'
  out=$("$CLI" classify --weights "$file" --json "$T/img.png"); rc=$?
  check "it kept its head: the probabilities are PyTorch's, class by class" '[ $rc -eq 0 ] && echo "$out" | json "
e = json.load(open(\"$T/expected.json\"))
r = d[0] if isinstance(d, list) else d
p = r[\"probabilities\"]
assert set(p) == set(e), (p, e)
assert max(abs(p[c] - e[c]) for c in e) < 1e-4, (p, e)"'
  err=$("$CLI" models import --db "$DB" --classes mel,nv,bcc "$T/notebook-resnet50.safetensors" 2>&1); rc=$?
  check "a class order that is not the seven codes is refused" '[ $rc -eq 1 ] && echo "$err" | grep -q "seven HAM10000 codes"'
  err=$("$CLI" models import --db "$DB" --std 0.2,0,0.2 "$T/notebook-resnet50.safetensors" 2>&1); rc=$?
  check "a zero standard deviation is refused" '[ $rc -eq 1 ] && echo "$err" | grep -q "above zero"'
  check "refused conversions leave nothing behind" '[ $(ls -A "$DB/models" | wc -l) -eq 3 ]'
else
  for t in "torchvision import" "activation" "PyTorch's probabilities" "class order" "std" "leftovers"; do
    skip "$t" "no torch/torchvision for $PY"
  done
fi

"$CLI" models activate --db "$DB" 2 >/dev/null
"$CLI" models import --db "$DB" "$T/r18.safetensors" >/dev/null
out=$("$CLI" models list --db "$DB")
check "list marks the active versions" 'echo "$out" | grep -Eq "^ +2 \* segmenter"'
last=$("$CLI" models list --db "$DB" --json | json "print(max(v['id'] for v in d))")
file=$("$CLI" models show --db "$DB" --json "$last" | json "print(d['file'])")
"$CLI" models delete --db "$DB" "$last" >/dev/null; rc=$?
check "delete removes the version and its file" '[ $rc -eq 0 ] && [ ! -e "$file" ] && ! "$CLI" models show --db "$DB" "$last" 2>/dev/null'
out=$("$CLI" models show --db "$DB" 1); rc=$?
check "show prints the provenance" '[ $rc -eq 0 ] && echo "$out" | grep -q "Imported from $T/r18.safetensors"'
"$CLI" models frobnicate 2>/dev/null; rc=$?
check "an unknown subcommand is a usage error" '[ $rc -eq 2 ]'

echo "1..$n"
exit $fail
