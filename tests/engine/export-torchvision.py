#!/usr/bin/python3
"""Writes randomly initialised torchvision ResNets as safetensors (the layout
safetensors.torch.save_file produces) plus the logits of a fixed image, for
the engine's parity test.

Usage: export-torchvision.py OUTDIR
Writes OUTDIR/resnet18.safetensors, OUTDIR/resnet50.safetensors (state_dicts,
no metadata, as a torchvision export has) and OUTDIR/resnet18-io.safetensors,
OUTDIR/resnet50-io.safetensors ("image": U8 224x224x3, "logits": F32 1x1000).
Exits 77 when torch or torchvision cannot be imported.
"""
import json
import struct
import sys

try:
    import numpy as np
    import torch
    import torchvision
except Exception as e:  # pragma: no cover
    print("skip: %s" % e, file=sys.stderr)
    sys.exit(77)

DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8"}


def save(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1]
    torch.manual_seed(1234)
    gen = np.random.RandomState(42)
    image = torch.from_numpy(gen.randint(0, 256, size=(224, 224, 3)).astype(np.uint8))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    # The same arithmetic, in the same order, as the engine's preprocessing.
    x = image.permute(2, 0, 1).unsqueeze(0).to(torch.float32).div(255.0).sub(mean).div(std)
    for arch in ("resnet18", "resnet50"):
        model = getattr(torchvision.models, arch)()
        # Make the BatchNorm buffers and affine parameters matter: a loader
        # that dropped them would fail the comparison.
        # The last BatchNorm of each residual branch is scaled down so the
        # activations stay bounded through 16 blocks (logits of order 1-10,
        # where an absolute tolerance of 1e-4 means something).
        with torch.no_grad():
            for name, m in model.named_modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    last = name.endswith("bn3") or (arch == "resnet18" and name.endswith("bn2"))
                    m.running_mean.normal_(0.0, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.05, 0.25) if last else m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0.0, 0.1)
                    m.num_batches_tracked.fill_(7)
        model.eval()
        with torch.no_grad():
            logits = model(x)
        save("%s/%s.safetensors" % (out, arch), model.state_dict())
        save("%s/%s-io.safetensors" % (out, arch), {"image": image, "logits": logits})
    print("exported", file=sys.stderr)


if __name__ == "__main__":
    main()
