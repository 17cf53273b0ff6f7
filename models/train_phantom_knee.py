#!/usr/bin/python3
"""Train models/phantom-knee.onnx: a small 3D CNN meant to segment the KneeWeb knee phantom.

WORK IN PROGRESS: on the shared 2-core machine 100-step runs did not converge (see models/README.md);
no phantom-knee model is committed yet.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 models/train_phantom_knee.py
It writes phantoms with `KneeWeb models phantom-data` (seeds 1-5, 192x192x80 at 0.72x0.72x1.4 mm),
trains on seeds 1-4, reports Dice on seed 5, exports ONNX and writes the sidecar with its sha256.

The network has two paths: a coarse one on the image average-pooled by 8 (dilated 3x3x3
convolutions whose receptive field spans the whole field of view, so it knows which structure a
region belongs to, medial or lateral included), upsampled back, and a fine one (3x3x3
convolutions at full resolution) that places the borders; a 1x1x1 head joins them. The patch is
the whole 192x192x80 grid: the coarse path relies on seeing the full field of view.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("PHANTOM_DATA", "/tmp/kneeweb-phantom-data")
NAME = "phantom-knee"
VERSION = "1.0.0"
CLASSES = 10
SEEDS_TRAIN = [1, 2, 3, 4]
SEED_VALIDATE = 5
STEPS = int(os.environ.get("STEPS", "500"))


class PhantomKneeNet(nn.Module):
    def __init__(self, coarse=16, fine=8, factor=8):
        super().__init__()
        self.factor = factor

        def conv(cin, cout, dilation=1):
            return nn.Conv3d(cin, cout, 3, padding=dilation, dilation=dilation)

        self.pool = nn.AvgPool3d(factor)
        self.coarse = nn.Sequential(
            conv(1, coarse), nn.ReLU(),
            conv(coarse, coarse), nn.ReLU(),
            conv(coarse, coarse, 2), nn.ReLU(),
            conv(coarse, coarse, 4), nn.ReLU(),
            conv(coarse, coarse, 8), nn.ReLU(),
            conv(coarse, coarse, 2), nn.ReLU(),
            conv(coarse, coarse), nn.ReLU(),
        )
        self.up = nn.Upsample(scale_factor=factor, mode="trilinear", align_corners=False)
        self.fine = nn.Sequential(conv(1, fine), nn.ReLU(), conv(fine, fine), nn.ReLU())
        self.head = nn.Sequential(
            nn.Conv3d(coarse + fine, 32, 1), nn.ReLU(),
            nn.Conv3d(32, CLASSES, 1),
        )

    def forward(self, x):
        c = self.up(self.coarse(self.pool(x)))
        return self.head(torch.cat([c, self.fine(x)], dim=1))

    def forward_crop(self, x, start, size):
        """The same function on a crop (start and size multiples of 4): the coarse path still sees
        the whole volume; upsampling a block with one coarse voxel of margin is exact inside."""
        coarse = self.coarse(self.pool(x))
        f = self.factor
        lo = [max(s // f - 1, 0) for s in start]
        hi = [min((s + n) // f + 1, d) for s, n, d in zip(start, size, coarse.shape[2:])]
        block = self.up(coarse[:, :, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
        off = [f * (s // f - l) for s, l in zip(start, lo)]
        block = block[:, :, off[0]:off[0] + size[0], off[1]:off[1] + size[1], off[2]:off[2] + size[2]]
        # The fine path gets one voxel of context so its 3x3x3 convolutions see what the full pass sees.
        pad_lo = [min(2, s) for s in start]
        pad_hi = [min(2, d - s - n) for s, n, d in zip(start, size, x.shape[2:])]
        region = x[:, :, start[0] - pad_lo[0]:start[0] + size[0] + pad_hi[0],
                   start[1] - pad_lo[1]:start[1] + size[1] + pad_hi[1],
                   start[2] - pad_lo[2]:start[2] + size[2] + pad_hi[2]]
        fine = self.fine(region)[:, :, pad_lo[0]:pad_lo[0] + size[0], pad_lo[1]:pad_lo[1] + size[1], pad_lo[2]:pad_lo[2] + size[2]]
        return self.head(torch.cat([block, fine], dim=1))


def load(seed, shape):
    k, j, i = shape
    image = np.fromfile(os.path.join(DATA, f"phantom_{seed}_image.i16"), dtype="<i2").astype(np.float32).reshape(k, j, i)
    labels = np.fromfile(os.path.join(DATA, f"phantom_{seed}_labels.u8"), dtype=np.uint8).reshape(k, j, i)
    # nnU-Net's z-score over the whole image, as the sidecar asks of KneeWeb.
    image = (image - image.mean()) / max(float(image.std()), 1e-8)
    return torch.from_numpy(image)[None, None], torch.from_numpy(labels.astype(np.int64))[None]


def dice_per_class(prediction, truth):
    scores = []
    for c in range(1, CLASSES):
        p, t = prediction == c, truth == c
        denominator = int(p.sum() + t.sum())
        scores.append(1.0 if denominator == 0 else 2.0 * int((p & t).sum()) / denominator)
    return scores


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.use_deterministic_algorithms(True)
    if not os.path.exists(os.path.join(DATA, f"phantom_{SEED_VALIDATE}_labels.u8")):
        seeds = ",".join(str(s) for s in SEEDS_TRAIN + [SEED_VALIDATE])
        subprocess.run(["dotnet", "run", "--project", os.path.join(ROOT, "KneeWeb"), "--", "models", "phantom-data",
                        "--out", DATA, "--seeds", seeds, "--coarsening", "2"], check=True)
    with open(os.path.join(DATA, "phantom.json"), encoding="utf-8") as f:
        meta = json.load(f)
    i, j, k = meta["dims_ijk"]
    shape = (k, j, i)
    train = [load(s, shape) for s in SEEDS_TRAIN]
    validate = load(SEED_VALIDATE, shape)

    counts = torch.bincount(torch.cat([t.flatten() for _, t in train]), minlength=CLASSES).float()
    weights = (counts.sum() / counts.clamp(min=1)).sqrt()
    weights = weights / weights.mean()
    model = PhantomKneeNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=STEPS)
    cross_entropy = nn.CrossEntropyLoss(weight=weights)
    began = time.time()
    crop = (32, 64, 64)
    foreground = [torch.nonzero(t[0] > 0) for _, t in train]
    generator = np.random.default_rng(0)
    for step in range(STEPS):
        image, full_labels = train[step % len(train)]
        if generator.random() < 0.8:
            points = foreground[step % len(train)]
            centre = points[int(generator.integers(len(points)))].tolist()
        else:
            centre = [int(generator.integers(d)) for d in shape]
        start = [min(max((c - n // 2) // 4 * 4, 0), (d - n) // 4 * 4) for c, n, d in zip(centre, crop, shape)]
        labels = full_labels[:, start[0]:start[0] + crop[0], start[1]:start[1] + crop[1], start[2]:start[2] + crop[2]]
        logits = model.forward_crop(image, start, crop)
        probabilities = logits.softmax(1)
        one_hot = nn.functional.one_hot(labels, CLASSES).permute(0, 4, 1, 2, 3).float()
        intersection = (probabilities * one_hot).sum((0, 2, 3, 4))
        soft_dice = (2 * intersection + 1) / (probabilities.sum((0, 2, 3, 4)) + one_hot.sum((0, 2, 3, 4)) + 1)
        loss = cross_entropy(logits, labels) + (1 - soft_dice[1:].mean())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 50 == 0 or step == STEPS - 1:
            with torch.no_grad():
                prediction = model(validate[0]).argmax(1)
            scores = dice_per_class(prediction.numpy(), validate[1].numpy())
            print(f"step {step:4d} loss {loss.item():.4f} validation Dice {' '.join(f'{d:.3f}' for d in scores)} "
                  f"({time.time() - began:.0f} s)", flush=True)

    model.eval()
    path = os.path.join(ROOT, "models", NAME + ".onnx")
    torch.onnx.export(model, torch.zeros(1, 1, *shape), path, opset_version=16,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    with torch.no_grad():
        prediction = model(validate[0]).argmax(1)
    scores = dice_per_class(prediction.numpy(), validate[1].numpy())
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    sidecar = {
        "name": NAME,
        "version": VERSION,
        "description": "Small 3D CNN (coarse dilated path + fine path) trained on the KneeWeb knee phantom. "
                       "Segments the phantom only; not for real MRI.",
        "input_channels": 1,
        "num_classes": CLASSES,
        "patch_size_ijk": [i, j, k],
        "target_spacing_mm_ijk": meta["spacing_mm_ijk"],
        "normalization": {"scheme": "z_score", "use_nonzero_mask": False},
        "output": "logits",
        "labels": {str(c): c for c in range(CLASSES)},
        "sliding_window": {"overlap": 0.5, "gaussian": True, "batch_size": 1},
        "mirroring": {"enabled": False, "axes": [0, 1, 2]},
        "provenance": {
            "builder": "models/train_phantom_knee.py (Debian python3-torch " + torch.__version__ + ")",
            "training_data": f"KneeWeb phantom (KneeWeb/Imaging/Phantom), seeds {SEEDS_TRAIN}, coarsening 2; "
                             f"validation seed {SEED_VALIDATE}",
            "source": "this repository",
            "license": "same as KneeWeb",
            "notes": f"{STEPS} Adam steps; validation Dice (labels 1-9): " + " ".join(f"{d:.3f}" for d in scores),
        },
        "sha256": sha,
    }
    with open(os.path.join(ROOT, "models", NAME + ".json"), "w", encoding="utf-8") as f:
        json.dump(sidecar, f, indent=2)
        f.write("\n")
    print(f"wrote {path} sha256 {sha}; validation Dice {' '.join(f'{d:.3f}' for d in scores)}")
    return 0 if min(scores) >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
