#!/usr/bin/python3
"""The PyTorch column of the ablation ladder: rungs 0, 4 and 7 (or any of 0-4, 4u, 4L, 6, 7) in PyTorch, on the
same data, model layout and recipe as the tfjs harness, written to results-torch/<rung>/seed-<k>.json in the same
format as ladder.mjs's result files.

Each rung's config comes from examples/ablation/rungs.mjs (`node rungs.mjs --print <rung>`), so there is one
definition of every rung; this file implements what the config says independently, in plain PyTorch:
  - CIFAR ResNet-20/56 (3x3 stem of 16, widths 16/32/64, option-B projection shortcut; avgDown = ResNet-D's
    AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) + 1x1 conv), Xavier-uniform conv/dense kernels,
    zero-gamma on each block's last BN, BN eps 1e-5 momentum 0.1 (torchvision's);
  - augmentation: torchvision's RandomResizedCrop sampler (area [0.35, 1], log-ratio [3/4, 4/3], 10 tries, centre
    fallback), bilinear half-pixel resize, flip p 0.5, normalize with Fashion-MNIST's mean/std (72.9404, 90.0212);
    eval: resize 28 -> 32 bilinear, centre crop 28;
  - NAG (torch.optim.SGD nesterov=True) with weight decay on all parameters or, with noBiasDecay, on conv/dense
    kernels only; per-iteration lr: linear warmup (step+1)/W then step decay or cosine (ending at the floor);
  - label smoothing 'paper' (1-eps, eps/(K-1)) or 'uniform' (eps/K); mixup with one lambda ~ Beta(a, a) per batch and
    a random permutation as partners, on the smoothed labels; distillation CE(y, p) + T^2 CE(softmax(r/T), softmax(z/T))
    from a ResNet-56-D teacher this script trains first with rung 4's recipe (the teacher sees the mixed images).

  /usr/bin/python3 examples/ablation/torch_ladder.py --rungs 0,4,7 --seeds 0,1,2 --epochs 30 --threads 2
"""
import argparse
import gzip
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
EMBEDDED = os.path.join(ROOT, 'packages', 'data', 'assets', 'fashion-mnist-subset')
FORMAT = 'bag-of-tricks/ablation-run@1'
MEAN, STD = 72.9404, 90.0212  # augment's FASHION_MNIST_MEAN / _STD (0-255 scale)


# ---------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(dir_, split, kind):
    stem = {'train': 'train', 'test': 't10k'}[split] + ('-images-idx3-ubyte' if kind == 'images' else '-labels-idx1-ubyte')
    for name in (stem, stem + '.gz'):
        if os.path.exists(os.path.join(dir_, name)):
            return os.path.join(dir_, name)
    raise FileNotFoundError(f'{dir_}: no {stem}(.gz)')


def load(dir_, split):
    x = torch.from_numpy(read_idx(find(dir_, split, 'images')).astype(np.float32)).unsqueeze(1)  # N,1,28,28 in [0,255]
    y = torch.from_numpy(read_idx(find(dir_, split, 'labels')).astype(np.int64))
    return x, y


def load_data(config):
    d = config['data']
    if d['source'] != 'embedded':
        raise SystemExit(f"torch_ladder: data.source {d['source']!r} is not supported here (the ladder trains on the embedded subset)")
    train = load(EMBEDDED, 'train')
    test = load(d['eval']['dir'], 'test') if d.get('eval') else load(EMBEDDED, 'test')
    return train, test


