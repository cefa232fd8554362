// Constant padding (tfjs's PadV2) of a float32 tensor of any rank, in place of tfjs-backend-wasm's single-threaded
// element-by-element loop: the stride-2 convs of the ResNets pad their input explicitly (as torchvision pads), and
// in a ResNet-20 step those two pads cost more than the twelve 3x3 convs' ReLUs. Included by kernels.cc inside its
// namespace (it uses the thread pool).
//
// A copy, so the output is bitwise the tfjs kernel's. Trailing dimensions without padding are merged into one
// contiguous unit; the output is then rows of the last padded dimension, each either all `value` (its coordinates
// lie in the padding) or `before` units of `value`, one contiguous copy of the input row, `after` units of `value`.
// Rows are split into fixed blocks of about 16K output elements, one pool task each.

static void padConstant(const float* x, float* y, int rank, const long* xShape, const long* before, const long* after, float value) {
  // Merge trailing dimensions without padding into the unit.
  long unit = 1;
  int r = rank;
  while (r > 0 && before[r - 1] == 0 && after[r - 1] == 0) unit *= xShape[--r];
  if (r == 0) {  // no padding at all: a copy
    const long per = 16384, n = unit, blocks = (n + per - 1) / per;
    pool().run((int)blocks, [&](int b, int) {
      const long a = b * per;
      std::memcpy(y + a, x + a, sizeof(float) * (size_t)(std::min(n, a + per) - a));
    });
    return;
  }
  // Dimensions 0..r-1 (r >= 1); the last of them, r-1, is padded or is followed only by the unit.
  std::vector<long> outDim(r), xStride(r);
  long s = unit;
  for (int d = r - 1; d >= 0; d--) {
    outDim[d] = xShape[d] + before[d] + after[d];
    xStride[d] = s;
    s *= xShape[d];
  }
  const long last = r - 1;
  const long rowLen = outDim[last] * unit;  // output elements per row
  long rows = 1;
  for (int d = 0; d < last; d++) rows *= outDim[d];
  const long rowsPerBlock = std::max(1L, 16384 / rowLen), blocks = (rows + rowsPerBlock - 1) / rowsPerBlock;
  const long head = before[last] * unit, body = xShape[last] * unit, tail = after[last] * unit;
  pool().run((int)blocks, [&](int b, int) {
    const long r0 = b * rowsPerBlock, r1 = std::min(rows, r0 + rowsPerBlock);
    for (long row = r0; row < r1; row++) {
      float* o = y + row * rowLen;
      // The input row this output row copies, or -1 where a coordinate lies in the padding.
      long rem = row, off = 0;
      for (int d = (int)last - 1; d >= 0 && off >= 0; d--) {
        const long c = rem % outDim[d] - before[d];
        rem /= outDim[d];
        if (c < 0 || c >= xShape[d]) off = -1;
        else off += c * xStride[d];
      }
      if (off < 0) {
        std::fill_n(o, rowLen, value);
        continue;
      }
      std::fill_n(o, head, value);
      std::memcpy(o + head, x + off, sizeof(float) * (size_t)body);
      std::fill_n(o + head + body, tail, value);
    }
  });
}
