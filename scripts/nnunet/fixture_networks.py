"""Own torch modules with the exact state_dict layout of dynamic_network_architectures (v0.4.x).

KneeWeb's nnU-Net importer reads checkpoints written by nnU-Net v2. The test fixtures are made
with these modules instead of the real package (not installable here): every parameter name,
including the duplicated ``all_modules.N`` aliases and the ``decoder.encoder.*`` repeat, matches
PlainConvUNet and ResidualEncoderUNet, so ``load_state_dict(strict=True)`` accepts a real
checkpoint and a real network accepts ours.

Stable API (other scripts import it):

* ``build_network(plans, configuration, dataset_json, num_input_channels) -> torch.nn.Module``:
  the network nnU-Net's predictor builds for that configuration (inheritance and the older plans
  format resolved), in eval mode, deep supervision off (forward returns the last seg layer's
  logits, [N, classes, *spatial], in network axes).
* ``load_checkpoint_into(net, path)``: loads ``network_weights`` of an nnU-Net checkpoint
  (``module.``/``_orig_mod.`` prefixes stripped) and returns the checkpoint dict.
* ``resolve_configuration(plans, configuration) -> dict``: the configuration with
  ``inherits_from`` applied and old-format keys converted to ``architecture``.
* ``num_output_channels(dataset_json) -> int`` and ``num_input_channels(plans, configuration,
  dataset_json) -> int`` (image channels, plus one per foreground label for a cascade stage).
"""

from __future__ import annotations

import copy
from typing import List

import torch
from torch import nn


def _as_list(value, n):
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


