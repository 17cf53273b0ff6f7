#!/usr/bin/python3
"""Reference segmentations for KneeWeb's nnU-Net inference, from an independent numpy port of
nnU-Net v2's predictor (shared/NNUNET.md steps 1-10: preprocessing/cropping, default_normalization,
default_resampling, sliding_window_prediction, export_prediction), with the fixture networks of
scripts/nnunet/fixture_networks.py for the forward pass.

    /usr/bin/python3 scripts/nnunet/reference_predict.py [--case NAME] [--units]

Writes KneeWeb.Tests/TestData/NnUnet/reference/: the test images (<case>.nii.gz: anisotropic
non-unit spacing, zero border with an enclosed zero hole, sizes that are no multiple of the patch,
one oblique affine, one whose pixdim disagrees with its sform) and
<case>__<model>__mirror_{off,on}.nii.gz, the label map in nnU-Net's label values on the image's
grid. --case regenerates one case only (the others stay byte-identical). The tests import the
fixture folders with KneeWeb's own importer; no ONNX export is made here.
"""
import itertools
import json
import os
import sys

import nibabel as nib
import numpy as np
import torch
from scipy.ndimage import binary_fill_holes, gaussian_filter, map_coordinates
from skimage.transform import resize

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixture_networks as fn  # noqa: E402

ROOT = os.path.join(HERE, '..', '..', 'KneeWeb.Tests', 'TestData', 'NnUnet')
OUT = os.path.join(ROOT, 'reference')

# (registry name, folder, configuration, folds, schema label per model label)
MODELS = {
    'synonyms-fullres': ('Dataset701_KneeSynonyms/nnUNetTrainer__nnUNetPlans__3d_fullres', '3d_fullres', [0, 1],
                         {0: 0, 1: 1, 2: 4, 3: 2, 4: 5, 5: 6, 6: 3, 7: 7, 8: 8, 9: 9}),
    'cascade-lowres': ('Dataset702_KneeCascade/nnUNetTrainer__nnUNetResEncUNetMPlans__3d_lowres', '3d_lowres', [0],
                       {0: 0, 1: 1, 2: 2, 3: 8, 4: 9, 5: 4}),
    'cascade-fullres': ('Dataset702_KneeCascade/nnUNetTrainer__nnUNetResEncUNetMPlans__3d_cascade_fullres', '3d_cascade_fullres', [0, 1],
                        {0: 0, 1: 1, 2: 2, 3: 8, 4: 9, 5: 4}),
    'oldplans-fullres': ('Dataset703_KneeOldPlans/nnUNetTrainer__nnUNetPlans__3d_fullres', '3d_fullres', ['all'],
                         {0: 0, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 1, 8: 2, 9: 3}),
}

# (case, model, shape ijk, spacing ijk, channels, oblique, intensity scale/offset[, pixdim ijk])
# 'pixdim': the sform's columns say one spacing, pixdim another (a tool rewrote the sform only).
# SimpleITK (nnU-Net's default reader) and nibabel both report pixdim, so nnU-Net resamples by it.
CASES = [
    ('aniso', 'synonyms-fullres', (17, 61, 70), (2.5, 0.6, 0.55), 1, True, (300.0, 100.0)),
    ('ct', 'cascade-fullres', (40, 36, 30), (0.8, 0.9, 1.1), 1, False, (400.0, -50.0)),
    ('twochan', 'oldplans-fullres', (29, 27, 11), (0.7, 0.75, 1.7), 2, False, (200.0, 50.0)),
    ('pixdim', 'synonyms-fullres', (15, 52, 58), (2.5, 0.6, 0.55), 1, True, (300.0, 100.0), (1.8, 0.7, 0.45)),
]


# ----------------------------------------------------------------------------- images

