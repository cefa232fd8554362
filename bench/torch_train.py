"""PyTorch peer for `npm run bench`: training img/s (forward + backward + SGD Nesterov momentum)
of the same models the JS bench trains. Prints one JSON line.

    /usr/bin/python3 bench/torch_train.py --model resnet20 --batch 64 --size 32 --threads 1 --seconds 4
    --autocast: the forward (and so its backward) under torch.autocast('cpu', dtype=torch.bfloat16):
    convolutions and matmuls in bfloat16, float32 weights and optimizer (PyTorch's mixed precision on CPU).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torchvision


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or cin != cout:  # option-B projection, as in resnet-variants' CIFAR config
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


def cifar_resnet(n=3, num_classes=10):
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
    cin = 16
    for stage, width in enumerate([16, 32, 64]):
        for block in range(n):
            layers.append(BasicBlock(cin, width, 2 if stage > 0 and block == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='resnet20')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seconds', type=float, default=4.0)
    p.add_argument('--min-steps', type=int, default=3)
    p.add_argument('--autocast', action='store_true')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = cifar_resnet(3, a.classes) if a.model == 'resnet20' else getattr(torchvision.models, a.model)(num_classes=a.classes)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        if a.autocast:
            with torch.autocast('cpu', dtype=torch.bfloat16):
                loss = loss_fn(model(x), y)
        else:
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    times = []
    cpu0 = time.process_time()  # all threads of the process: the work a step costs, less sensitive to other load
    t_end = time.perf_counter() + a.seconds
    while len(times) < a.min_steps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    cpu_ms = 1000 * (time.process_time() - cpu0) / len(times)
    times.sort()
    ms = 1000 * times[len(times) // 2]
    print(json.dumps({
        'engine': 'pytorch autocast-bf16' if a.autocast else 'pytorch', 'version': torch.__version__, 'model': a.model, 'batch': a.batch, 'size': a.size,
        'threads': torch.get_num_threads(), 'steps': len(times), 'msPerStep': ms, 'cpuMsPerStep': cpu_ms, 'imgPerSec': a.batch * 1000 / ms,
        'params': sum(p.numel() for p in model.parameters()),
    }))


if __name__ == '__main__':
    main()
