#!/usr/bin/python3
"""Writes the nnU-Net test fixtures of KneeWeb.Tests/TestData/NnUnet (Debian python3-torch, CPU).

    /usr/bin/python3 scripts/nnunet/make_fixtures.py [OUT]       # default: KneeWeb.Tests/TestData/NnUnet
    /usr/bin/python3 scripts/nnunet/make_fixtures.py --resenc-m OUTDIR   # a ResEnc-M-sized folder (not committed)

Every results folder holds dataset.json, plans.json and fold_N/checkpoint_{final,best}.pth in the
exact dict nnU-Net v2's save_checkpoint writes, with seeded random weights, plus:

* fold_N/<checkpoint>.expect.json: shape, sum and a few values of every network_weights tensor;
* reference/input.npy: a seeded input tile [1, C, *tile] (network axes), and
  reference/logits_<fold>_<checkpoint>.npy: torch's logits for it, and reference/logits_mean_final.npy
  (the mean over the folds' final checkpoints, which an imported multi-fold model must equal).

torch 1.13 writes the 1.x zip; rewrite_as_torch2() turns a file into the torch 2.x layout
(byteorder, .format_version, .storage_alignment, .data/serialization_id, numpy._core globals,
64-byte aligned entries) so the reader is tested on both.
"""

from __future__ import annotations

import copy
import io
import json
import os
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_networks as fn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, '..', '..', 'KneeWeb.Tests', 'TestData', 'NnUnet'))


# ----------------------------------------------------------------------------- plans and datasets

def _config(patch, spacing, arch_class, arch_kwargs, normalization, mask, batch=2):
    return {
        'data_identifier': 'nnUNetPlans_3d_fullres',
        'preprocessor_name': 'DefaultPreprocessor',
        'batch_size': batch,
        'patch_size': patch,
        'median_image_size_in_voxels': [p * 3 for p in patch],
        'spacing': spacing,
        'normalization_schemes': normalization,
        'use_mask_for_norm': mask,
        'resampling_fn_data': 'resample_data_or_seg_to_shape',
        'resampling_fn_seg': 'resample_data_or_seg_to_shape',
        'resampling_fn_data_kwargs': {'is_seg': False, 'order': 3, 'order_z': 0, 'force_separate_z': None},
        'resampling_fn_seg_kwargs': {'is_seg': True, 'order': 1, 'order_z': 0, 'force_separate_z': None},
        'resampling_fn_probabilities': 'resample_data_or_seg_to_shape',
        'resampling_fn_probabilities_kwargs': {'is_seg': False, 'order': 1, 'order_z': 0, 'force_separate_z': None},
        'architecture': {
            'network_class_name': arch_class,
            'arch_kwargs': arch_kwargs,
            '_kw_requires_import': ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
        },
        'batch_dice': False,
    }


def _arch(n_stages, features, kernels, strides, blocks_key, blocks, decoder):
    return {
        'n_stages': n_stages,
        'features_per_stage': features,
        'conv_op': 'torch.nn.modules.conv.Conv3d',
        'kernel_sizes': kernels,
        'strides': strides,
        blocks_key: blocks,
        'n_conv_per_stage_decoder': decoder,
        'conv_bias': True,
        'norm_op': 'torch.nn.modules.instancenorm.InstanceNorm3d',
        'norm_op_kwargs': {'eps': 1e-05, 'affine': True},
        'dropout_op': None,
        'dropout_op_kwargs': None,
        'nonlin': 'torch.nn.LeakyReLU',
        'nonlin_kwargs': {'inplace': True},
    }


def _intensity(mean, std, low, high):
    return {'max': high * 1.5, 'mean': mean, 'median': mean, 'min': low - 10.0, 'percentile_00_5': low,
            'percentile_99_5': high, 'std': std}


def _plans(dataset, plans_name, configurations, transpose_forward, channels):
    backward = [int(i) for i in np.argsort(transpose_forward)]
    return {
        'dataset_name': dataset,
        'plans_name': plans_name,
        'original_median_spacing_after_transp': [1.0, 1.0, 1.0],
        'original_median_shape_after_transp': [64, 64, 64],
        'image_reader_writer': 'SimpleITKIO',
        'transpose_forward': transpose_forward,
        'transpose_backward': backward,
        'configurations': configurations,
        'experiment_planner_used': 'ExperimentPlanner',
        'label_manager': 'LabelManager',
        'foreground_intensity_properties_per_channel': {
            str(c): _intensity(100.0 + 50 * c, 40.0 + 5 * c, 5.0, 400.0 + 20 * c) for c in range(channels)},
    }


