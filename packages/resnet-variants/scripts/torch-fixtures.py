"""PyTorch peers for resnet-variants' loadSafetensors / toSafetensors.

Run from the repository root with Debian's python (torch 1.13, torchvision 0.14) and the reference `safetensors`
package on the path, after building this package (`cd packages/resnet-variants && npx tsup`):

    PYTHONPATH=<dir holding the safetensors package> /usr/bin/python3 packages/resnet-variants/scripts/torch-fixtures.py

(`pip install safetensors` anywhere, or unzip its wheel into a folder and point PYTHONPATH at it.)

1. Writes test/fixtures/safetensors/: for each model below, `<name>.safetensors` (its state_dict, written by
   safetensors.torch.save_file), `<name>.io.safetensors` (a fixed NCHW input and the eval-mode logits) and
   `fixtures.json` (what each model is, and the buildResNet config of the same architecture). The models are
   reduced-width ResNets (1/16 of the channels, 1/4 for ResNet-20) with random weights and BN running statistics
   moved away from 0/1, built from torchvision's own BasicBlock/Bottleneck and `_make_layer` (torchvision naming),
   or from the copy of timm's ResNet classes below (timm naming: timm is not packaged for Debian; the module and
   attribute names are timm's `resnet.py`, with the stage widths made a parameter).
2. Runs scripts/export-for-torch.mjs, which loads each fixture file with loadSafetensors and compares our logits with
   PyTorch's (import), then gives the model its own weights, writes it with toSafetensors and records its logits; this
   script loads each of those files into a fresh PyTorch module of the same layout with load_state_dict(strict=True)
   and compares the logits (export). Writes both to test/fixtures/safetensors/torch-check.json, prints them as the
   README's table, and exits non-zero if any difference exceeds 1e-4.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torchvision
from torchvision.models import resnet as tv

try:
    from safetensors.torch import load_file, save_file
except ImportError:  # pragma: no cover
    sys.exit('torch-fixtures.py needs the reference safetensors package: pip install safetensors, '
             'or put an unzipped safetensors wheel on PYTHONPATH.')

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
OUT = os.path.join(PACKAGE, 'test', 'fixtures', 'safetensors')
TOLERANCE = 1e-4


# ---------------------------------------------------------------------------------------------------------------
# torchvision layout: torchvision's ResNet with the stage widths and the stem as parameters.

class TorchvisionResNet(tv.ResNet):
    """torchvision.models.resnet.ResNet built by its own _make_layer and blocks; only the widths (and, for the
    CIFAR net, the stem and stage count) differ from the stock constructor."""

    def __init__(self, block, layers, widths, num_classes, stem='imagenet', stem_width=None):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.dilation, self.groups, self.base_width = 1, 1, 64
        self.inplanes = stem_width or widths[0]
        if stem == 'imagenet':
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:  # 'small': the CIFAR stem, conv1 = 3x3/1 and no max pool
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.stages = len(layers)
        for i, (w, n) in enumerate(zip(widths, layers)):
            setattr(self, f'layer{i + 1}', self._make_layer(block, w, n, stride=1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def to_variant_a(model):
    """ResNet-A: a downsampling bottleneck strides its first 1x1 conv instead of the 3x3 (torchvision's is B)."""
    for m in model.modules():
        if isinstance(m, tv.Bottleneck) and m.stride != 1:
            m.conv1.stride, m.conv2.stride = (m.stride, m.stride), (1, 1)
    return model


# ---------------------------------------------------------------------------------------------------------------
# timm layout: timm.models.resnet's BasicBlock, Bottleneck, downsample_conv, downsample_avg and ResNet (stem_type
# '' or 'deep', avg_down), without the options these fixtures do not use (attention, drop path, dilation).

class TimmBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.drop_block = nn.Identity()
        self.act1 = nn.ReLU(inplace=True)
        self.aa = nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.aa(self.act1(self.drop_block(self.bn1(self.conv1(x)))))
        x = self.bn2(self.conv2(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act2(x + shortcut)


class TimmBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.drop_block = nn.Identity()
        self.act2 = nn.ReLU(inplace=True)
        self.aa = nn.Identity()
        self.conv3 = nn.Conv2d(planes, outplanes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.aa(self.act2(self.drop_block(self.bn2(self.conv2(x)))))
        x = self.bn3(self.conv3(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act3(x + shortcut)


def downsample_conv(in_channels, out_channels, stride):
    return nn.Sequential(*[nn.Conv2d(in_channels, out_channels, 1, stride=stride, padding=0, bias=False),
                           nn.BatchNorm2d(out_channels)])


def downsample_avg(in_channels, out_channels, stride):
    pool = nn.Identity() if stride == 1 else nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(*[pool, nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0, bias=False),
                           nn.BatchNorm2d(out_channels)])


class TimmResNet(nn.Module):
    def __init__(self, block, layers, channels, num_classes, stem_width=64, stem_type='', avg_down=False):
        super().__init__()
        deep_stem = 'deep' in stem_type
        inplanes = stem_width * 2 if deep_stem else stem_width  # timm: `else 64`; a parameter here for the widths
        if deep_stem:
            stem_chs = (stem_width, stem_width)
            self.conv1 = nn.Sequential(*[
                nn.Conv2d(3, stem_chs[0], 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(stem_chs[0]),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_chs[0], stem_chs[1], 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(stem_chs[1]),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_chs[1], inplanes, 3, stride=1, padding=1, bias=False)])
        else:
            self.conv1 = nn.Conv2d(3, inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for stage_idx, (planes, num_blocks) in enumerate(zip(channels, layers)):
            stride = 1 if stage_idx == 0 else 2
            blocks = []
            for block_idx in range(num_blocks):
                s = stride if block_idx == 0 else 1
                downsample = None
                if block_idx == 0 and (s != 1 or inplanes != planes * block.expansion):
                    make = downsample_avg if avg_down else downsample_conv
                    downsample = make(inplanes, planes * block.expansion, s)
                blocks.append(block(inplanes, planes, s, downsample))
                inplanes = planes * block.expansion
            self.add_module(f'layer{stage_idx + 1}', nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return self.fc(torch.flatten(self.global_pool(x), 1))


# ---------------------------------------------------------------------------------------------------------------
# The fixtures. `config` is the buildResNet config of the same architecture; `logits` names each logits tensor in
# the io file and the strideOn our model needs for it (one weights file serves ResNet-50 A and B).

W16 = 1 / 16
FIXTURES = [
    dict(name='resnet18-torchvision', naming='torchvision', variant='A/B', size=64, classes=5, seed=18,
         torch='torchvision ResNet(BasicBlock, [2, 2, 2, 2]), widths [4, 8, 16, 32] (resnet18 at 1/16 width)',
         build=lambda: TorchvisionResNet(tv.BasicBlock, [2, 2, 2, 2], [4, 8, 16, 32], 5),
         config=dict(block='basic', layers=[2, 2, 2, 2], width=W16, numClasses=5, inputShape=[64, 64, 3]),
         logits={'logits': dict(strideOn='1x1', module=None)}),
    dict(name='resnet50-torchvision', naming='torchvision', variant='B', size=64, classes=5, seed=50,
         torch='torchvision ResNet(Bottleneck, [3, 4, 6, 3]), widths [4, 8, 16, 32] (resnet50 "v1.5" = B at 1/16 '
               'width); logits_a: the same weights with the stride moved to the first 1x1 conv (A)',
         build=lambda: TorchvisionResNet(tv.Bottleneck, [3, 4, 6, 3], [4, 8, 16, 32], 5),
         config=dict(block='bottleneck', layers=[3, 4, 6, 3], width=W16, numClasses=5, inputShape=[64, 64, 3]),
         logits={'logits': dict(strideOn='3x3', module=None), 'logits_a': dict(strideOn='1x1', module='a')}),
    dict(name='resnet50d-timm', naming='timm', variant='D', size=61, classes=5, seed=5004,
         torch="timm ResNet(Bottleneck, [3, 4, 6, 3], stem_width=2, stem_type='deep', avg_down=True), channels "
               '[4, 8, 16, 32] (resnet50d at 1/16 width); 61 px so the stride-2 pads and ceil-mode pools see odd sizes',
         build=lambda: TimmResNet(TimmBottleneck, [3, 4, 6, 3], [4, 8, 16, 32], 5, stem_width=2, stem_type='deep',
                                  avg_down=True),
         config=dict(block='bottleneck', layers=[3, 4, 6, 3], width=W16, stem='deep', strideOn='3x3', avgDown=True,
                     numClasses=5, inputShape=[61, 61, 3]),
         logits={'logits': dict(strideOn='3x3', module=None)}),
    dict(name='resnet26c-timm', naming='timm', variant='C', size=61, classes=5, seed=2603,
         torch="timm ResNet(Bottleneck, [2, 2, 2, 2], stem_width=2, stem_type='deep'), channels [4, 8, 16, 32] "
               '(a ResNet-26-C at 1/16 width: deep stem, 1x1/2 conv shortcuts)',
         build=lambda: TimmResNet(TimmBottleneck, [2, 2, 2, 2], [4, 8, 16, 32], 5, stem_width=2, stem_type='deep'),
         config=dict(block='bottleneck', layers=[2, 2, 2, 2], width=W16, stem='deep', strideOn='3x3',
                     numClasses=5, inputShape=[61, 61, 3]),
         logits={'logits': dict(strideOn='3x3', module=None)}),
    dict(name='resnet20-torchvision', naming='torchvision', variant='CIFAR', size=32, classes=10, seed=20,
         torch='torchvision ResNet layout with the CIFAR stem (conv1 3x3/1, maxpool Identity), BasicBlock [3, 3, 3], '
               'widths [4, 8, 16] (ResNet-20 at 1/4 width, option-B projection shortcuts)',
         build=lambda: TorchvisionResNet(tv.BasicBlock, [3, 3, 3], [4, 8, 16], 10, stem='small'),
         config=dict(block='basic', layers=[3, 3, 3], widths=[16, 32, 64], stem='small', stemWidth=16, width=0.25,
                     numClasses=10, inputShape=[32, 32, 3]),
         logits={'logits': dict(strideOn='1x1', module=None)}),
]


def randomize(model, size):
    """Random weights, then BN running statistics measured on random images (so activations stay O(1) through the
    depth, and logits are O(1-10): a 1e-4 check then means something) and moved off those values by a random
    shift and scale, BN affine random; num_batches_tracked = 100, as in a trained checkpoint (loadSafetensors
    ignores it)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.momentum = None  # cumulative average over the calibration batches
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0, (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1)
        model.train()
        for _ in range(4):
            model(torch.randn(8, 3, size, size))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.add_(torch.randn_like(m.running_mean) * 0.2 * m.running_var.sqrt())
                m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.7, 1.4))
                m.num_batches_tracked.fill_(100)
                m.momentum = 0.1
    model.eval()


def module_for(fixture, which):
    model = fixture['build']()
    if which == 'a':
        to_variant_a(model)
    return model.eval()


def write_fixtures():
    os.makedirs(OUT, exist_ok=True)
    manifest = {
        '_what': 'Written by packages/resnet-variants/scripts/torch-fixtures.py; do not edit. Each entry: the PyTorch '
                 'module, its naming, the buildResNet config of the same architecture, and which logits tensor of '
                 'the io file goes with which strideOn.',
        'torch': torch.__version__, 'torchvision': torchvision.__version__,
        'safetensors': __import__('safetensors').__version__,
        'fixtures': [],
    }
    for f in FIXTURES:
        torch.manual_seed(f['seed'])
        model = module_for(f, None)
        randomize(model, f['size'])
        x = torch.randn(2, 3, f['size'], f['size'])
        io = {'input': x.contiguous()}
        state = model.state_dict()
        for key, spec in f['logits'].items():
            m = module_for(f, spec['module'])
            m.load_state_dict(state, strict=True)
            with torch.no_grad():
                io[key] = m(x).contiguous()
        save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(OUT, f'{f["name"]}.safetensors'),
                  metadata={'format': 'pt'})
        save_file(io, os.path.join(OUT, f'{f["name"]}.io.safetensors'), metadata={'format': 'pt'})
        manifest['fixtures'].append({
            'name': f['name'], 'naming': f['naming'], 'torch': f['torch'], 'config': f['config'],
            'logits': {k: v['strideOn'] for k, v in f['logits'].items()},
            'tensors': len(state),
        })
        print(f'wrote {f["name"]}: {len(state)} tensors, logits {list(io["logits"].shape)}', flush=True)
    with open(os.path.join(OUT, 'fixtures.json'), 'w') as fh:
        json.dump(manifest, fh, indent=1)
        fh.write('\n')


def check_our_exports():
    """Import: our logits from the fixture files against PyTorch's (computed by export-for-torch.mjs). Export: our
    toSafetensors files, loaded into the same PyTorch modules, must give our logits."""
    results = []
    with tempfile.TemporaryDirectory(prefix='bot-safetensors-') as tmp:
        subprocess.run(['node', os.path.join(HERE, 'export-for-torch.mjs'), tmp], check=True)
        with open(os.path.join(tmp, 'import-check.json')) as fh:
            imports = {(r['fixture'], r['logits']): r['maxAbsDiff'] for r in json.load(fh)}
        for f in FIXTURES:
            io = load_file(os.path.join(OUT, f'{f["name"]}.io.safetensors'))
            for key, spec in f['logits'].items():
                ours = load_file(os.path.join(tmp, f'{f["name"]}.{key}.ours.safetensors'))
                ours_logits = load_file(os.path.join(tmp, f'{f["name"]}.{key}.ours-logits.safetensors'))['logits']
                m = module_for(f, spec['module'])
                m.load_state_dict(ours, strict=True)  # every key present, none extra, every shape equal
                with torch.no_grad():
                    y = m(io['input'])
                results.append({
                    'fixture': f['name'], 'logits': key, 'variant': 'A' if spec['module'] == 'a' else f['variant'],
                    'naming': f['naming'], 'importMaxAbsDiff': imports[(f['name'], key)],
                    'exportMaxAbsDiff': float((y - ours_logits).abs().max()),
                    'torchLogitsMaxAbs': float(io[key].abs().max()),
                })
        full = check_full_size(tmp)
    record = {
        'fullSize': full,
        '_what': 'import: the fixture file loaded by loadSafetensors, our eval logits against PyTorch\'s; export: the '
                 'model given its own weights (each fixture weight times 1 + 0.05 N(0,1)), written by toSafetensors, '
                 'loaded into the same PyTorch module with load_state_dict(strict=True), PyTorch\'s logits against '
                 'ours. Largest absolute difference over 2 images x classes (scripts/export-for-torch.mjs, cpu backend).',
        'command': 'PYTHONPATH=<safetensors> /usr/bin/python3 packages/resnet-variants/scripts/torch-fixtures.py',
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'),
        'torch': torch.__version__,
        'results': results,
    }
    with open(os.path.join(OUT, 'torch-check.json'), 'w') as fh:
        json.dump(record, fh, indent=1)
        fh.write('\n')
    print(f'\n{record["date"]}, torch {torch.__version__}, tfjs cpu backend: largest |logit difference|\n')
    print('| fixture (PyTorch module) | variant | naming | PyTorch file → ours | ours → PyTorch | largest logit |')
    print('|---|---|---|---:|---:|---:|')
    for r in results:
        print(f'| {r["fixture"]} | {r["variant"]} | {r["naming"]} | {r["importMaxAbsDiff"]:.2g} | '
              f'{r["exportMaxAbsDiff"]:.2g} | {r["torchLogitsMaxAbs"]:.3g} |')
    worst = max(max(r['importMaxAbsDiff'], r['exportMaxAbsDiff']) for r in results)
    if worst > TOLERANCE:
        sys.exit(f'FAIL: a logit differs by {worst:.3g} between PyTorch and ours (tolerance {TOLERANCE}).')
    print('\nFull size, ours -> PyTorch at 64 px (real torchvision constructors; timm resnet50d layout):')
    for r in full['logits']:
        print(f'  {r["model"]} into {r["torch"]}: strict load ok, max |logit diff| {r["maxAbsDiff"]:.2g} '
              f'(logits up to {r["torchLogitsMaxAbs"]:.3g})')
    print(f'  keys and shapes equal: {", ".join(full["specsEqual"])}')
    worst = max([worst] + [r['maxAbsDiff'] for r in full['logits']])
    if worst > TOLERANCE:
        sys.exit(f'FAIL: a full-size logit differs by {worst:.3g} (tolerance {TOLERANCE}).')
    print(f'\nall within {TOLERANCE} (worst {worst:.2g})')


def check_full_size(tmp):
    """Full-width models from export-for-torch.mjs into torchvision's own resnet18/resnet50 and timm's resnet50d
    layout; and our key/shape lists for deeper nets against torchvision's state_dict."""
    x = load_file(os.path.join(tmp, 'full-input.safetensors'))['input']
    peers = {
        'resnet18': ('torchvision.models.resnet18(num_classes=7)', lambda: torchvision.models.resnet18(num_classes=7)),
        'resnet50b': ('torchvision.models.resnet50(num_classes=7)', lambda: torchvision.models.resnet50(num_classes=7)),
        'resnet50d': ("timm resnet50d layout (stem_width=32, stem_type='deep', avg_down=True), 7 classes",
                      lambda: TimmResNet(TimmBottleneck, [3, 4, 6, 3], [64, 128, 256, 512], 7, stem_width=32,
                                         stem_type='deep', avg_down=True)),
    }
    logits = []
    for name, (what, build) in peers.items():
        m = build().eval()
        m.load_state_dict(load_file(os.path.join(tmp, f'full-{name}.safetensors')), strict=True)
        ours = load_file(os.path.join(tmp, f'full-{name}.logits.safetensors'))['logits']
        with torch.no_grad():
            y = m(x)
        logits.append({'model': name, 'torch': what, 'maxAbsDiff': float((y - ours).abs().max()),
                       'torchLogitsMaxAbs': float(y.abs().max())})
    with open(os.path.join(tmp, 'full-specs.json')) as fh:
        specs = json.load(fh)
    torch_peers = {'resnet34': torchvision.models.resnet34, 'resnet101b': torchvision.models.resnet101,
                   'resnet152b': torchvision.models.resnet152,
                   'resnet101d': lambda: TimmResNet(TimmBottleneck, [3, 4, 23, 3], [64, 128, 256, 512], 1000,
                                                    stem_width=32, stem_type='deep', avg_down=True)}
    equal = []
    for name, build in torch_peers.items():
        want = {k: list(v.shape) for k, v in build().state_dict().items() if not k.endswith('num_batches_tracked')}
        got = {k: shape for k, shape in specs[name]}
        if want != got:
            sys.exit(f'FAIL: {name}: our PyTorch keys/shapes differ: missing {sorted(set(want) - set(got))[:5]}, '
                     f'extra {sorted(set(got) - set(want))[:5]}, '
                     f'shape {[k for k in want if k in got and want[k] != got[k]][:5]}')
        equal.append(f'{name} ({len(got)} tensors)')
    return {'logits': logits, 'specsEqual': equal}


if __name__ == '__main__':
    write_fixtures()
    check_our_exports()
