"""torchvision's equivalent of the data package's train pipeline, for bench/pipeline.mjs.

Usage: python3 torchvision_pipeline.py <image_root> <repeats>
Prints one JSON object: img/s (wall) and img per CPU-second for each stage, one thread.
Decode is included: PIL opens and converts every JPEG, as torchvision's ImageFolder does.
"""
import json
import os
import sys
import time

try:
    import torch
    import torchvision
    from torchvision import transforms as T
    from PIL import Image
except Exception as err:  # torch missing: the Node bench skips this column
    print(json.dumps({"skipped": f"torch/torchvision do not import: {err}"}))
    sys.exit(0)

torch.set_num_threads(1)
torch.manual_seed(0)
root, repeats = sys.argv[1], int(sys.argv[2])
files = sorted(
    os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.lower().endswith((".jpg", ".jpeg"))
)

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
stages = {
    "decode+rrc": T.Compose([T.RandomResizedCrop(224)]),
    "decode+rrc+flip": T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip()]),
    "full (rrc+flip+jitter+normalize)": T.Compose(
        [
            T.RandomResizedCrop(224),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.4, 0.4, 0.4),
            T.ToTensor(),
            T.Normalize(MEAN, STD),
        ]
    ),
}


def load(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(), "stages": {}}
for name, tf in stages.items():
    for p in files[:10]:  # warm up
        tf(load(p))
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for p in files:
            tf(load(p))
            n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    out["stages"][name] = {"images": n, "imgPerSec": n / wall, "imgPerCpuSec": n / cpu}
print(json.dumps(out))