def _dataset_json(channel_names, labels, n_training=20):
    return {'channel_names': channel_names, 'labels': labels, 'numTraining': n_training, 'file_ending': '.nii.gz',
            'name': 'synthetic', 'description': 'KneeWeb importer test fixture (random weights)'}


# ----------------------------------------------------------------------------- checkpoint dict

def _logging(rng, epochs, classes):
    f64 = np.float64
    f32 = np.float32
    return {
        'mean_fg_dice': [f64(rng.random()) for _ in range(epochs)],
        'ema_fg_dice': [f64(rng.random()) for _ in range(epochs)],
        'dice_per_class_or_region': [[f64(rng.random()) for _ in range(classes)] for _ in range(epochs)],
        'train_losses': [f32(-rng.random()) for _ in range(epochs)],
        'val_losses': [f32(-rng.random()) for _ in range(epochs)],
        'lrs': [0.01 * (1 - e / 1000) ** 0.9 for e in range(epochs)],
        'epoch_start_timestamps': [1.7e9 + 100.0 * e for e in range(epochs)],
        'epoch_end_timestamps': [1.7e9 + 100.0 * e + 90.0 for e in range(epochs)],
    }


def checkpoint_dict(net, plans, configuration, fold, dataset_json, mirror_axes, seed, prefix=''):
    """The dict nnUNetTrainer.save_checkpoint writes (SGD momentum buffers, GradScaler state, logging)."""
    gen = torch.Generator().manual_seed(seed + 7)
    rng = np.random.default_rng(seed)
    params = list(net.parameters())
    state = {i: {'momentum_buffer': torch.randn(p.shape, generator=gen) * 1e-3} for i, p in enumerate(params)}
    optimizer = {'state': state, 'param_groups': [{
        'lr': 0.0099, 'momentum': 0.99, 'dampening': 0, 'weight_decay': 3e-05, 'nesterov': True, 'maximize': False,
        'foreach': None, 'differentiable': False, 'initial_lr': 0.01, 'params': list(range(len(params)))}]}
    weights = net.state_dict()
    if prefix:
        # A third-party re-save (DataParallel, torch.compile): nnU-Net itself strips these.
        weights = OrderedDict((prefix + k, v) for k, v in weights.items())
    epochs = 3
    classes = fn.num_output_channels(dataset_json) - 1
    log = _logging(rng, epochs, classes)
    return {
        'network_weights': weights,
        'optimizer_state': optimizer,
        'grad_scaler_state': {'scale': 65536.0, 'growth_factor': 2.0, 'backoff_factor': 0.5, 'growth_interval': 2000,
                              '_growth_tracker': 17},
        'logging': log,
        '_best_ema': log['ema_fg_dice'][-1],
        'current_epoch': epochs,
        'init_args': {'plans': plans, 'configuration': configuration, 'fold': fold, 'dataset_json': dataset_json,
                      'device': torch.device('cuda', 0)},
        'trainer_name': 'nnUNetTrainer',
        'inference_allowed_mirroring_axes': mirror_axes,
    }


