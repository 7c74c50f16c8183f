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
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--what", default="infer,infer-bf16,seg,clsseg,e2e,train64,train64-dev,train256,unet")
    ap.add_argument("--jpeg", default=None, help="JPEG for seg, clsseg, e2e (default: a generated 600 x 450)")
    ap.add_argument("--write-jpeg", default=None, help="write the generated JPEG to this file and exit")
    ap.add_argument("--check", default=None, help="compare with what derm-bench-engine --check DIR wrote")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--unet-base", type=int, default=64)
    ap.add_argument("--train-size", type=int, default=224)
    ap.add_argument("--train-batches", default="64,256")
    ap.add_argument("--unet-size", type=int, default=256)
    ap.add_argument("--unet-batch", type=int, default=32)
    a = ap.parse_args()
    what = a.what.split(",")
    # As the engine does: every core (Debian's torch starts with one thread).
    torch.set_num_threads(a.threads if a.threads > 0 else os.cpu_count())
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    print("# torch %s, %d CPU threads, device %s" % (torch.__version__, torch.get_num_threads(), dev))
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
    fmt = torch.channels_last if cuda else torch.contiguous_format

    def normalise(u8):
        x = u8.to(dev, non_blocking=True).permute(0, 3, 1, 2).float().div(255.0).sub(mean).div(std)
        return x.contiguous(memory_format=fmt)

    def autocast(enabled):
        if enabled and cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
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
        if cuda:
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

    def train(kind, batch, size, name):
        torch.manual_seed(0)
        if kind == "unet":
            model = UNet(a.unet_base)
        else:
            model = torchvision.models.resnet50(num_classes=7)
        model = model.to(dev).train()
        if cuda:
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

    def analysis_models(want_cls=True):
        """The app's default models, with their parameter counts."""
        torch.manual_seed(0)
        cls = torchvision.models.resnet50(num_classes=7).to(dev).eval() if want_cls else None
        seg = UNet(32).to(dev).eval()
        if cuda:
            cls = cls.to(memory_format=torch.channels_last) if want_cls else None
            seg = seg.to(memory_format=torch.channels_last)
        if want_cls:
            print("# resnet50: %d parameters, 224 px input" % count_parameters(cls))
        print("# unet: %d parameters, 256 px input, base width 32" % count_parameters(seg))
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
        return torch.softmax(cls(((xc - mean) / std).contiguous(memory_format=fmt)), 1).cpu()

    def segment(seg, x):
        """x: 1 x 3 x H x W in 0..1 -> H x W uint8 mask on the host, as the
        engine's: 0..255 = lesion probability (threshold at 128)."""
        h, w = x.shape[2:]
        xs = resized(x, 256)
        m = torch.sigmoid(seg(((xs - mean) / std).contiguous(memory_format=fmt)))
        m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        return m.mul(255).round().clamp(0, 255).to(torch.uint8).cpu()[0, 0]

    def seg_only():
        _, seg = analysis_models(want_cls=False)
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
        cls, seg = analysis_models()
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

        cls, seg = analysis_models()
        cls.load_state_dict(read_safetensors(os.path.join(d, "resnet50.safetensors")))
        seg.load_state_dict({engine_unet_name(k): v
                             for k, v in read_safetensors(os.path.join(d, "unet.safetensors")).items()})
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
        if cuda:
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
    if "train64" in what:
        train("resnet", b1, a.train_size, "train_r50_b64_ips")
    if "train64-dev" in what:
        train_cached(b1, a.train_size, "train_r50_b64_devaug_ips")
    if "train256" in what:
        train("resnet", b2, a.train_size, "train_r50_b256_ips")
    if "unet" in what:
        train("unet", a.unet_batch, a.unet_size, "train_unet_b32_ips")


if __name__ == "__main__":
    sys.exit(main())
