#!/usr/bin/env python3
"""The peer of bench/cpu/derm-bench-engine: the same measurements in Python
PyTorch (eager), done the same way, printing the same RESULT lines.

  infer       torchvision resnet50 (7 classes), batch 1 at 224 px: uint8 HWC
              image -> device -> normalise -> forward -> softmax -> host,
              median of --runs
  infer-bf16  the same under torch.autocast(bfloat16) (CUDA only)
  seg         the app's default U-Net (base 32, 256 px), batch 1, as the
              engine's derm_model_segment: uint8 image -> resize to 256 ->
              normalise -> forward -> sigmoid -> resize back to the image's
              size -> 0..255 uint8 mask on the host
  train64/256 resnet50 training images/s, AdamW, cross-entropy, bf16 autocast
              + channels_last + cudnn.benchmark on CUDA; batches fed from host
              uint8 NHWC like the engine's
  unet        the engine's U-Net (same layers), 256 px, batch 32, BCE + Dice
  clsseg      batch 1: decoded uint8 image -> resnet50 probabilities (resized
              to 224) and U-Net (base 32, 256 px) mask at the image's size
  e2e         the same from JPEG bytes (torchvision.io.decode_jpeg on the CPU,
              at full size: it cannot DCT-scale as the engine's loader does)

seg and clsseg take the --jpeg image (default: a generated 600 x 450) at the
size the engine's loader decodes it to (DCT-scaled to at least 256 x 256, the
same scaling factors as libjpeg-turbo), so that both sides resize the same
number of pixels. --check DIR repeats what `derm-bench-engine --check DIR`
wrote with the engine's own weights and compares the outputs; --write-jpeg
FILE writes the generated JPEG for both sides to read.
  train64-dev resnet50 training, batch 64, from a uint8 cache of 512 images on
              the device, gathered with index_select and augmented there
              (affine_grid + grid_sample, colour jitter), as the engine's
  analysis    the app's whole analysis of the --jpeg image, batch 1: decode
              (full size, then resized to the engine loader's DCT-scaled
              size: Python cannot DCT-scale by 5/8), classify (resnet50,
              224 px), segment (U-Net base 32, 256 px), Grad-CAM of the top
              class from layer4, lesion measurements from the mask (numpy;
              comparable to, not the same code as, derm_lesion_measure)
  train_rNN_PX  resnetNN (18, 34, 50) training images/s at PX px, batch
              --train-batch (32), AdamW, cross-entropy, e.g. train_r18_128

On the CPU --channels-last puts models and inputs in channels_last and
--autocast-bf16 runs every forward pass (inference, Grad-CAM, training) under
torch.autocast("cpu", dtype=torch.bfloat16): "PyTorch as an expert runs it".
Without them: fp32 NCHW, PyTorch's defaults.
"""
import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# The engine's dermoscopic reference colours (src/core/derm-lesion.c), sRGB:
# white, red, light brown, dark brown, blue-gray, black.
LESION_COLORS = [(197, 188, 217), (118, 21, 17), (163, 82, 16), (135, 44, 5), (113, 108, 139), (41, 31, 30)]
LESION_COLOR_MAX_DISTANCE = 80.0
LESION_COLOR_MIN_FRACTION = 0.05


def double_conv(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())