def randomise(net, seed):
    """Seeded weights with a spread that keeps logits well apart (He-like, norms near 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() > 1:
                # A transposed conv with kernel = stride sums over input channels only.
                fan_in = p.shape[0] if 'transpconvs' in name else p.shape[1] * int(np.prod(p.shape[2:]))
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif name.endswith('norm.weight'):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


# ----------------------------------------------------------------------------- zip rewriting

def _entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_aligned_zip(path, entries, align=64):
    """A stored zip whose entry data start on `align` bytes, padded with an 'FB' extra field like PyTorch's writer."""
    with open(path, 'wb') as f, zipfile.ZipFile(f, 'w', zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            start = f.tell() + 30 + len(name.encode()) + 4
            pad = (-start) % align
            info.extra = struct.pack('<HH', 0x4246, pad) + b'Z' * pad
            z.writestr(info, data)


def _sub_pickle(pkl: bytes, torch2: bool, cuda: bool) -> bytes:
    if cuda:
        # Storages saved from a GPU model carry 'cuda:0' as their location. Pickles address the
        # memo by index, never by byte offset, so a string can change length safely.
        pkl = pkl.replace(b'X\x03\x00\x00\x00cpu', b'X\x06\x00\x00\x00cuda:0')
    if torch2:
        pkl = pkl.replace(b'cnumpy.core.multiarray\nscalar\n', b'cnumpy._core.multiarray\nscalar\n')
    return pkl


def rewrite(path, torch2=False, cuda=True):
    """Rewrites a torch 1.13 file in place: GPU locations, and optionally the torch 2.x layout."""
    entries = _entries(path)
    prefix = entries[0][0].split('/')[0]
    out = []
    for name, data in entries:
        if name.endswith('/data.pkl'):
            data = _sub_pickle(data, torch2, cuda)
        out.append((name, data))
    if torch2:
        pkl = [e for e in out if e[0].endswith('/data.pkl')]
        storages = [e for e in out if '/data/' in e[0]]
        out = pkl + [(f'{prefix}/.format_version', b'1'), (f'{prefix}/.storage_alignment', b'64'),
                     (f'{prefix}/byteorder', b'little')] + storages + [
            (f'{prefix}/version', b'3\n'), (f'{prefix}/.data/version', b'3\n'),
            (f'{prefix}/.data/serialization_id', b'1234567890123456789012345678901234567890')]
    write_aligned_zip(path, out)


# ----------------------------------------------------------------------------- one results folder

def save_expectations(path, weights):
    expect = OrderedDict()
    for key, t in weights.items():
        flat = t.detach().reshape(-1).double()
        expect[key] = {'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', ''),
                       'sum': float(flat.sum()), 'sum_abs': float(flat.abs().sum()),
                       'first': [float(v) for v in flat[:3]], 'last': float(flat[-1]) if flat.numel() else None}
    with open(path, 'w') as f:
        json.dump(expect, f, indent=1)


def write_folder(root, dataset, trainer, plans_name, configuration, plans, dataset_json, folds, tile, seed,
                 mirror_axes=(0, 1, 2), best_folds=(), torch2_folds=(), prefixes=None):
    """Writes one <Trainer>__<Plans>__<config> folder; returns its path."""
    prefixes = prefixes or {}
    folder = os.path.join(root, dataset, f'{trainer}__{plans_name}__{configuration}')
    os.makedirs(os.path.join(folder, 'reference'), exist_ok=True)
    with open(os.path.join(folder, 'plans.json'), 'w') as f:
        json.dump(plans, f, indent=4)
    with open(os.path.join(folder, 'dataset.json'), 'w') as f:
        json.dump(dataset_json, f, indent=4)
    channels = fn.num_input_channels(plans, configuration, dataset_json)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((1, channels, *tile), generator=gen)
    np.save(os.path.join(folder, 'reference', 'input.npy'), x.numpy())
    finals = []
    for i, fold in enumerate(folds):
        fold_name = f'fold_{fold}'
        os.makedirs(os.path.join(folder, fold_name), exist_ok=True)
        kinds = ['final'] + (['best'] if fold in best_folds else [])
        for kind in kinds:
            net = fn.build_network(plans, configuration, dataset_json, channels)
            randomise(net, seed * 100 + i * 10 + (kind == 'best'))
            path = os.path.join(folder, fold_name, f'checkpoint_{kind}.pth')
            ckpt = checkpoint_dict(net, plans, configuration, fold, dataset_json, mirror_axes, seed + i,
                                   prefixes.get((fold, kind), ''))
            torch.save(ckpt, path)
            rewrite(path, torch2=(fold, kind) in torch2_folds)
            save_expectations(os.path.join(folder, fold_name, f'checkpoint_{kind}.expect.json'), net.state_dict())
            # The reference comes from a network loaded back from the file, as nnU-Net's predictor does.
            check = fn.build_network(plans, configuration, dataset_json, channels)
            fn.load_checkpoint_into(check, path)
            with torch.no_grad():
                logits = check(x)
            np.save(os.path.join(folder, 'reference', f'logits_{fold_name}_{kind}.npy'), logits.numpy())
            if kind == 'final':
                finals.append(logits)
    mean = torch.stack(finals).mean(0)
    np.save(os.path.join(folder, 'reference', 'logits_mean_final.npy'), mean.numpy())
    return folder


