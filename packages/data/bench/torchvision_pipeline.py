"""torchvision's equivalent of the data package's train pipeline, for bench/pipeline.mjs.

Usage: python3 torchvision_pipeline.py <image_root> <repeats> [batch]
Prints one JSON object: img/s (wall) and img per CPU-second for each stage, one thread.
Decode is included: PIL opens and converts every JPEG, as torchvision's ImageFolder does, and
every `batch` outputs are stacked into one batch tensor, as DataLoader's collate does (our
loader hands out batch tensors too).

How "paper" matches pixelPipeline({ preset: 'paper' }) after imageFolderDataset's crop:
- RandomResizedCrop(224, scale=(0.08, 1), ratio=(3/4, 4/3)): the same box sampler; PIL resizes
  the crop with antialiased bilinear (ours: sharp lanczos3 by default, or bilinear without
  antialiasing with resample: 'bilinear').
- RandomHorizontalFlip(0.5): the same.
- ColorJitter(brightness=0.4, saturation=0.4, hue=0.4): the paper's three factors. torchvision
  multiplies RGB by the brightness factor (ours scales HSV value: the same up to clipping), blends
  with the grey image for saturation (ours scales HSV saturation) and SHIFTS hue by up to 0.4 of
  the circle (ours SCALES it by [0.6, 1.4], the paper's words); both do a full RGB -> HSV -> RGB
  round trip for hue, so the work per pixel is alike. No contrast: the paper has none.
- ToTensor, then Lighting(0.1): AlexNet PCA noise with the same eigenvalues/vectors (on the 0-1
  scale: eigval / 255), as the PyTorch ImageNet examples add it to the tensor.
- Normalize(mean, std): the same statistics on the 0-1 scale.
"gluoncv" is the same with ColorJitter(0.4, 0.4, 0.4) (brightness, contrast, saturation, no hue).
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
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
files = sorted(
    os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.lower().endswith((".jpg", ".jpeg"))
)

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
EIGVAL = torch.tensor([55.46, 4.794, 1.148]) / 255
EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


class Lighting:
    """AlexNet PCA lighting noise on a CHW tensor in [0, 1] (as in the PyTorch ImageNet examples)."""

    def __init__(self, alphastd):
        self.alphastd = alphastd

    def __call__(self, img):
        alpha = img.new_empty(3).normal_(0, self.alphastd)
        rgb = (EIGVEC * alpha.view(1, 3) * EIGVAL.view(1, 3)).sum(1)
        return img.add(rgb.view(3, 1, 1))


RRC = lambda: T.RandomResizedCrop(224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))  # noqa: E731
stages = {
    "paper (rrc+flip+jitter b/s/h+lighting+normalize)": T.Compose(
        [RRC(), T.RandomHorizontalFlip(), T.ColorJitter(brightness=0.4, saturation=0.4, hue=0.4), T.ToTensor(), Lighting(0.1), T.Normalize(MEAN, STD)]
    ),
    "gluoncv (rrc+flip+jitter b/c/s+lighting+normalize)": T.Compose(
        [RRC(), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4), T.ToTensor(), Lighting(0.1), T.Normalize(MEAN, STD)]
    ),
    "decode+rrc+flip (to tensor)": T.Compose([RRC(), T.RandomHorizontalFlip(), T.ToTensor()]),
}


def load(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(), "batch": batch, "stages": {}}
for name, tf in stages.items():
    for p in files[:10]:  # warm up
        tf(load(p))
    n = 0
    pending = []
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for p in files:
            pending.append(tf(load(p)))
            n += 1
            if len(pending) == batch:
                torch.stack(pending)
                pending = []
    if pending:
        torch.stack(pending)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    out["stages"][name] = {"images": n, "imgPerSec": n / wall, "imgPerCpuSec": n / cpu}
print(json.dumps(out))