def make_image(shape_ijk, channels, seed, scale, offset):
    """Smooth random structure inside an ellipsoid, zero outside, a zero cavity inside (filled by the crop)."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape_ijk], indexing='ij')
    inside = (i / 0.8) ** 2 + (j / 0.75) ** 2 + (k / 0.85) ** 2 < 1
    cavity = (i / 0.2) ** 2 + (j / 0.2) ** 2 + (k / 0.25) ** 2 < 1
    vols = []
    for c in range(channels):
        noise = gaussian_filter(rng.normal(size=shape_ijk), 2.0)
        noise = (noise - noise.mean()) / (noise.std() + 1e-8)
        v = offset + scale * (0.5 + 0.3 * noise + 0.2 * np.sin(3 * i + c) * np.cos(2 * j))
        v[~inside | cavity] = 0
        vols.append(v.astype(np.float32))
    return np.stack(vols, -1) if channels > 1 else vols[0]


def affine_for(spacing_ijk, oblique):
    a = np.diag(list(spacing_ijk) + [1.0])
    if oblique:
        t = np.deg2rad(17.0)
        r = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        a[:3, :3] = r @ a[:3, :3]
    a[:3, 3] = [-12.5, 30.25, -7.0]
    return a


def read_like_nnunet(path):
    """SimpleITKIO/NibabelIO without reorientation: [c, k, j, i] float32, spacing [sk, sj, si]."""
    img = nib.load(path)
    data = np.asanyarray(img.dataobj).astype(np.float32)
    if data.ndim == 3:
        data = data[..., None]
    data = np.moveaxis(data, -1, 0).transpose(0, 3, 2, 1)
    spacing = [float(z) for z in img.header.get_zooms()[:3]][::-1]
    return np.ascontiguousarray(data), spacing


# ----------------------------------------------------------------------------- nnU-Net steps

def crop_to_nonzero(data, seg=None):
    mask = np.any(data != 0, axis=0)
    mask = binary_fill_holes(mask)
    where = np.argwhere(mask)
    lo, hi = where.min(0), where.max(0) + 1
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    mask = mask[sl]
    data = data[(slice(None),) + sl]
    if seg is not None:
        seg = seg[(slice(None),) + sl].copy()
        seg[(seg == 0) & (~mask[None])] = -1
    else:
        seg = np.where(mask, 0, -1)[None].astype(np.int8)
    return data, seg, sl


def normalize(data, seg, schemes, masks, intensity):
    out = np.zeros_like(data, dtype=np.float32)
    for c in range(data.shape[0]):
        x = data[c].astype(np.float32)
        if schemes[c] == 'ZScoreNormalization':
            if masks[c]:
                m = seg[0] >= 0
                mean, std = x[m].mean(), x[m].std()
                x[m] = (x[m] - mean) / max(std, 1e-8)
            else:
                x = (x - x.mean()) / max(x.std(), 1e-8)
        elif schemes[c] == 'CTNormalization':
            p = intensity[str(c)]
            x = np.clip(x, p['percentile_00_5'], p['percentile_99_5'])
            x = (x - p['mean']) / max(p['std'], 1e-8)
        else:
            raise ValueError(schemes[c])
        out[c] = x
    return out


def separate_z(current, new, threshold=3.0):
    for sp in (current, new):
        sp = np.array(sp, dtype=float)
        if sp.max() / sp.min() > threshold:
            axes = np.where(sp.max() / sp == 1)[0]
            return int(axes[0]) if len(axes) == 1 else None
    return None


def resample(data, new_shape, current, new, is_seg, order, order_z=0):
    """resample_data_or_seg_to_shape with force_separate_z None."""
    new_shape = np.array(new_shape)
    shape = np.array(data.shape[1:])
    if np.all(shape == new_shape):
        return data
    axis = separate_z(current, new)
    dtype = data.dtype

    def resize_fn(x, s):
        if not is_seg:
            return resize(x.astype(float), s, order, mode='edge', anti_aliasing=False)
        out = np.zeros(s, dtype=x.dtype)
        for lab in np.unique(x):
            r = resize((x == lab).astype(float), s, order, mode='edge', clip=True, anti_aliasing=False)
            out[r >= 0.5] = lab
        return out

    out = []
    for c in range(data.shape[0]):
        if axis is None:
            out.append(resize_fn(data[c], tuple(new_shape)))
            continue
        plane = [n for a, n in enumerate(new_shape) if a != axis]
        slices = [resize_fn(np.take(data[c], s, axis=axis), tuple(plane)) for s in range(shape[axis])]
        r = np.stack(slices, axis)
        if shape[axis] != new_shape[axis]:
            grids = np.mgrid[tuple(slice(0, n) for n in new_shape)].astype(float)
            for a in range(3):
                grids[a] = r.shape[a] / new_shape[a] * (grids[a] + 0.5) - 0.5
            r = map_coordinates(r, grids, order=order_z, mode='nearest')
        out.append(r)
    return np.stack(out).astype(dtype)


def steps(size, patch, step=0.5):
    n = int(np.ceil((size - patch) / (patch * step))) + 1
    actual = (size - patch) / (n - 1) if n > 1 else 99999999999
    return [int(np.round(actual * i)) for i in range(n)]


def gaussian(patch):
    tmp = np.zeros(patch)
    tmp[tuple(p // 2 for p in patch)] = 1
    g = gaussian_filter(tmp, [p / 8 for p in patch], 0, mode='constant', cval=0)
    g = (g / g.max() * 10).astype(np.float32)
    g[g == 0] = g[g != 0].min()
    return g


def sliding_window(nets, data, patch, mirror_axes):
    shape = np.array(data.shape[1:])
    new = np.maximum(shape, patch)
    below = (new - shape) // 2
    padded = np.zeros((data.shape[0],) + tuple(new), dtype=np.float32)
    padded[(slice(None),) + tuple(slice(b, b + s) for b, s in zip(below, shape))] = data
    g = torch.from_numpy(gaussian(patch))
    logits = None
    weight = torch.zeros(tuple(new))
    combos = [c for i in range(len(mirror_axes)) for c in itertools.combinations([m + 2 for m in mirror_axes], i + 1)]
    with torch.no_grad():
        for s0, s1, s2 in itertools.product(*[steps(n, p) for n, p in zip(new, patch)]):
            sl = (slice(s0, s0 + patch[0]), slice(s1, s1 + patch[1]), slice(s2, s2 + patch[2]))
            x = torch.from_numpy(padded[(slice(None),) + sl][None].copy())
            pred = sum(net(x) for net in nets) / len(nets)
            for axes in combos:
                pred += torch.flip(sum(net(torch.flip(x, axes)) for net in nets) / len(nets), axes)
            pred = pred[0] / (len(combos) + 1)
            if logits is None:
                logits = torch.zeros((pred.shape[0],) + tuple(new))
            logits[(slice(None),) + sl] += pred * g
            weight[sl] += g
    logits /= weight
    return logits[(slice(None),) + tuple(slice(b, b + s) for b, s in zip(below, shape))].numpy()


def predict(model, image_path, mirror, previous=None):
    folder, configuration, folds, _ = MODELS[model]
    folder = os.path.join(ROOT, folder)
    plans = json.load(open(os.path.join(folder, 'plans.json')))
    dataset = json.load(open(os.path.join(folder, 'dataset.json')))
    config = fn.resolve_configuration(plans, configuration)
    tf = plans['transpose_forward']
    nets, mirror_axes = [], ()
    for fold in folds:
        net = fn.build_network(plans, configuration, dataset, fn.num_input_channels(plans, configuration, dataset))
        ckpt = fn.load_checkpoint_into(net, os.path.join(folder, f'fold_{fold}', 'checkpoint_final.pth'))
        mirror_axes = tuple(ckpt['inference_allowed_mirroring_axes'] or ())
        nets.append(net)

    data, spacing = read_like_nnunet(image_path)
    data = data.transpose([0] + [a + 1 for a in tf])
    spacing = [spacing[a] for a in tf]
    before = data.shape[1:]
    seg = None
    if previous is not None:
        seg = previous[None].transpose([0] + [a + 1 for a in tf]).astype(np.int16)
    data, seg, sl = crop_to_nonzero(data, seg)
    cropped = data.shape[1:]
    target = config['spacing']
    new_shape = [int(round(i / j * k)) for i, j, k in zip(spacing, target, cropped)]
    data = normalize(data, seg, config['normalization_schemes'], config['use_mask_for_norm'],
                     plans['foreground_intensity_properties_per_channel'])
    data = resample(data, new_shape, spacing, target, False, 3, 0)
    if previous is not None:
        seg = resample(seg, new_shape, spacing, target, True, 1, 0)
        onehot = np.stack([(seg[0] == lab).astype(np.float32) for lab in fn.foreground_labels(dataset)])
        data = np.vstack([data, onehot])

    logits = sliding_window(nets, data.astype(np.float32), config['patch_size'], mirror_axes if mirror else ())
    logits = resample(logits, cropped, target, spacing, False, 1, 0)
    labels = np.argmax(logits, 0)
    full = np.zeros(before, dtype=np.uint8)
    full[sl] = labels
    return full.transpose(plans['transpose_backward'])  # [k, j, i], label values (consecutive in nnU-Net v2)


def units():
    """Small step-by-step references (units.json) for KneeWeb's unit tests, from skimage/scipy directly."""
    rng = np.random.default_rng(7)
    cases = {'resize': [], 'resample': [], 'steps': [], 'gaussian': [], 'fill_holes': [], 'seg': []}
    for shape, new, order in [((5, 7, 6), (9, 4, 6), 3), ((4, 4, 9), (4, 11, 5), 3), ((6, 5, 4), (3, 8, 7), 1), ((3, 3, 3), (3, 3, 3), 3)]:
        x = rng.normal(size=shape) * 50 + 10
        y = resize(x, new, order, mode='edge', anti_aliasing=False) if shape != new else x
        cases['resize'].append({'shape': shape, 'new_shape': new, 'order': order, 'input': x.ravel().tolist(), 'output': y.ravel().tolist()})
    for shape, cur, tgt in [((6, 9, 8), (3.5, 0.6, 0.55), (3.0, 0.5, 0.5)), ((5, 8, 7), (1.0, 1.0, 1.0), (4.0, 0.9, 0.9)), ((6, 7, 5), (0.8, 0.9, 1.1), (0.7, 0.7, 0.7))]:
        x = rng.normal(size=shape).astype(np.float32)
        new = [int(round(i / j * k)) for i, j, k in zip(cur, tgt, shape)]
        y = resample(x[None], new, cur, tgt, False, 3, 0)[0]
        seg = rng.integers(-1, 3, size=shape).astype(np.int16)
        ys = resample(seg[None], new, cur, tgt, True, 1, 0)[0]
        cases['resample'].append({'shape': shape, 'current': cur, 'target': tgt, 'new_shape': new, 'separate_z': separate_z(cur, tgt),
                                  'input': x.ravel().tolist(), 'output': y.ravel().tolist(), 'seg': seg.ravel().tolist(), 'seg_output': ys.ravel().tolist()})
    for size, patch in [(77, 32), (16, 16), (110, 64), (50, 20), (45, 20), (100, 40), (133, 48), (161, 112)]:
        cases['steps'].append({'size': size, 'patch': patch, 'steps': steps(size, patch)})
    for patch in [(16, 32, 32), (5, 7, 9), (24, 24, 24)]:
        g = gaussian(patch)
        cases['gaussian'].append({'patch': patch, 'values': g.ravel().tolist()})
    m = np.zeros((7, 8, 9), bool)
    m[1:6, 1:7, 1:8] = True
    m[2:4, 3:5, 3:6] = False  # enclosed cavity
    m[3, 0:3, 4] = False       # open tunnel into the shell from the border
    m[1:6, 1:7, 4] = m[1:6, 1:7, 4]
    cases['fill_holes'].append({'shape': m.shape, 'mask': m.astype(int).ravel().tolist(), 'filled': binary_fill_holes(m).astype(int).ravel().tolist()})
    with open(os.path.join(OUT, 'units.json'), 'w') as f:
        json.dump(cases, f)