# ----------------------------------------------------------------------------- the committed fixtures

PLAIN = 'dynamic_network_architectures.architectures.unet.PlainConvUNet'
RESENC = 'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet'


def fixture_plain_synonyms(root):
    """PlainConvUNet, current plans, anisotropic kernels/strides, transpose [2,0,1], masked z-score,
    synonym label names numbered unlike the schema; fold_0 (final + best with 'module.'), fold_1 (torch 2.x, '_orig_mod.')."""
    arch = _arch(4, [4, 8, 12, 16], [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
                 [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]], 'n_conv_per_stage', [2, 2, 2, 2], [2, 1, 1])
    cfg = _config([16, 32, 32], [3.0, 0.5, 0.5], PLAIN, arch, ['ZScoreNormalization'], [True])
    plans = _plans('Dataset701_KneeSynonyms', 'nnUNetPlans', {'3d_fullres': cfg}, [2, 0, 1], 1)
    labels = OrderedDict([('background', 0), ('Femur', 1), ('femoral_cartilage', 2), ('Tibia', 3),
                          ('med_tib_cart', 4), ('lateral tibial cartilage', 5), ('Patella', 6),
                          ('patellar-cartilage', 7), ('lat_men', 9), ('MedialMeniscus', 8)])
    ds = _dataset_json({'0': 'T2'}, labels)
    return write_folder(root, 'Dataset701_KneeSynonyms', 'nnUNetTrainer', 'nnUNetPlans', '3d_fullres', plans, ds,
                        folds=[0, 1], tile=[8, 16, 16], seed=701, best_folds=(0,), torch2_folds={(1, 'final')},
                        prefixes={(0, 'best'): 'module.', (1, 'final'): '_orig_mod.'})


