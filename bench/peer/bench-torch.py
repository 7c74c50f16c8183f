#!/usr/bin/env python3
"""The peer of bench/cpu/derm-bench-engine: the same measurements in Python
PyTorch (eager), done the same way, printing the same RESULT lines.

  infer       torchvision resnet50 (7 classes), batch 1 at 224 px: uint8 HWC
              image -> device -> normalise -> forward -> softmax -> host,
              median of --runs
  infer-bf16  the same under torch.autocast(bfloat16) (CUDA only)
  train64/256 resnet50 training images/s, AdamW, cross-entropy, bf16 autocast
              + channels_last + cudnn.benchmark on CUDA; batches fed from host
              uint8 NHWC like the engine's
  unet        the engine's U-Net (same layers), 256 px, batch 32, BCE + Dice
  clsseg      batch 1: decoded uint8 image -> resnet50 probabilities (resized
              to 224) and U-Net (base 32, 256 px) mask at the image's size
  e2e         the same from JPEG bytes (torchvision.io.decode_jpeg on the CPU)
  train64-dev resnet50 training, batch 64, from a uint8 cache of 512 images on
              the device, gathered with index_select and augmented there
              (affine_grid + grid_sample, colour jitter), as the engine's
"""
import argparse
import contextlib
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--what", default="infer,infer-bf16,clsseg,e2e,train64,train64-dev,train256,unet")
    ap.add_argument("--jpeg", default=None, help="JPEG for e2e (default: a generated 600 x 450)")
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

        for _ in range(a.warmup * 2):
            once()
        t = []
        for _ in range(a.runs):
            s = time.perf_counter()
            once()
            t.append((time.perf_counter() - s) * 1000)
        t.sort()
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

    def analysis(from_jpeg):
        torch.manual_seed(0)
        cls = torchvision.models.resnet50(num_classes=7).to(dev).eval()
        seg = UNet(32).to(dev).eval()
        if cuda:
            cls = cls.to(memory_format=torch.channels_last)
            seg = seg.to(memory_format=torch.channels_last)
        data = jpeg_bytes()
        decoded = torchvision.io.decode_jpeg(data)   # 3 x H x W uint8

        def once():
            chw = torchvision.io.decode_jpeg(data) if from_jpeg else decoded
            h, w = chw.shape[1:]
            with torch.no_grad():
                x = chw.unsqueeze(0).to(dev, non_blocking=True).float().div(255.0)
                xc = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False,
                                   antialias=True)
                p = torch.softmax(cls(((xc - mean) / std).contiguous(memory_format=fmt)), 1).cpu()
                xs = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False,
                                   antialias=True)
                m = torch.sigmoid(seg(((xs - mean) / std).contiguous(memory_format=fmt)))
                m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
                m = m.mul(255).round().clamp(0, 255).to(torch.uint8).cpu()
            return p, m

        for _ in range(a.warmup * 2):
            once()
        t = []
        for _ in range(a.runs):
            s = time.perf_counter()
            once()
            t.append((time.perf_counter() - s) * 1000)
        t.sort()
        print("RESULT %s %.3f ms (median of %d; p10 %.3f, p90 %.3f; %s; %d byte JPEG, decoded %d x %d)" % (
            "e2e_jpeg_ms" if from_jpeg else "cls_seg_ms", statistics.median(t), a.runs,
            t[a.runs // 10], t[a.runs * 9 // 10], dev, data.numel(), decoded.shape[2],
            decoded.shape[1]), flush=True)
        del cls, seg
        if cuda:
            torch.cuda.empty_cache()

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

    b1, b2 = (int(v) for v in a.train_batches.split(","))
    if "infer" in what:
        infer(False)
    if "infer-bf16" in what and cuda:
        infer(True)
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