def main():
    os.makedirs(OUT, exist_ok=True)
    if '--units' in sys.argv:
        units()
        return
    only = sys.argv[sys.argv.index('--case') + 1] if '--case' in sys.argv else None
    torch.set_num_threads(2)
    for n, (case, model, shape, spacing, channels, oblique, (scale, offset), *pixdim) in enumerate(CASES):
        if only is not None and case != only:
            continue
        path = os.path.join(OUT, f'{case}.nii.gz')
        data = make_image(shape, channels, 100 + n, scale, offset)
        affine = affine_for(spacing, oblique)
        if pixdim:
            # sform only (qform code 0) and pixdim set apart from it; affine=None keeps the header as written.
            hdr = nib.Nifti1Header()
            hdr.set_data_shape(data.shape)
            hdr.set_data_dtype(np.float32)
            hdr.set_sform(affine, code=1)
            hdr.set_qform(None, code=0)
            hdr.set_zooms(tuple(pixdim[0]) + ((1.0,) if data.ndim == 4 else ()))
            hdr.set_xyzt_units('mm')
            img = nib.Nifti1Image(data, None, header=hdr)
        else:
            img = nib.Nifti1Image(data, affine)
            img.set_qform(img.affine, code=1)
            img.set_sform(img.affine, code=1)
        nib.save(img, path)
        check = nib.load(path)
        assert np.allclose(check.header.get_zooms()[:3], pixdim[0] if pixdim else spacing, atol=1e-5), check.header.get_zooms()
        for mirror in (False, True):
            previous = None
            if model == 'cascade-fullres':
                previous = predict('cascade-lowres', path, mirror)
                save_labels(previous, check, os.path.join(OUT, f'{case}__cascade-lowres__mirror_{"on" if mirror else "off"}.nii.gz'))
            labels = predict(model, path, mirror, previous)
            save_labels(labels, check, os.path.join(OUT, f'{case}__{model}__mirror_{"on" if mirror else "off"}.nii.gz'))
            print(case, model, 'mirror', mirror, np.bincount(labels.ravel(), minlength=2))


def save_labels(labels_kji, like, path):
    out = nib.Nifti1Image(np.ascontiguousarray(labels_kji.transpose(2, 1, 0)).astype(np.uint8), like.affine)
    out.set_qform(like.affine, code=1)
    out.set_sform(like.affine, code=1)
    nib.save(out, path)


if __name__ == '__main__':
    main()