class ConvDropoutNormReLU(nn.Module):
    def __init__(self, conv_op, cin, cout, kernel, stride, bias, norm_op, norm_kwargs, dropout_op,
                 dropout_kwargs, nonlin, nonlin_kwargs, nonlin_first=False):
        super().__init__()
        dim = 3 if conv_op is nn.Conv3d else 2
        kernel = _as_list(kernel, dim)
        stride = _as_list(stride, dim)
        self.stride = stride
        ops = []
        self.conv = conv_op(cin, cout, kernel, stride, padding=[(k - 1) // 2 for k in kernel], dilation=1, bias=bias)
        ops.append(self.conv)
        if dropout_op is not None:
            self.dropout = dropout_op(**(dropout_kwargs or {}))
            ops.append(self.dropout)
        if norm_op is not None:
            self.norm = norm_op(cout, **(norm_kwargs or {}))
            ops.append(self.norm)
        if nonlin is not None:
            self.nonlin = nonlin(**(nonlin_kwargs or {}))
            ops.append(self.nonlin)
        if nonlin_first and norm_op is not None and nonlin is not None:
            ops[-1], ops[-2] = ops[-2], ops[-1]
        self.all_modules = nn.Sequential(*ops)

    def forward(self, x):
        return self.all_modules(x)


class StackedConvBlocks(nn.Module):
    def __init__(self, num_convs, conv_op, cin, cout, kernel, initial_stride, bias, norm_op, norm_kwargs,
                 dropout_op, dropout_kwargs, nonlin, nonlin_kwargs, nonlin_first=False):
        super().__init__()
        couts = _as_list(cout, num_convs)
        blocks = [ConvDropoutNormReLU(conv_op, cin, couts[0], kernel, initial_stride, bias, norm_op, norm_kwargs,
                                      dropout_op, dropout_kwargs, nonlin, nonlin_kwargs, nonlin_first)]
        for i in range(1, num_convs):
            blocks.append(ConvDropoutNormReLU(conv_op, couts[i - 1], couts[i], kernel, 1, bias, norm_op, norm_kwargs,
                                              dropout_op, dropout_kwargs, nonlin, nonlin_kwargs, nonlin_first))
        self.convs = nn.Sequential(*blocks)
        self.output_channels = couts[-1]

    def forward(self, x):
        return self.convs(x)


class _EncoderInfo(nn.Module):
    """What the decoder reads from an encoder (both encoders set these)."""

    def _keep(self, conv_op, features, strides, kernels, bias, norm_op, norm_kwargs, dropout_op, dropout_kwargs,
              nonlin, nonlin_kwargs):
        dim = 3 if conv_op is nn.Conv3d else 2
        self.conv_op = conv_op
        self.output_channels = features
        self.strides = [_as_list(s, dim) for s in strides]
        self.kernel_sizes = kernels
        self.conv_bias = bias
        self.norm_op = norm_op
        self.norm_op_kwargs = norm_kwargs
        self.dropout_op = dropout_op
        self.dropout_op_kwargs = dropout_kwargs
        self.nonlin = nonlin
        self.nonlin_kwargs = nonlin_kwargs


class PlainConvEncoder(_EncoderInfo):
    def __init__(self, input_channels, n_stages, features, conv_op, kernels, strides, n_conv, bias, norm_op,
                 norm_kwargs, dropout_op, dropout_kwargs, nonlin, nonlin_kwargs, nonlin_first=False):
        super().__init__()
        features = _as_list(features, n_stages)
        kernels = _as_list(kernels, n_stages)
        strides = _as_list(strides, n_stages)
        n_conv = _as_list(n_conv, n_stages)
        stages = []
        for s in range(n_stages):
            # pool='conv' (the only mode nnU-Net plans use): the stride sits in the first conv.
            stages.append(nn.Sequential(StackedConvBlocks(
                n_conv[s], conv_op, input_channels, features[s], kernels[s], strides[s], bias, norm_op, norm_kwargs,
                dropout_op, dropout_kwargs, nonlin, nonlin_kwargs, nonlin_first)))
            input_channels = features[s]
        self.stages = nn.Sequential(*stages)
        self._keep(conv_op, features, strides, kernels, bias, norm_op, norm_kwargs, dropout_op, dropout_kwargs,
                   nonlin, nonlin_kwargs)

    def forward(self, x) -> List[torch.Tensor]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class BasicBlockD(nn.Module):
    def __init__(self, conv_op, cin, cout, kernel, stride, bias, norm_op, norm_kwargs, dropout_op, dropout_kwargs,
                 nonlin, nonlin_kwargs):
        super().__init__()
        dim = 3 if conv_op is nn.Conv3d else 2
        stride = _as_list(stride, dim)
        self.conv1 = ConvDropoutNormReLU(conv_op, cin, cout, kernel, stride, bias, norm_op, norm_kwargs, dropout_op,
                                         dropout_kwargs, nonlin, nonlin_kwargs)
        self.conv2 = ConvDropoutNormReLU(conv_op, cout, cout, kernel, 1, bias, norm_op, norm_kwargs, None, None,
                                         None, None)
        self.nonlin2 = nonlin(**(nonlin_kwargs or {})) if nonlin is not None else nn.Identity()
        has_stride = any(s != 1 for s in stride)
        projection = cin != cout
        if has_stride or projection:
            ops = []
            if has_stride:
                pool = nn.AvgPool3d if conv_op is nn.Conv3d else nn.AvgPool2d
                ops.append(pool(stride, stride))
            if projection:
                ops.append(ConvDropoutNormReLU(conv_op, cin, cout, 1, 1, False, norm_op, norm_kwargs, None, None,
                                               None, None))
            self.skip = nn.Sequential(*ops)
        else:
            self.skip = nn.Identity()

    def forward(self, x):
        residual = self.skip(x)
        out = self.conv2(self.conv1(x))
        out = out + residual
        return self.nonlin2(out)


class StackedResidualBlocks(nn.Module):
    def __init__(self, n_blocks, conv_op, cin, cout, kernel, initial_stride, bias, norm_op, norm_kwargs, dropout_op,
                 dropout_kwargs, nonlin, nonlin_kwargs):
        super().__init__()
        couts = _as_list(cout, n_blocks)
        blocks = [BasicBlockD(conv_op, cin, couts[0], kernel, initial_stride, bias, norm_op, norm_kwargs, dropout_op,
                              dropout_kwargs, nonlin, nonlin_kwargs)]
        for n in range(1, n_blocks):
            blocks.append(BasicBlockD(conv_op, couts[n - 1], couts[n], kernel, 1, bias, norm_op, norm_kwargs,
                                      dropout_op, dropout_kwargs, nonlin, nonlin_kwargs))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(x)


class ResidualEncoder(_EncoderInfo):
    def __init__(self, input_channels, n_stages, features, conv_op, kernels, strides, n_blocks, bias, norm_op,
                 norm_kwargs, dropout_op, dropout_kwargs, nonlin, nonlin_kwargs, stem_channels=None):
        super().__init__()
        features = _as_list(features, n_stages)
        kernels = _as_list(kernels, n_stages)
        strides = _as_list(strides, n_stages)
        n_blocks = _as_list(n_blocks, n_stages)
        stem_channels = stem_channels or features[0]
        self.stem = StackedConvBlocks(1, conv_op, input_channels, stem_channels, kernels[0], 1, bias, norm_op,
                                      norm_kwargs, dropout_op, dropout_kwargs, nonlin, nonlin_kwargs)
        input_channels = stem_channels
        stages = []
        for s in range(n_stages):
            stages.append(StackedResidualBlocks(n_blocks[s], conv_op, input_channels, features[s], kernels[s],
                                                strides[s], bias, norm_op, norm_kwargs, dropout_op, dropout_kwargs,
                                                nonlin, nonlin_kwargs))
            input_channels = features[s]
        self.stages = nn.Sequential(*stages)
        self._keep(conv_op, features, strides, kernels, bias, norm_op, norm_kwargs, dropout_op, dropout_kwargs,
                   nonlin, nonlin_kwargs)

    def forward(self, x) -> List[torch.Tensor]:
        x = self.stem(x)
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class UNetDecoder(nn.Module):
    def __init__(self, encoder, num_classes, n_conv_per_stage, deep_supervision, nonlin_first=False):
        super().__init__()
        self.deep_supervision = deep_supervision
        # Registered as a submodule on purpose: the real decoder does the same, which is why every
        # encoder parameter appears a second time as decoder.encoder.* in the state_dict.
        self.encoder = encoder
        n_enc = len(encoder.output_channels)
        n_conv_per_stage = _as_list(n_conv_per_stage, n_enc - 1)
        transp = nn.ConvTranspose3d if encoder.conv_op is nn.Conv3d else nn.ConvTranspose2d
        stages, transpconvs, seg_layers = [], [], []
        for s in range(1, n_enc):
            below = encoder.output_channels[-s]
            skip = encoder.output_channels[-(s + 1)]
            stride = encoder.strides[-s]
            transpconvs.append(transp(below, skip, stride, stride, bias=encoder.conv_bias))
            stages.append(StackedConvBlocks(n_conv_per_stage[s - 1], encoder.conv_op, 2 * skip, skip,
                                            encoder.kernel_sizes[-(s + 1)], 1, encoder.conv_bias, encoder.norm_op,
                                            encoder.norm_op_kwargs, encoder.dropout_op, encoder.dropout_op_kwargs,
                                            encoder.nonlin, encoder.nonlin_kwargs, nonlin_first))
            seg_layers.append(encoder.conv_op(skip, num_classes, 1, 1, 0, bias=True))
        self.stages = nn.ModuleList(stages)
        self.transpconvs = nn.ModuleList(transpconvs)
        self.seg_layers = nn.ModuleList(seg_layers)

    def forward(self, skips):
        x = skips[-1]
        outputs = []
        for s in range(len(self.stages)):
            x = self.transpconvs[s](x)
            x = torch.cat((x, skips[-(s + 2)]), 1)
            x = self.stages[s](x)
            if self.deep_supervision:
                outputs.append(self.seg_layers[s](x))
            elif s == len(self.stages) - 1:
                outputs.append(self.seg_layers[-1](x))
        outputs = outputs[::-1]
        return outputs if self.deep_supervision else outputs[0]


class PlainConvUNet(nn.Module):
    def __init__(self, input_channels, n_stages, features_per_stage, conv_op, kernel_sizes, strides,
                 n_conv_per_stage, num_classes, n_conv_per_stage_decoder, conv_bias=False, norm_op=None,
                 norm_op_kwargs=None, dropout_op=None, dropout_op_kwargs=None, nonlin=None, nonlin_kwargs=None,
                 deep_supervision=False, nonlin_first=False):
        super().__init__()
        self.encoder = PlainConvEncoder(input_channels, n_stages, features_per_stage, conv_op, kernel_sizes, strides,
                                        n_conv_per_stage, conv_bias, norm_op, norm_op_kwargs, dropout_op,
                                        dropout_op_kwargs, nonlin, nonlin_kwargs, nonlin_first)
        self.decoder = UNetDecoder(self.encoder, num_classes, n_conv_per_stage_decoder, deep_supervision,
                                   nonlin_first)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ResidualEncoderUNet(nn.Module):
    def __init__(self, input_channels, n_stages, features_per_stage, conv_op, kernel_sizes, strides,
                 n_blocks_per_stage, num_classes, n_conv_per_stage_decoder, conv_bias=False, norm_op=None,
                 norm_op_kwargs=None, dropout_op=None, dropout_op_kwargs=None, nonlin=None, nonlin_kwargs=None,
                 deep_supervision=False, block=None, bottleneck_channels=None, stem_channels=None):
        super().__init__()
        if block not in (None, 'BasicBlockD', 'dynamic_network_architectures.building_blocks.residual.BasicBlockD'):
            raise ValueError(f'block {block} is not reproduced here')
        self.encoder = ResidualEncoder(input_channels, n_stages, features_per_stage, conv_op, kernel_sizes, strides,
                                       n_blocks_per_stage, conv_bias, norm_op, norm_op_kwargs, dropout_op,
                                       dropout_op_kwargs, nonlin, nonlin_kwargs, stem_channels)
        self.decoder = UNetDecoder(self.encoder, num_classes, n_conv_per_stage_decoder, deep_supervision)

    def forward(self, x):
        return self.decoder(self.encoder(x))


_OPS = {
    'torch.nn.modules.conv.Conv3d': nn.Conv3d, 'torch.nn.Conv3d': nn.Conv3d,
    'torch.nn.modules.conv.Conv2d': nn.Conv2d, 'torch.nn.Conv2d': nn.Conv2d,
    'torch.nn.modules.instancenorm.InstanceNorm3d': nn.InstanceNorm3d, 'torch.nn.InstanceNorm3d': nn.InstanceNorm3d,
    'torch.nn.modules.instancenorm.InstanceNorm2d': nn.InstanceNorm2d, 'torch.nn.InstanceNorm2d': nn.InstanceNorm2d,
    'torch.nn.modules.batchnorm.BatchNorm3d': nn.BatchNorm3d, 'torch.nn.BatchNorm3d': nn.BatchNorm3d,
    'torch.nn.LeakyReLU': nn.LeakyReLU, 'torch.nn.modules.activation.LeakyReLU': nn.LeakyReLU,
    'torch.nn.ReLU': nn.ReLU, 'torch.nn.modules.activation.ReLU': nn.ReLU,
    'torch.nn.modules.dropout.Dropout3d': nn.Dropout3d, 'torch.nn.Dropout3d': nn.Dropout3d,
}

_CLASSES = {
    'dynamic_network_architectures.architectures.unet.PlainConvUNet': PlainConvUNet,
    'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet': ResidualEncoderUNet,
    'dynamic_network_architectures.architectures.residual_unet.ResidualEncoderUNet': ResidualEncoderUNet,
}


def resolve_configuration(plans: dict, configuration: str) -> dict:
    """The configuration dict with inherits_from applied and old plans converted (plans_handler.py)."""
    configs = plans['configurations']

    def resolve(name, visited):
        if name not in configs:
            raise KeyError(f'configuration {name} not in plans ({list(configs)})')
        config = copy.deepcopy(configs[name])
        parent = config.get('inherits_from')
        if parent is not None:
            if parent in visited:
                raise ValueError(f'circular inherits_from at {parent}')
            base = resolve(parent, visited + (name,))
            base.update(config)
            config = base
        return config

    config = resolve(configuration, ())
    if 'architecture' not in config:
        name = config['UNet_class_name']
        cls = {'PlainConvUNet': 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
               'ResidualEncoderUNet': 'dynamic_network_architectures.architectures.residual_unet.ResidualEncoderUNet'}[name]
        n_stages = len(config['n_conv_per_stage_encoder'])
        dim = len(config['patch_size'])
        key = 'n_conv_per_stage' if name == 'PlainConvUNet' else 'n_blocks_per_stage'
        config['architecture'] = {
            'network_class_name': cls,
            'arch_kwargs': {
                'n_stages': n_stages,
                'features_per_stage': [min(config['UNet_base_num_features'] * 2 ** i, config['unet_max_num_features'])
                                       for i in range(n_stages)],
                'conv_op': f'torch.nn.modules.conv.Conv{dim}d',
                'kernel_sizes': config['conv_kernel_sizes'],
                'strides': config['pool_op_kernel_sizes'],
                key: config['n_conv_per_stage_encoder'],
                'n_conv_per_stage_decoder': config['n_conv_per_stage_decoder'],
                'conv_bias': True,
                'norm_op': f'torch.nn.modules.instancenorm.InstanceNorm{dim}d',
                'norm_op_kwargs': {'eps': 1e-05, 'affine': True},
                'dropout_op': None, 'dropout_op_kwargs': None,
                'nonlin': 'torch.nn.LeakyReLU', 'nonlin_kwargs': {'inplace': True},
            },
            '_kw_requires_import': ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
        }
    return config


def num_output_channels(dataset_json: dict) -> int:
    """LabelManager: one head per distinct label value ('ignore' excluded); regions are not handled."""
    if dataset_json.get('regions_class_order') is not None:
        raise ValueError('region-based datasets are not reproduced here')
    values = {int(v) for k, v in dataset_json['labels'].items() if k != 'ignore'}
    return len(values)


def foreground_labels(dataset_json: dict) -> List[int]:
    return sorted({int(v) for k, v in dataset_json['labels'].items() if k != 'ignore' and int(v) != 0})


def num_input_channels(plans: dict, configuration: str, dataset_json: dict) -> int:
    channels = len(dataset_json.get('channel_names', dataset_json.get('modality', {})))
    config = resolve_configuration(plans, configuration)
    if config.get('previous_stage'):
        channels += len(foreground_labels(dataset_json))
    return channels


def build_network(plans: dict, configuration: str, dataset_json: dict, num_input_channels: int) -> nn.Module:
    """The network nnU-Net builds for this configuration, eval mode, deep supervision off."""
    arch = resolve_configuration(plans, configuration)['architecture']
    cls = _CLASSES[arch['network_class_name']]
    kwargs = copy.deepcopy(arch['arch_kwargs'])
    for key in arch.get('_kw_requires_import', []):
        if kwargs.get(key) is not None:
            kwargs[key] = _OPS[kwargs[key]]
    net = cls(input_channels=num_input_channels, num_classes=num_output_channels(dataset_json),
              deep_supervision=False, **kwargs)
    net.eval()
    return net


def strip_prefixes(state_dict):
    out = type(state_dict)()
    for key, value in state_dict.items():
        for prefix in ('module.', '_orig_mod.'):
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def _alias_numpy_core():
    """Checkpoints pickled under numpy 2 name numpy._core; numpy 1.x (Debian's) only has numpy.core."""
    import sys
    import numpy
    if not hasattr(numpy, '_core') and 'numpy._core' not in sys.modules:
        sys.modules['numpy._core'] = numpy.core
        sys.modules['numpy._core.multiarray'] = numpy.core.multiarray


def load_checkpoint_into(net: nn.Module, path) -> dict:
    """Loads network_weights (prefixes stripped, strict) and returns the whole checkpoint dict."""
    _alias_numpy_core()
    checkpoint = torch.load(path, map_location='cpu')
    net.load_state_dict(strip_prefixes(checkpoint['network_weights']), strict=True)
    net.eval()
    return checkpoint
