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
    ap.add_argument("--what", default="infer,infer-bf16,train64,train256,unet")
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

    b1, b2 = (int(v) for v in a.train_batches.split(","))
    if "infer" in what:
        infer(False)
    if "infer-bf16" in what and cuda:
        infer(True)
    if "train64" in what:
        train("resnet", b1, a.train_size, "train_r50_b64_ips")
    if "train256" in what:
        train("resnet", b2, a.train_size, "train_r50_b256_ips")
    if "unet" in what:
        train("unet", a.unet_batch, a.unet_size, "train_unet_b32_ips")


if __name__ == "__main__":
    sys.exit(main())