def crop_box(gen, h, w, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision.transforms.RandomResizedCrop.get_params, with our generator."""
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * gen.uniform(scale[0], scale[1])
        aspect = math.exp(gen.uniform(*log_ratio))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return gen.randint(0, h - ch), gen.randint(0, w - cw), ch, cw
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def train_transform(x, gen):
    """Random-resized crop (bilinear, half-pixel centres), flip p 0.5, normalize; x: N,1,H,W in [0,255]."""
    n, _, h, w = x.shape
    out = torch.empty_like(x)
    for k in range(n):
        i, j, ch, cw = crop_box(gen, h, w)
        patch = x[k:k + 1, :, i:i + ch, j:j + cw]
        if ch != h or cw != w:
            patch = F.interpolate(patch, size=(h, w), mode='bilinear', align_corners=False)
        if gen.random() < 0.5:
            patch = patch.flip(3)
        out[k] = patch[0]
    return (out - MEAN) / STD


def eval_transform(x):
    y = F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False)
    return (y[:, :, 2:30, 2:30] - MEAN) / STD


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, cin, cout, stride, avg_down, zero_gamma):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if zero_gamma:
            nn.init.zeros_(self.bn2.weight)
        self.downsample = None
        if stride != 1 or cin != cout:
            if avg_down:
                pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
                self.downsample = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, 1, bias=False), nn.BatchNorm2d(cout))
            else:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class CifarResNet(nn.Module):
    def __init__(self, layers, width=1.0, avg_down=False, zero_gamma=True, num_classes=10, in_ch=1):
        super().__init__()
        ws = [max(1, round(16 * width)), max(1, round(32 * width)), max(1, round(64 * width))]
        self.conv1 = nn.Conv2d(in_ch, ws[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ws[0])
        stages, cin = [], ws[0]
        for s, w in enumerate(ws):
            blocks = []
            for b in range(layers[s]):
                blocks.append(Block(cin, w, 2 if s > 0 and b == 0 else 1, avg_down, zero_gamma))
                cin = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if zero_gamma:
            for m in self.modules():
                if isinstance(m, Block):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


DEPTHS = {'resnet20': 3, 'resnet32': 5, 'resnet44': 7, 'resnet56': 9, 'resnet110': 18}


def build_model(config):
    m = config['model']
    o = m.get('options', {})
    if m['name'] not in DEPTHS:
        raise SystemExit(f"torch_ladder: model {m['name']!r} is not a CIFAR ResNet")
    if o.get('initializer', 'xavierUniform') != 'xavierUniform':
        raise SystemExit('torch_ladder: only the xavierUniform initializer is implemented')
    layers = o.get('layers', [DEPTHS[m['name']]] * 3)
    if len(layers) != 3:
        raise SystemExit(f'torch_ladder: model.options.layers must have 3 stages, got {layers}')
    return CifarResNet(layers, width=o.get('width', 1.0), avg_down=o.get('avgDown', False), zero_gamma=o.get('zeroGamma', True))


# ---------------------------------------------------------------- schedule, as schedules' warmupStepDecay / warmupCosine
def js_round(x):
    return math.floor(x + 0.5)


def make_schedule(config, steps_per_epoch):
    base = config['baseLr'] * config['batchSize'] / 256 if config['linearScaling'] else config['baseLr']
    warm = js_round(config['warmupEpochs'] * steps_per_epoch)
    total = js_round(config['epochs'] * steps_per_epoch)
    s = config['schedule']
    if s['kind'] == 'cosine':
        floor, last = s.get('floor', 0), total - warm - 1

        def decay(t):
            if t >= last:
                return floor
            return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t / last))
    else:
        ms = [js_round(e * steps_per_epoch) - warm for e in s['milestones']]

        def decay(t):
            return base * s['gamma'] ** sum(1 for m in ms if m <= t)

    def lr(step):
        if step < warm:
            return base if step >= warm - 1 else base * (step + 1) / warm
        return decay(step - warm)
    return lr


# ---------------------------------------------------------------- losses
def soft_targets(labels, k, smoothing):
    y = F.one_hot(labels, k).float()
    if smoothing:
        eps = smoothing['epsilon']
        y = y * (1 - eps) + (1 - y) * eps / (k - 1) if smoothing['form'] == 'paper' else y * (1 - eps) + eps / k
    return y


def soft_ce(logits, target):
    return -(target * F.log_softmax(logits, 1)).sum(1).mean()


# ---------------------------------------------------------------- training
def evaluate(model, x, y, batch=250):
    # Batches of 250 under inference_mode: batches of 1000 under no_grad took 5-10x as long per image on this CPU
    # (measured: 1000 images in 18 s against 1.5 s), which made eval most of an epoch's time.
    model.eval()
    correct1 = correct5 = 0
    loss = 0.0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            logits = model(eval_transform(x[i:i + batch]))
            t = y[i:i + batch]
            loss += F.cross_entropy(logits, t, reduction='sum').item()
            top5 = logits.topk(5, 1).indices
            correct1 += (top5[:, 0] == t).sum().item()
            correct5 += (top5 == t[:, None]).any(1).sum().item()
    return correct1 / len(x), correct5 / len(x), loss / len(x)


def run(config, teacher=None, log=print):
    seed = config['seed']
    torch.manual_seed(seed)
    gen = random.Random(seed)
    (xtr, ytr), (xte, yte) = load_data(config)
    k = int(ytr.max()) + 1
    model = build_model(config)
    if config['noBiasDecay']:
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]  # conv and dense kernels
        rest = [p for n, p in model.named_parameters() if p.ndim <= 1]  # biases, BN gamma/beta
        groups = [{'params': decay, 'weight_decay': config['weightDecay']}, {'params': rest, 'weight_decay': 0.0}]
    else:
        groups = [{'params': list(model.parameters()), 'weight_decay': config['weightDecay']}]
    opt = config['optimizer']
    if opt['kind'] != 'nag':
        raise SystemExit('torch_ladder: only the nag optimizer is implemented')
    optimizer = torch.optim.SGD(groups, lr=0.0, momentum=opt['momentum'], nesterov=True)
    bs = config['batchSize']
    steps_per_epoch = len(xtr) // bs  # drop the last partial batch, as the tfjs loader does
    lr_at = make_schedule(config, steps_per_epoch)
    mix = config.get('mixup')
    dist = config.get('distillation')
    smoothing = config.get('labelSmoothing')
    epochs, step = [], 0
    for epoch in range(config['epochs']):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(xtr))
        loss_sum = 0.0
        mixing = mix and epoch < config['epochs'] - mix.get('offEpochs', 0)
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            x = train_transform(xtr[idx], gen)
            target = soft_targets(ytr[idx], k, smoothing)
            if mixing:
                lam = np.random.default_rng(gen.getrandbits(32)).beta(mix['alpha'], mix['alpha'])
                p = torch.randperm(len(idx))
                x = lam * x + (1 - lam) * x[p]
                target = lam * target + (1 - lam) * target[p]
            for g in optimizer.param_groups:
                g['lr'] = lr_at(step)
            logits = model(x)
            loss = soft_ce(logits, target)
            if dist:
                T = dist['temperature']
                with torch.no_grad():
                    r = teacher(x)
                loss = loss + T * T * soft_ce(logits / T, F.softmax(r / T, 1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            step += 1
        top1, top5, eval_loss = evaluate(model, xte, yte)
        seconds = time.time() - t0
        epochs.append({'epoch': epoch + 1, 'top1': top1, 'top5': top5, 'loss': eval_loss, 'trainLoss': loss_sum / steps_per_epoch,
                       'lr': lr_at(step - 1), 'seconds': seconds})
        log(f"[torch] epoch {epoch + 1}/{config['epochs']}: train loss {loss_sum / steps_per_epoch:.4f}, eval top-1 {100 * top1:.2f}%, "
            f'top-5 {100 * top5:.2f}%, eval loss {eval_loss:.4f} ({seconds:.1f} s)')
    return model, epochs, steps_per_epoch * config['epochs']


def git_commit():
    try:
        head = open(os.path.join(ROOT, '.git', 'HEAD')).read().strip()
        if not head.startswith('ref: '):
            return head
        ref = head[5:]
        loose = os.path.join(ROOT, '.git', ref)
        if os.path.exists(loose):
            return open(loose).read().strip()
        for line in open(os.path.join(ROOT, '.git', 'packed-refs')):
            if line.strip().endswith(' ' + ref):
                return line.split(' ')[0]
    except OSError:
        pass
    return None


def rung_config(rung, epochs, seed, teacher='torch-teacher'):
    args = ['node', os.path.join(HERE, 'rungs.mjs'), '--print', rung, '--epochs', str(epochs), '--seed', str(seed), '--teacher', teacher]
    return json.loads(subprocess.check_output(args, cwd=ROOT))


def write_atomic(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.' + os.path.basename(path), suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def record(rung, seed, title, config, epochs, steps, model_path=None):
    last = epochs[-1]
    return {
        'format': FORMAT, 'implementation': 'pytorch', 'rung': rung, 'seed': seed, 'title': title,
        'final': {'top1': last['top1'], 'top5': last['top5'], 'loss': last['loss']},
        'epochs': epochs, 'seconds': sum(e['seconds'] for e in epochs), 'backend': f'pytorch {torch.__version__} cpu ({torch.get_num_threads()} threads)',
        'workers': 1, 'steps': steps, 'config': config, 'commit': git_commit(), 'date': datetime.now(timezone.utc).isoformat(),
        'machine': {'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count(), 'platform': f'{sys.platform}-{platform.machine()}',
                    'python': platform.python_version()},
        **({'model': model_path} if model_path else {}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rungs', default='0,4,7')
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--epochs', type=int, help='base epochs (default: LADDER_EPOCHS in rungs.mjs)')
    ap.add_argument('--teacher-epochs', type=int)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--results', default=os.path.join(HERE, 'results-torch'))
    ap.add_argument('--runs', default=os.path.join(HERE, 'runs-torch'))
    ap.add_argument('--quick', action='store_true', help='embedded 1k test set, 1 epoch, half width (a smoke test)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rungs = [r for r in a.rungs.split(',') if r]
    seeds = [int(s) for s in a.seeds.split(',') if s]
    if a.epochs is None:
        a.epochs = int(subprocess.check_output(['node', '-e', f"import('{os.path.join(HERE, 'rungs.mjs')}').then(m => console.log(m.LADDER_EPOCHS))"]))
    epochs = 1 if a.quick else a.epochs

    def adjust(c):
        if a.quick:
            c['data'] = {'source': 'embedded'}
            c['model']['options']['width'] = 0.5
            c['model']['options']['layers'] = [1, 1, 1]
        return c

    teacher = None
    teacher_file = os.path.join(a.runs, 'teacher', 'seed-0', 'model.pt')
    titles = {r: json.loads(subprocess.check_output(['node', '-e', f"import('{os.path.join(HERE, 'rungs.mjs')}').then(m => console.log(JSON.stringify(m.rungById('{r}').title)))"]))
              for r in rungs}
    for rung in sorted(rungs, key=lambda r: (r in ('5', '7'), r)):
        for seed in seeds:
            out = os.path.join(a.results, rung, f'seed-{seed}.json')
            config = adjust(rung_config(rung, epochs, seed, teacher_file))
            if os.path.exists(out):
                done = json.load(open(out))
                if done['config']['epochs'] == config['epochs']:
                    print(f"[torch] rung {rung} seed {seed}: done (top-1 {100 * done['final']['top1']:.2f}%), skipped", flush=True)
                    continue
                print(f"[torch] {out} holds a {done['config']['epochs']}-epoch run; move it away to rerun", flush=True)
                continue
            if config.get('distillation') and teacher is None:
                tconf = rung_config('teacher', a.teacher_epochs or epochs, 0)
                tconf = adjust(tconf)
                tout = os.path.join(a.results, 'teacher', 'seed-0.json')
                teacher = build_model(tconf)
                if os.path.exists(teacher_file) and os.path.exists(tout):
                    teacher.load_state_dict(torch.load(teacher_file))
                    print(f'[torch] teacher loaded from {teacher_file}', flush=True)
                else:
                    print(f"[torch] training the teacher ({tconf['model']['name']} {tconf['model']['options']}, {tconf['epochs']} epochs)", flush=True)
                    teacher, ep, steps = run(tconf, log=lambda m: print(m, flush=True))
                    os.makedirs(os.path.dirname(teacher_file), exist_ok=True)
                    torch.save(teacher.state_dict(), teacher_file + '.tmp')
                    os.replace(teacher_file + '.tmp', teacher_file)
                    write_atomic(tout, json.dumps(record('teacher', 0, 'teacher: resnet56 (ResNet-D) with rung 4\'s recipe', tconf, ep, steps, teacher_file), indent=1) + '\n')
                teacher.eval()
            print(f"[torch] rung {rung} seed {seed}: starting ({config['epochs']} epochs)", flush=True)
            _, ep, steps = run(config, teacher=teacher, log=lambda m: print(m, flush=True))
            write_atomic(out, json.dumps(record(rung, seed, titles[rung], config, ep, steps), indent=1) + '\n')
            print(f"[torch] rung {rung} seed {seed}: top-1 {100 * ep[-1]['top1']:.2f}% in {sum(e['seconds'] for e in ep):.0f} s -> {out}", flush=True)


if __name__ == '__main__':
    main()
