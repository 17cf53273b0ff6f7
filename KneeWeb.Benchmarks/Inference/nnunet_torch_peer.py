#!/usr/bin/python3
"""The PyTorch side of `peer nnunet-torch`: the network nnU-Net builds from plans.json, with the
weights of the checkpoint KneeWeb imported, on the same tile (Debian python3-torch, CPU).

usage: /usr/bin/python3 nnunet_torch_peer.py <trained folder> <fold dir> <input.f32> <shape,c,s,v> <threads> <runs> <output.f32|->

Prints one JSON line: {"torch": version, "times": [ms...], "sum": float} after one warm-up run,
and writes the last run's logits as raw little-endian float32 (C order) unless the output is '-'.
"""
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, '..', '..', 'scripts', 'nnunet')))
import fixture_networks as fn  # noqa: E402  (the generator's modules: nnU-Net's network classes)


def main(argv):
    folder, fold_dir, input_path, shape_text, threads_text, runs_text, output_path = argv
    threads = int(threads_text)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    plans = json.load(open(os.path.join(folder, 'plans.json')))
    dataset = json.load(open(os.path.join(folder, 'dataset.json')))
    shape = [int(v) for v in shape_text.split(',')]
    net = fn.build_network(plans, '3d_fullres', dataset, shape[1])
    fn.load_checkpoint_into(net, os.path.join(fold_dir, 'checkpoint_final.pth'))
    net.eval()
    x = torch.from_numpy(np.fromfile(input_path, dtype='<f4').reshape(shape))
    times = []
    with torch.inference_mode():
        net(x)  # warm-up, as on the KneeWeb side
        for _ in range(int(runs_text)):
            start = time.perf_counter()
            y = net(x)
            times.append((time.perf_counter() - start) * 1000.0)
    out = y.numpy().astype('<f4', copy=False)
    if output_path != '-':
        out.tofile(output_path)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'times': times,
                      'sum': float(out.astype(np.float64).sum())}))


if __name__ == '__main__':
    main(sys.argv[1:])