def fixture_resenc_cascade(root):
    """ResidualEncoderUNet, current plans, 3d_fullres + 3d_lowres + 3d_cascade_fullres (inherits_from 3d_fullres,
    previous_stage 3d_lowres), CT normalisation, transpose [0,2,1], labels out of order."""
    def arch(strides):
        return _arch(4, [4, 8, 12, 12], [[3, 3, 3], [3, 3, 3], [3, 3, 3], [1, 3, 3]], strides,
                     'n_blocks_per_stage', [1, 2, 2, 1], [1, 1, 1])
    full = _config([32, 24, 32], [0.7, 0.7, 0.7], RESENC, arch([[1, 1, 1], [2, 2, 2], [2, 2, 2], [1, 2, 2]]),
                   ['CTNormalization'], [False])
    low = _config([24, 24, 24], [1.4, 1.4, 1.4], RESENC, arch([[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]),
                  ['CTNormalization'], [False])
    low['data_identifier'] = 'nnUNetResEncUNetMPlans_3d_lowres'
    low['next_stage'] = '3d_cascade_fullres'
    cascade = {'inherits_from': '3d_fullres', 'previous_stage': '3d_lowres'}
    plans = _plans('Dataset702_KneeCascade', 'nnUNetResEncUNetMPlans',
                   {'3d_fullres': full, '3d_lowres': low, '3d_cascade_fullres': cascade}, [0, 2, 1], 1)
    labels = OrderedDict([('background', 0), ('tibia', 2), ('femur', 1), ('fem_cart', 5), ('Medial Meniscus', 3),
                          ('lateral_meniscus', 4)])
    ds = _dataset_json({'0': 'CT'}, labels)
    a = write_folder(root, 'Dataset702_KneeCascade', 'nnUNetTrainer', 'nnUNetResEncUNetMPlans', '3d_lowres', plans,
                     ds, folds=[0], tile=[16, 16, 16], seed=7021, mirror_axes=(1, 2))
    b = write_folder(root, 'Dataset702_KneeCascade', 'nnUNetTrainer', 'nnUNetResEncUNetMPlans', '3d_cascade_fullres',
                     plans, ds, folds=[0, 1], tile=[8, 16, 16], seed=7022)
    return a, b


def fixture_old_plans(root):
    """Older plans format (UNet_class_name, UNet_base_num_features, ...), two z-scored channels, fold_all only."""
    cfg = {
        'data_identifier': 'nnUNetPlans_3d_fullres', 'preprocessor_name': 'DefaultPreprocessor', 'batch_size': 2,
        'patch_size': [24, 24, 16], 'median_image_size_in_voxels': [80, 80, 40], 'spacing': [0.8, 0.8, 1.6],
        'normalization_schemes': ['ZScoreNormalization', 'ZScoreNormalization'], 'use_mask_for_norm': [False, False],
        'UNet_class_name': 'PlainConvUNet', 'UNet_base_num_features': 4, 'n_conv_per_stage_encoder': [2, 2, 2],
        'n_conv_per_stage_decoder': [2, 2], 'num_pool_per_axis': [2, 2, 1],
        'pool_op_kernel_sizes': [[1, 1, 1], [2, 2, 2], [2, 2, 1]],
        'conv_kernel_sizes': [[3, 3, 3], [3, 3, 3], [3, 3, 1]], 'unet_max_num_features': 12,
        'resampling_fn_data': 'resample_data_or_seg_to_shape',
        'resampling_fn_seg': 'resample_data_or_seg_to_shape',
        'resampling_fn_data_kwargs': {'is_seg': False, 'order': 3, 'order_z': 0, 'force_separate_z': None},
        'resampling_fn_seg_kwargs': {'is_seg': True, 'order': 1, 'order_z': 0, 'force_separate_z': None},
        'resampling_fn_probabilities': 'resample_data_or_seg_to_shape',
        'resampling_fn_probabilities_kwargs': {'is_seg': False, 'order': 1, 'order_z': 0, 'force_separate_z': None},
        'batch_dice': True,
    }
    plans = _plans('Dataset703_KneeOldPlans', 'nnUNetPlans', {'3d_fullres': cfg}, [0, 1, 2], 2)
    labels = OrderedDict([('background', 0), ('Femoral Cartilage', 1), ('Medial Tibial Cartilage', 2),
                          ('Lateral Tibial Cartilage', 3), ('Patellar Cartilage', 4), ('Medial Meniscus', 5),
                          ('Lateral Meniscus', 6), ('femur', 7), ('tibia', 8), ('patella', 9)])
    ds = _dataset_json({'0': 'T1', '1': 'T2'}, labels)
    return write_folder(root, 'Dataset703_KneeOldPlans', 'nnUNetTrainer', 'nnUNetPlans', '3d_fullres', plans, ds,
                        folds=['all'], tile=[8, 8, 8], seed=703)


def fixture_tensor_zoo(root):
    """Storages of every float kind, shared storages, offsets and strides, with their expected values."""
    folder = os.path.join(root, 'tensors')
    os.makedirs(folder, exist_ok=True)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1
    shared = torch.arange(10, dtype=torch.float32) * 0.25
    d = OrderedDict()
    d['f32'] = base.clone()
    d['f16'] = (base * 3).half()
    d['bf16'] = (base * 5).bfloat16()
    d['f64'] = base.double() / 3
    d['shared_whole'] = shared
    d['shared_offset'] = shared[3:7]                     # same storage, offset 3
    d['strided'] = base.t()                              # non-contiguous, strides (1, 6)
    d['step2'] = base[:, ::2]                            # strides (6, 2)
    d['scalar'] = torch.tensor(2.5)
    d['long'] = torch.arange(5, dtype=torch.int64)
    weights = OrderedDict((f'_orig_mod.module.{k}' if k == 'f32' else k, v) for k, v in d.items())
    path = os.path.join(folder, 'zoo.pth')
    torch.save({'network_weights': weights}, path)
    rewrite(path, torch2=False, cuda=True)
    expect = {k: {'shape': list(v.shape), 'dtype': str(v.dtype).replace('torch.', ''),
                  'values': [float(x) for x in v.reshape(-1).double()]} for k, v in d.items()}
    with open(os.path.join(folder, 'zoo.expect.json'), 'w') as f:
        json.dump(expect, f, indent=1)
    # The same file in the torch 2.x layout.
    path2 = os.path.join(folder, 'zoo_torch2.pth')
    torch.save({'network_weights': weights, 'n': np.float64(1.25)}, path2)
    rewrite(path2, torch2=True, cuda=False)


# ----------------------------------------------------------------------------- hostile checkpoints

def _zip_with_pickle(path, pkl, extra=(), prefix='checkpoint_final'):
    write_aligned_zip(path, [(f'{prefix}/data.pkl', pkl)] + [(f'{prefix}/{n}', d) for n, d in extra]
                      + [(f'{prefix}/version', b'3\n')])


MARKER = '/tmp/kneeweb-nnunet-hostile-marker'


def fixture_hostile(root, good_checkpoint):
    folder = os.path.join(root, 'hostile')
    os.makedirs(folder, exist_ok=True)

    class Evil:
        def __init__(self, func, arg):
            self.func, self.arg = func, arg

        def __reduce__(self):
            return (self.func, (self.arg,))

    # os.system (pickled as posix.system), builtins.eval, and a system call hidden inside network_weights.
    cmd = f'touch {MARKER}'
    _zip_with_pickle(os.path.join(folder, 'os_system.pth'), pickle_dumps({'network_weights': Evil(os.system, cmd)}))
    _zip_with_pickle(os.path.join(folder, 'builtins_eval.pth'),
                     pickle_dumps({'network_weights': OrderedDict(), 'x': Evil(eval, f"__import__('os').system('{cmd}')")}))
    # A truncated zip: the first 60 % of a real checkpoint.
    data = open(good_checkpoint, 'rb').read()
    with open(os.path.join(folder, 'truncated.pth'), 'wb') as f:
        f.write(data[: len(data) * 6 // 10])
    # A storage whose declared element count exceeds its data entry (1e9 floats declared, 16 bytes present).
    pkl = (b'\x80\x02}q\x00X\x0f\x00\x00\x00network_weightsq\x01ccollections\nOrderedDict\nq\x02)Rq\x03'
           b'X\x01\x00\x00\x00wq\x04ctorch._utils\n_rebuild_tensor_v2\nq\x05((X\x07\x00\x00\x00storageq\x06'
           b'ctorch\nFloatStorage\nq\x07X\x01\x00\x00\x000q\x08X\x03\x00\x00\x00cpuq\tJ\x00\xca\x9a;tq\nQK\x00'
           b'J\x00\xca\x9a;\x85q\x0bK\x01\x85q\x0c\x89ccollections\nOrderedDict\nq\r)Rq\x0etq\x0fRq\x10ss.')
    _zip_with_pickle(os.path.join(folder, 'lying_storage.pth'), pkl, [('data/0', b'\0' * 16)])
    # A tensor whose offset + strides run past its (honest) storage: 4 floats, view of size 3 at offset 2.
    pkl_oob = pkl.replace(b'J\x00\xca\x9a;tq\n', b'K\x04tq\n').replace(b'QK\x00J\x00\xca\x9a;\x85', b'QK\x02K\x03\x85')
    _zip_with_pickle(os.path.join(folder, 'tensor_out_of_bounds.pth'), pkl_oob, [('data/0', b'\0' * 16)])
    # A zip bomb: data.pkl declares 100 MB of zeros (deflated to ~100 KB), above any sane pickle cap.
    with zipfile.ZipFile(os.path.join(folder, 'zip_bomb.pth'), 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('checkpoint_final/data.pkl', b'\x80\x02' + b'\0' * (100 << 20))
        z.writestr('checkpoint_final/version', b'3\n')
    # A zip whose central directory lies: data.pkl says 40 bytes, its deflated stream inflates to 8 MB.
    lying = os.path.join(folder, 'lying_zip_entry.pth')
    with zipfile.ZipFile(lying, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('checkpoint_final/data.pkl', b'\x80\x02' + b'N' * (8 << 20) + b'.')
        z.writestr('checkpoint_final/version', b'3\n')
    _patch_declared_size(lying, 'checkpoint_final/data.pkl', 40)
    # A pickle pushing a million empty lists (stack exhaustion); deflated so the file stays small.
    with zipfile.ZipFile(os.path.join(folder, 'deep_stack.pth'), 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('checkpoint_final/data.pkl', b'\x80\x02' + b']' * 1_000_000 + b'.')
        z.writestr('checkpoint_final/version', b'3\n')
    with open(os.path.join(folder, 'README.md'), 'w') as f:
        f.write(HOSTILE_README.format(marker=MARKER))


HOSTILE_README = """# Hostile checkpoints (KneeWeb nnU-Net importer tests)

Written by scripts/nnunet/make_fixtures.py. Loading any of these with Python's pickle/torch.load
may run code: the os_system and builtins_eval files would create {marker}.

- os_system.pth: data.pkl calls posix.system (os.system) in network_weights.
- builtins_eval.pth: data.pkl calls builtins.eval.
- truncated.pth: the first 60 % of a real checkpoint (no central directory).
- lying_storage.pth: a FloatStorage declaring 1e9 elements over a 16-byte entry.
- tensor_out_of_bounds.pth: a 4-element storage viewed at offset 2 with 3 elements.
- zip_bomb.pth: data.pkl inflates to 100 MB.
- lying_zip_entry.pth: data.pkl's headers say 40 bytes; it inflates to 8 MB.
- deep_stack.pth: a million empty lists pushed on the pickle stack.
"""


def pickle_dumps(obj):
    import pickle
    return pickle.dumps(obj, protocol=2)


def _patch_declared_size(path, name, size):
    """Rewrites the uncompressed size of one entry in both its local header and the central directory."""
    data = bytearray(open(path, 'rb').read())
    raw = name.encode()
    pos = 0
    while True:
        pos = data.find(b'PK\x03\x04', pos)
        if pos < 0:
            break
        n = struct.unpack_from('<H', data, pos + 26)[0]
        if data[pos + 30: pos + 30 + n] == raw:
            struct.pack_into('<I', data, pos + 22, size)
        pos += 4
    pos = 0
    while True:
        pos = data.find(b'PK\x01\x02', pos)
        if pos < 0:
            break
        n = struct.unpack_from('<H', data, pos + 28)[0]
        if data[pos + 46: pos + 46 + n] == raw:
            struct.pack_into('<I', data, pos + 24, size)
        pos += 4
    open(path, 'wb').write(bytes(data))


# ----------------------------------------------------------------------------- ResEnc-M (benchmarks)

def write_resenc_m(out):
    """A ResEnc-M-sized 3d_fullres folder (nnUNetResEncUNetMPlans preset shape, random weights, one fold)."""
    arch = _arch(6, [32, 64, 128, 256, 320, 320], [[3, 3, 3]] * 6,
                 [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
                 'n_blocks_per_stage', [1, 3, 4, 6, 6, 6], [1, 1, 1, 1, 1])
    cfg = _config([128, 128, 128], [1.0, 1.0, 1.0], RESENC, arch, ['ZScoreNormalization'], [False])
    plans = _plans('Dataset500_KneeMRI', 'nnUNetResEncUNetMPlans', {'3d_fullres': cfg}, [0, 1, 2], 1)
    labels = OrderedDict([('background', 0), ('femur', 1), ('tibia', 2), ('patella', 3), ('femoral_cartilage', 4),
                          ('medial_tibial_cartilage', 5), ('lateral_tibial_cartilage', 6),
                          ('patellar_cartilage', 7), ('medial_meniscus', 8), ('lateral_meniscus', 9)])
    ds = _dataset_json({'0': 'MRI'}, labels)
    folder = os.path.join(out, 'Dataset500_KneeMRI', 'nnUNetTrainer__nnUNetResEncUNetMPlans__3d_fullres')
    os.makedirs(os.path.join(folder, 'fold_0'), exist_ok=True)
    json.dump(plans, open(os.path.join(folder, 'plans.json'), 'w'), indent=4)
    json.dump(ds, open(os.path.join(folder, 'dataset.json'), 'w'), indent=4)
    net = fn.build_network(plans, '3d_fullres', ds, 1)
    randomise(net, 500)
    path = os.path.join(folder, 'fold_0', 'checkpoint_final.pth')
    torch.save(checkpoint_dict(net, plans, '3d_fullres', 0, ds, (0, 1, 2), 500), path)
    rewrite(path, torch2=False, cuda=True)
    print(folder, sum(p.numel() for p in net.parameters()), 'parameters')
    return folder


def main(argv):
    torch.set_num_threads(2)
    if len(argv) >= 2 and argv[0] == '--resenc-m':
        write_resenc_m(argv[1])
        return
    root = argv[0] if argv else DEFAULT_OUT
    os.makedirs(root, exist_ok=True)
    fixture_plain_synonyms(root)
    fixture_resenc_cascade(root)
    old = fixture_old_plans(root)
    fixture_tensor_zoo(root)
    fixture_hostile(root, os.path.join(old, 'fold_all', 'checkpoint_final.pth'))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(f'wrote {root}: {total / 1e6:.2f} MB')


if __name__ == '__main__':
    main(sys.argv[1:])