class UNet(nn.Module):
    """The engine's U-Net: 4 downsamplings, transposed-conv upsampling."""

    def __init__(self, base):
        super().__init__()
        w = [base * 2 ** i for i in range(5)]
        self.inc = double_conv(3, w[0])
        self.down = nn.ModuleList(double_conv(w[i], w[i + 1]) for i in range(4))
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[4 - i], w[3 - i], 2, stride=2) for i in range(4))
        self.dec = nn.ModuleList(double_conv(w[3 - i] * 2, w[3 - i]) for i in range(4))
        self.outc = nn.Conv2d(w[0], 1, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for d in self.down:
            skips.append(d(F.max_pool2d(skips[-1], 2)))
        y = skips[4]
        for i in range(4):
            y = self.dec[i](torch.cat([skips[3 - i], self.up[i](y)], 1))
        return self.outc(y)


# libjpeg-turbo's reductions (tjGetScalingFactors below 1), as the engine's
# loader (src/core/derm-image.c, choose_jpeg_scale) picks them.
TJ_REDUCTIONS = [(7, 8), (3, 4), (5, 8), (1, 2), (3, 8), (1, 4), (1, 8)]


def app_decode_size(w, h, min_w=256, min_h=256):
    ow, oh = w, h
    for num, den in TJ_REDUCTIONS:
        sw, sh = (w * num + den - 1) // den, (h * num + den - 1) // den
        if sw >= min_w and sh >= min_h and sw * sh < ow * oh:
            ow, oh = sw, sh
    return ow, oh


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def read_safetensors(path):
    """A safetensors file as {name: tensor} (F32 weights, I64 counters: what the engine writes)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise SystemExit("%s: %s is %s, not F32 or I64" % (path, name, info["dtype"]))
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[info["dtype"]]).view(info["shape"])
    return out


def engine_unet_name(name):
    """The engine's U-Net names (down1, up1, dec1) -> this module's (down.0 ...)."""
    head, _, rest = name.partition(".")
    for prefix in ("down", "up", "dec"):
        if head.startswith(prefix) and head[len(prefix):].isdigit():
            return "%s.%d.%s" % (prefix, int(head[len(prefix):]) - 1, rest)
    return name


def largest_region(b):
    """The largest 8-connected region of boolean image b (H x W), as a boolean
    image: runs of each row, joined to the overlapping runs (diagonals
    included) of the row above with union-find."""
    import numpy as np
    h, w = b.shape
    edges = np.diff(np.pad(b, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    sr, sc = np.nonzero(edges == 1)
    _, ec = np.nonzero(edges == -1)  # row-major: the n-th end closes the n-th start
    runs = list(zip(sr.tolist(), sc.tolist(), ec.tolist()))
    parent = list(range(len(runs)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = {}
    for i, (r, _, _) in enumerate(runs):
        row_first.setdefault(r, i)
    for i, (r, s0, e0) in enumerate(runs):
        j = row_first.get(r - 1)
        if j is None:
            continue
        while j < len(runs) and runs[j][0] == r - 1 and runs[j][1] <= e0:
            if runs[j][2] >= s0:
                a, c = find(i), find(j)
                if a != c:
                    parent[a] = c
            j += 1
    if not runs:
        return np.zeros_like(b)
    size = {}
    for i, (_, s0, e0) in enumerate(runs):
        k = find(i)
        size[k] = size.get(k, 0) + e0 - s0
    best = max(size, key=size.get)
    region = np.zeros_like(b)
    for i, (r, s0, e0) in enumerate(runs):
        if find(i) == best:
            region[r, s0:e0] = True
    return region


def outline_length(region):
    """Marching squares with linear interpolation on the region smoothed by a
    3 x 3 box, one pixel of background around (as derm_lesion_measure)."""
    import numpy as np
    h, w = region.shape
    bp = np.pad(region.astype(np.float32), 2)
    f = np.zeros((h + 2, w + 2), np.float32)
    for dy in range(3):
        for dx in range(3):
            f += bp[dy:dy + h + 2, dx:dx + w + 2]
    f /= 9
    above = f >= 0.5
    cell = above[:-1, :-1].astype(np.int8) + above[:-1, 1:] + above[1:, 1:] + above[1:, :-1]
    ys, xs = np.nonzero((cell > 0) & (cell < 4))  # the cells the outline crosses
    v = [f[ys, xs], f[ys, xs + 1], f[ys + 1, xs + 1], f[ys + 1, xs]]
    corner = [(0, 0), (1, 0), (1, 1), (0, 1)]
    cross, px, py = [], [], []
    for e in range(4):
        a, b = e, (e + 1) % 4
        c = (v[a] >= 0.5) != (v[b] >= 0.5)
        t = np.where(c, (0.5 - v[a]) / np.where(c, v[b] - v[a], 1), 0)
        cross.append(c)
        px.append(corner[a][0] + t * (corner[b][0] - corner[a][0]))
        py.append(corner[a][1] + t * (corner[b][1] - corner[a][1]))
    cross, px, py = np.stack(cross), np.stack(px), np.stack(py)
    rank = np.cumsum(cross, 0) - 1
    pts = []
    for k in range(4):
        sel = cross & (rank == k)
        pts.append(((sel * px).sum(0), (sel * py).sum(0)))
    n = cross.sum(0)

    def dist(i, j):
        return np.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1])

    d01 = dist(0, 1)
    return float(d01[n == 2].sum() + (d01 + dist(2, 3))[n == 4].sum())


def feret_diameter(region):
    """The largest distance between two outline pixels (through their convex
    hull), plus one pixel."""
    import numpy as np
    p = np.pad(region, 1)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    ys, xs = np.nonzero(region & ~inner)
    if len(xs) == 0:
        return 0.0
    pts = sorted(zip(xs.tolist(), ys.tolist()))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    hull = []
    for seq in (pts, pts[::-1]):
        start = len(hull)
        for q in seq:
            while len(hull) >= start + 2 and cross(hull[-2], hull[-1], q) <= 0:
                hull.pop()
            hull.append(q)
    hp = np.array(hull, np.float64)
    d = np.hypot(hp[:, None, 0] - hp[None, :, 0], hp[:, None, 1] - hp[None, :, 1])
    return float(d.max()) + 1


def lesion_measure(image, mask):
    """A numpy counterpart of derm_lesion_measure (src/core/derm-lesion.c):
    image H x W x 3 uint8, mask H x W uint8 (>= 128 = lesion). The same
    quantities by the same definitions, vectorised; not the same code, and
    not checked to agree to the last pixel. None when no lesion."""
    import numpy as np
    region = largest_region(mask >= 128)
    area = int(region.sum())
    if area == 0:
        return None
    ys, xs = np.nonzero(region)
    cx, cy = xs.mean(), ys.mean()
    dx, dy = xs - cx, ys - cy
    theta = 0.5 * np.arctan2(2 * (dx * dy).sum(), (dx * dx).sum() - (dy * dy).sum())
    ct, st = np.cos(theta), np.sin(theta)
    a, b = dx * ct + dy * st, -dx * st + dy * ct
    h, w = region.shape

    def missing(x, y):
        xi, yi = np.floor(x + 0.5).astype(np.int64), np.floor(y + 0.5).astype(np.int64)
        ok = (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
        hit = np.zeros(len(xi), bool)
        hit[ok] = region[yi[ok], xi[ok]]
        return int((~hit).sum())

    asym = (missing(cx + a * ct + b * st, cy + a * st - b * ct) / area,
            missing(cx - a * ct - b * st, cy - a * st + b * ct) / area)
    per = outline_length(region)
    px = image[ys, xs].astype(np.float32)
    ref = np.array(LESION_COLORS, np.float32)
    # squared RGB distances, channel by channel: no BLAS call, whose thread
    # pool would compete with libtorch's for the cores
    d = sum((px[:, c, None] - ref[None, :, c]) ** 2 for c in range(3))
    near = d.argmin(1)
    counts = np.bincount(near[d.min(1) <= LESION_COLOR_MAX_DISTANCE ** 2], minlength=len(ref))
    fractions = counts / area
    return {"area_px": area, "area_fraction": area / (h * w), "asymmetry": asym, "orientation": float(theta),
            "perimeter_px": per, "compactness": per * per / (4 * np.pi * area),
            "diameter_px": feret_diameter(region), "centroid": (float(cx), float(cy)),
            "color_fraction": fractions.tolist(),
            "n_colors": int((fractions >= LESION_COLOR_MIN_FRACTION).sum())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--what", default="infer,infer-bf16,seg,clsseg,e2e,train64,train64-dev,train256,unet")
    ap.add_argument("--jpeg", default=None, help="JPEG for seg, clsseg, e2e (default: a generated 600 x 450)")
    ap.add_argument("--write-jpeg", default=None, help="write the generated JPEG to this file and exit")
    ap.add_argument("--check", default=None, help="compare with what derm-bench-engine --check DIR wrote")
    ap.add_argument("--weights", default=None,
                    help="seg, clsseg, e2e, analysis: the weights derm-bench-engine --check wrote to DIR "
                         "(default: fresh)")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--unet-base", type=int, default=64)
    ap.add_argument("--train-size", type=int, default=224)
    ap.add_argument("--train-batches", default="64,256")
    ap.add_argument("--unet-size", type=int, default=256)
    ap.add_argument("--unet-batch", type=int, default=32)
    ap.add_argument("--train-batch", type=int, default=32, help="batch of the train_rNN_PX rows")
    ap.add_argument("--channels-last", action="store_true",
                    help="channels_last models and inputs on the CPU too (always on CUDA)")
    ap.add_argument("--autocast-bf16", action="store_true",
                    help="on the CPU: every forward pass under torch.autocast('cpu', dtype=torch.bfloat16)")
    a = ap.parse_args()
    what = a.what.split(",")
    # As the engine does: every core (Debian's torch starts with one thread).
    torch.set_num_threads(a.threads if a.threads > 0 else os.cpu_count())
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    cl = cuda or a.channels_last
    cpu_bf16 = not cuda and a.autocast_bf16
    print("# torch %s, %d CPU threads, device %s, %s, %s" % (
        torch.__version__, torch.get_num_threads(), dev,
        "bf16 autocast" if cpu_bf16 else "fp32" if not cuda else "fp32 (bf16 where asked)",
        "channels_last" if cl else "NCHW"))
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
    fmt = torch.channels_last if cl else torch.contiguous_format

    def normalise(u8):
        x = u8.to(dev, non_blocking=True).permute(0, 3, 1, 2).float().div(255.0).sub(mean).div(std)
        return x.contiguous(memory_format=fmt)

    def autocast(enabled):
        """CUDA: bf16 where @enabled (the bf16 rows, training); CPU: bf16
        everywhere with --autocast-bf16, else fp32."""
        if enabled and cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(once):
        """Milliseconds of a.runs calls of once() after warm-up, sorted."""
        for _ in range(a.warmup * 2):
            once()
        t = []
        for _ in range(a.runs):
            s = time.perf_counter()
            once()
            t.append((time.perf_counter() - s) * 1000)
        t.sort()
        return t

    def infer(bf16):
        torch.manual_seed(0)
        model = torchvision.models.resnet50(num_classes=7).to(dev).eval()
        if cl:
            model = model.to(memory_format=torch.channels_last)
        img = torch.randint(0, 256, (1, 224, 224, 3), dtype=torch.uint8)

        def once():
            with torch.no_grad(), autocast(bf16):
                p = torch.softmax(model(normalise(img)).float(), 1).cpu()
            return p

        t = timed(once)
        print("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s)" % (
            "infer_bf16_ms" if bf16 else "infer_fp32_ms", statistics.median(t), a.runs,
            t[a.runs // 10], t[a.runs * 9 // 10], dev), flush=True)

    def classify_ensemble(depth, size, k, name):
        """Batch 1 at @size px by K torchvision ResNets: each member's
        softmax (temperature 1), their mean: what an ensemble's user writes."""
        members = []
        for i in range(k):
            torch.manual_seed(1 + i)
            m = getattr(torchvision.models, "resnet%d" % depth)(num_classes=7).to(dev).eval()
            members.append(m.to(memory_format=torch.channels_last) if cl else m)
        img = torch.randint(0, 256, (1, size, size, 3), dtype=torch.uint8)

        def once():
            with torch.no_grad(), autocast(False):
                x = normalise(img)
                p = torch.stack([torch.softmax(m(x).float(), 1) for m in members]).mean(0).cpu()
            return p

        t = timed(once)
        print("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s)" % (
            name, statistics.median(t), a.runs, t[a.runs // 10], t[a.runs * 9 // 10], dev),
            flush=True)

    def train(kind, batch, size, name):
        torch.manual_seed(0)
        if kind == "unet":
            model = UNet(a.unet_base)
        else:
            model = getattr(torchvision.models, kind)(num_classes=7)
        model = model.to(dev).train()
        if cl:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        images = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8)
        labels = torch.arange(batch, dtype=torch.int32) % 7
        mask = (torch.arange(size).view(size, 1) < size // 2).expand(size, size)
        masks = (mask.unsqueeze(0).expand(batch, size, size) * 255).to(torch.uint8).contiguous()

        def step():
            x = normalise(images)
            with autocast(True):
                out = model(x)
            out = out.float()
            if kind == "unet":
                t = masks.to(dev).unsqueeze(1).gt(0).float()
                bce = F.binary_cross_entropy_with_logits(out, t)
                p = torch.sigmoid(out)
                dice = (2 * (p * t).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + t.sum((1, 2, 3)) + 1)
                loss = bce + (1 - dice).mean()
            else:
                loss = F.cross_entropy(out, labels.to(dev).long())
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.detach()

        for _ in range(a.warmup):
            step()
        sync()
        s = time.perf_counter()
        total = torch.zeros((), device=dev)
        for _ in range(a.steps):
            total += step()
        loss = total.item() / a.steps
        secs = time.perf_counter() - s
        print("RESULT %s %.1f img/s (%d steps of %d at %d px; %s; loss %.3f)" % (
            name, a.steps * batch / secs, a.steps, batch, size, dev, loss), flush=True)
        del model, opt
        if cuda:
            torch.cuda.empty_cache()

    def jpeg_bytes():
        if a.jpeg:
            with open(a.jpeg, "rb") as f:
                return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
        g = torch.Generator().manual_seed(3)
        yy, xx = torch.meshgrid(torch.arange(450), torch.arange(600), indexing="ij")
        inside = ((xx - 300) ** 2 + (yy - 225) ** 2 < 150 ** 2).unsqueeze(0)
        base = torch.where(inside, torch.tensor([110, 70, 50]).view(3, 1, 1),
                           torch.tensor([210, 160, 140]).view(3, 1, 1))
        img = (base + torch.randint(-15, 16, (3, 450, 600), generator=g)).clamp(0, 255).to(torch.uint8)
        return torchvision.io.encode_jpeg(img, quality=90)

    def load_engine_weights(cls, seg, d):
        if cls is not None:
            cls.load_state_dict(read_safetensors(os.path.join(d, "resnet50.safetensors")))
        seg.load_state_dict({engine_unet_name(k): v
                             for k, v in read_safetensors(os.path.join(d, "unet.safetensors")).items()})

    def analysis_models(want_cls=True, weights=None):
        """The app's default models (fresh, or the engine's from @weights),
        with their parameter counts."""
        torch.manual_seed(0)
        cls = torchvision.models.resnet50(num_classes=7).eval() if want_cls else None
        seg = UNet(32).eval()
        if weights:
            load_engine_weights(cls, seg, weights)
        cls = cls.to(dev) if want_cls else None
        seg = seg.to(dev)
        if cl:
            cls = cls.to(memory_format=torch.channels_last) if want_cls else None
            seg = seg.to(memory_format=torch.channels_last)
        src = ", weights of --weights" if weights else ""
        if want_cls:
            print("# resnet50: %d parameters, 224 px input%s" % (count_parameters(cls), src))
        print("# unet: %d parameters, 256 px input, base width 32%s" % (count_parameters(seg), src))
        return cls, seg

    def app_decoded(data):
        """3 x H x W uint8 at the size the engine's loader decodes to
        (resized here, outside any timing, where that is a DCT reduction)."""
        full = torchvision.io.decode_jpeg(data)
        h, w = full.shape[1:]
        sw, sh = app_decode_size(w, h)
        if (sw, sh) == (w, h):
            return full
        x = F.interpolate(full.unsqueeze(0).float(), size=(sh, sw), mode="bilinear",
                          align_corners=False, antialias=True)
        return x.round().clamp(0, 255).to(torch.uint8)[0]

    def to_unit(chw):
        return chw.unsqueeze(0).to(dev, non_blocking=True).float().div(255.0)

    def resized(x, size):
        if x.shape[2:] == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    def classify(cls, x):
        """x: 1 x 3 x H x W in 0..1 -> 7 probabilities on the host."""
        xc = resized(x, 224)
        with autocast(False):
            logits = cls(((xc - mean) / std).contiguous(memory_format=fmt))
        return torch.softmax(logits.float(), 1).cpu()

    def segment(seg, x):
        """x: 1 x 3 x H x W in 0..1 -> H x W uint8 mask on the host, as the
        engine's: 0..255 = lesion probability (threshold at 128)."""
        h, w = x.shape[2:]
        xs = resized(x, 256)
        with autocast(False):
            logits = seg(((xs - mean) / std).contiguous(memory_format=fmt))
        m = torch.sigmoid(logits.float())
        m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        return m.mul(255).round().clamp(0, 255).to(torch.uint8).cpu()[0, 0]

    def seg_only():
        _, seg = analysis_models(want_cls=False, weights=a.weights)
        img = app_decoded(jpeg_bytes())
        out = []

        def once():
            with torch.no_grad():
                out[:] = [segment(seg, to_unit(img))]

        t = timed(once)
        print("RESULT seg_fp32_ms %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; image %d x %d, mask %d x %d)"
              % (statistics.median(t), a.runs, t[a.runs // 10], t[a.runs * 9 // 10], dev, img.shape[2],
                 img.shape[1], out[0].shape[1], out[0].shape[0]), flush=True)
        del seg
        if cuda:
            torch.cuda.empty_cache()

    def analysis(from_jpeg):
        cls, seg = analysis_models(weights=a.weights)
        data = jpeg_bytes()
        decoded = torchvision.io.decode_jpeg(data) if from_jpeg else app_decoded(data)

        def once():
            chw = torchvision.io.decode_jpeg(data) if from_jpeg else decoded
            with torch.no_grad():
                x = to_unit(chw)
                return classify(cls, x), segment(seg, x)

        t = timed(once)
        print("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; %d byte JPEG, decoded %d x %d)" % (
            "e2e_jpeg_ms" if from_jpeg else "cls_seg_ms", statistics.median(t), a.runs,
            t[a.runs // 10], t[a.runs * 9 // 10], dev, data.numel(), decoded.shape[2],
            decoded.shape[1]), flush=True)
        del cls, seg
        if cuda:
            torch.cuda.empty_cache()

    def gradcam(cls, x, class_index):
        """The engine's derm_model_gradcam: x 1 x 3 x H x W in 0..1 -> H x W
        uint8 heat map of @class_index from layer4. The backbone runs without
        autograd (grads are only needed from layer4 on), in this side's
        precision; the head with autograd in fp32: the score's gradient
        w.r.t. the layer4 output, averaged per channel, weights the channels;
        relu, bilinear upsample to the image, divided by the maximum."""
        h, w = x.shape[2:]
        xn = ((resized(x, 224) - mean) / std).contiguous(memory_format=fmt)
        with torch.no_grad(), autocast(False):
            f = cls.layer4(cls.layer3(cls.layer2(cls.layer1(cls.maxpool(cls.relu(cls.bn1(cls.conv1(xn))))))))
        f = f.float().requires_grad_(True)
        with torch.enable_grad():  # the head and its gradient in fp32: cheap
            logits = cls.fc(torch.flatten(cls.avgpool(f), 1))
            score = logits[:, class_index].sum()
        grads, = torch.autograd.grad(score, f)
        with torch.no_grad():
            cam = torch.relu((grads.mean((2, 3), keepdim=True) * f).sum(1, keepdim=True))
            cam = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)
            mx = cam.max()
            cam = cam / mx.clamp_min(1e-12) if mx > 0 else torch.zeros_like(cam)
            return cam.mul(255).round().clamp(0, 255).to(torch.uint8).cpu()[0, 0]

    def whole_analysis():
        """What the app does for one image, from the JPEG's bytes: decode,
        classify, segment, Grad-CAM of the top class, lesion measurements;
        each part timed too."""
        cls, seg = analysis_models(weights=a.weights)
        data = jpeg_bytes()
        full = torchvision.io.decode_jpeg(data)
        fh, fw = full.shape[1:]
        sw, sh = app_decode_size(fw, fh)
        parts = {k: [] for k in ("decode", "classify", "segment", "gradcam", "measure")}
        last = {}

        def once():
            t0 = time.perf_counter()
            chw = torchvision.io.decode_jpeg(data)
            if (sw, sh) != (fw, fh):
                chw = F.interpolate(chw.unsqueeze(0).float(), size=(sh, sw), mode="bilinear",
                                    align_corners=False, antialias=True).round().clamp(0, 255).to(torch.uint8)[0]
            hwc = chw.permute(1, 2, 0).numpy()
            x = to_unit(chw)
            t1 = time.perf_counter()
            with torch.no_grad():
                probs = classify(cls, x)[0]
            top = int(probs.argmax())
            t2 = time.perf_counter()
            with torch.no_grad():
                mask = segment(seg, x)
            t3 = time.perf_counter()
            heat = gradcam(cls, x, top)
            t4 = time.perf_counter()
            m = lesion_measure(hwc, mask.numpy())
            t5 = time.perf_counter()
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                parts[k].append(v * 1000)
            last.update(top=top, heat=heat, m=m)

        t = timed(once)
        m = last["m"]
        print("RESULT analysis_ms %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; %d byte JPEG, %d x %d; parts %s; "
              "top class %d, heat map %d x %d, %s)" % (
                  statistics.median(t), a.runs, t[a.runs // 10], t[a.runs * 9 // 10], dev, data.numel(), sw, sh,
                  " ".join("%s %.1f" % (k, statistics.median(v[-a.runs:])) for k, v in parts.items()),
                  last["top"], last["heat"].shape[1], last["heat"].shape[0],
                  "no lesion in the mask" if m is None else
                  "lesion %d px, perimeter %.0f, diameter %.0f, asymmetry %.2f/%.2f, %d colours" % (
                      m["area_px"], m["perimeter_px"], m["diameter_px"], m["asymmetry"][0], m["asymmetry"][1],
                      m["n_colors"])), flush=True)
        del cls, seg
        if cuda:
            torch.cuda.empty_cache()

    def check(d):
        """The engine's weights and inputs from `derm-bench-engine --check d`
        through this file's models and preprocessing; exits 1 where the
        models alone disagree."""
        import numpy as np
        from PIL import Image

        def png(name, mode):
            return torch.from_numpy(np.array(Image.open(os.path.join(d, name)).convert(mode)))

        def probs_txt(name):
            with open(os.path.join(d, name)) as f:
                return torch.tensor([float(v) for v in f.read().split()])

        cls, seg = analysis_models(weights=d)
        print("CHECK the engine's weights load into torchvision resnet50 and this U-Net with every "
              "parameter and buffer matched (strict)")
        ok = True
        with torch.no_grad():
            # The models alone: the same pixels at each input size.
            p = classify(cls, to_unit(png("input224.png", "RGB").permute(2, 0, 1)))[0]
            pe = probs_txt("probs224.txt")
            dp = (p - pe).abs().max().item()
            m = segment(seg, to_unit(png("input256.png", "RGB").permute(2, 0, 1)))
            me = png("mask256.png", "L")
            dm = (m.int() - me.int()).abs()
            agree = ((m >= 128) == (me >= 128)).float().mean().item()
            print("CHECK models alone: probabilities %s (engine %s), max difference %.2g; mask %s "
                  "(engine's: %d-%d, %.1f%% >= 128), max difference %d grey levels, mean %.3f, %.4f%% of "
                  "pixels on the same side of 128"
                  % ([round(v, 4) for v in p.tolist()], [round(v, 4) for v in pe.tolist()], dp,
                     list(m.shape), me.min().item(), me.max().item(), 100 * (me >= 128).float().mean().item(),
                     dm.max().item(), dm.float().mean().item(), 100 * agree))
            ok = dp < 1e-4 and dm.max().item() <= 1
            # The whole analysis: the engine's decoded image, resized by each
            # side's own code (the engine: area average / bilinear on bytes;
            # here: antialiased bilinear on floats).
            img = png("decoded.png", "RGB").permute(2, 0, 1)
            x = to_unit(img)
            p = classify(cls, x)[0]
            pe = probs_txt("probs.txt")
            m = segment(seg, x)
            me = png("mask.png", "L")
            dm = (m.int() - me.int()).abs()
            agree = ((m >= 128) == (me >= 128)).float().mean().item()
            print("CHECK whole analysis of the %d x %d image: probabilities max difference %.2g, argmax %d vs "
                  "engine %d; mask %s vs engine %s, mean difference %.2f grey levels, %.2f%% of pixels on the "
                  "same side of 128" % (img.shape[2], img.shape[1], (p - pe).abs().max().item(),
                                         p.argmax().item(), pe.argmax().item(), list(m.shape), list(me.shape),
                                         dm.float().mean().item(), 100 * agree))
        print("CHECK %s" % ("PASS: the models compute the same function" if ok else "FAIL"), flush=True)
        return 0 if ok else 1

    def train_cached(batch, size, name):
        torch.manual_seed(0)
        model = torchvision.models.resnet50(num_classes=7).to(dev).train()
        if cl:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        n = 512
        cache = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8).to(dev)
        labels = (torch.arange(n) % 7).to(dev)
        luma = torch.tensor([77 / 256, 150 / 256, 29 / 256], device=dev).view(1, 3, 1, 1)

        def params(b):
            # flips, 90-degree turns, +-20 degrees, crop of 0.6-1 of the area,
            # jitter 0.2: the engine's defaults, drawn on the host
            k = torch.randint(0, 4, (b,)).float() * (torch.pi / 2)
            th = (torch.rand(b) * 40 - 20) * torch.pi / 180 + k
            area = torch.rand(b) * 0.4 + 0.6
            asp = torch.exp(torch.rand(b) * (2 * 0.2877) - 0.2877)
            cw, ch = (area * asp).sqrt().clamp(max=1), (area / asp).sqrt().clamp(max=1)
            fx = torch.randint(0, 2, (b,)).float() * 2 - 1
            fy = torch.randint(0, 2, (b,)).float() * 2 - 1
            ox, oy = (torch.rand(b) * 2 - 1) * (1 - cw), (torch.rand(b) * 2 - 1) * (1 - ch)
            p = torch.stack([cw * th.cos() * fx, -cw * th.sin() * fy, ox, ch * th.sin() * fx,
                             ch * th.cos() * fy, oy, 1 + (torch.rand(b) * 0.4 - 0.2),
                             1 + (torch.rand(b) * 0.4 - 0.2), 1 + (torch.rand(b) * 0.4 - 0.2)], 1)
            return p.pin_memory().to(dev, non_blocking=True) if cuda else p

        def step(idx):
            with torch.no_grad():
                x = cache.index_select(0, idx).permute(0, 3, 1, 2).float().div(255.0)
                p = params(idx.numel())
                grid = F.affine_grid(p[:, :6].view(-1, 2, 3), list(x.shape), align_corners=False)
                x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                                  align_corners=False)
                b, c, s_ = (p[:, i].view(-1, 1, 1, 1) for i in (6, 7, 8))
                g = (x * luma).sum(1, keepdim=True)
                x = ((g + (x - g) * s_) * b).clamp(0, 1)
                mu = (x * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
                x = (mu + (x - mu) * c).clamp(0, 1)
                x = ((x - mean) / std).contiguous(memory_format=fmt)
            with autocast(True):
                out = model(x)
            loss = F.cross_entropy(out.float(), labels.index_select(0, idx))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            return loss.detach()

        order = torch.randint(0, n, (max(a.steps, a.warmup) * batch,))
        order = order.pin_memory().to(dev, non_blocking=True) if cuda else order
        for i in range(a.warmup):
            step(order[i * batch:(i + 1) * batch])
        sync()
        s = time.perf_counter()
        total = torch.zeros((), device=dev)
        for i in range(a.steps):
            total += step(order[i * batch:(i + 1) * batch])
        loss = total.item() / a.steps
        secs = time.perf_counter() - s
        print("RESULT %s %.1f img/s (%d steps of %d at %d px, cache of %d on %s, augmented there; "
              "loss %.3f)" % (name, a.steps * batch / secs, a.steps, batch, size, n, dev, loss),
              flush=True)
        del model, opt, cache
        if cuda:
            torch.cuda.empty_cache()

    if a.write_jpeg:
        with open(a.write_jpeg, "wb") as f:
            f.write(jpeg_bytes().numpy().tobytes())
        return 0
    if a.check:
        return check(a.check)
    b1, b2 = (int(v) for v in a.train_batches.split(","))
    if "infer" in what:
        infer(False)
    if "infer-bf16" in what and cuda:
        infer(True)
    if "seg" in what:
        seg_only()
    if "clsseg" in what:
        analysis(False)
    if "e2e" in what:
        analysis(True)
    if "analysis" in what:
        whole_analysis()
    if "train64" in what:
        train("resnet50", b1, a.train_size, "train_r50_b64_ips")
    if "train64-dev" in what:
        train_cached(b1, a.train_size, "train_r50_b64_devaug_ips")
    if "train256" in what:
        train("resnet50", b2, a.train_size, "train_r50_b256_ips")
    if "unet" in what:
        train("unet", a.unet_batch, a.unet_size, "train_unet_b32_ips")
    for w in what:
        r = re.fullmatch(r"classify_r(18|34|50)_(\d+)_k(\d+)", w)
        if r:
            classify_ensemble(int(r.group(1)), int(r.group(2)), int(r.group(3)), w + "_ms")
    for w in what:
        r = re.fullmatch(r"train_r(18|34|50)_(\d+)", w)
        if r:
            train("resnet" + r.group(1), a.train_batch, int(r.group(2)), w + "_ips")


if __name__ == "__main__":
    sys.exit(main())
