// Convolution kernels for tfjs-backend-wasm's memory (NHWC, float32), built by
// scripts/build-wasm.mjs into src/kernels/bot-simd.wasm and its embedded copy.
//
// This module imports emscripten's memory and owns none of it: no data segments, no
// static variables, no shadow stack (no address-taken locals, no local arrays). Every
// scratch buffer is passed in from JS. Accumulators are named v128 locals, never arrays,
// so they live in wasm locals (registers) and never spill to a stack in linear memory.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

INLINE int imin(int a, int b) { return a < b ? a : b; }
/** floor(a / b) for b > 0. */
INLINE int floordiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define SPLAT(p) wasm_v128_load32_splat(p)
#define MAC(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))

// ---------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW[kh,kw,ci,co] = sum over (n,oh,ow) of
//   x[n, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, ci] * dy[n, oh, ow, co].
// For one tap, the valid (n,oh,ow) form row segments: runs of output pixels whose x pixels
// are sw*C floats apart and whose dy pixels are O floats apart. A register block of
// 4 ci x 8 co accumulates the outer products x[ci..ci+3] (broadcast) x dy[co..co+7] over
// the segments. Output rows are processed in chunks so a chunk's x and dy stay in cache
// while every tap and every channel block runs over them.
// ---------------------------------------------------------------------------------------

/** 4 input channels x 8 output channels over all segments. */
INLINE void bpf_4x8(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int O, int xs) {
  float *w0 = dw, *w1 = dw + O, *w2 = dw + 2 * O, *w3 = dw + 3 * O;
  v128_t a00 = LD(w0), a01 = LD(w0 + 4), a10 = LD(w1), a11 = LD(w1 + 4);
  v128_t a20 = LD(w2), a21 = LD(w2 + 4), a30 = LD(w3), a31 = LD(w3 + 4);
  for (int s = 0; s < nseg; s++) {
    const float *xp = x + seg[3 * s];
    const float *dp = dy + seg[3 * s + 1];
    for (int p = seg[3 * s + 2]; p > 0; p--) {
      v128_t d0 = LD(dp), d1 = LD(dp + 4);
      v128_t x0 = SPLAT(xp);
      MAC(a00, x0, d0);
      MAC(a01, x0, d1);
      v128_t x1 = SPLAT(xp + 1);
      MAC(a10, x1, d0);
      MAC(a11, x1, d1);
      v128_t x2 = SPLAT(xp + 2);
      MAC(a20, x2, d0);
      MAC(a21, x2, d1);
      v128_t x3 = SPLAT(xp + 3);
      MAC(a30, x3, d0);
      MAC(a31, x3, d1);
      xp += xs;
      dp += O;
    }
  }
  ST(w0, a00); ST(w0 + 4, a01); ST(w1, a10); ST(w1 + 4, a11);
  ST(w2, a20); ST(w2 + 4, a21); ST(w3, a30); ST(w3 + 4, a31);
}

/** 4 input channels x 4 output channels. */
INLINE void bpf_4x4(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int O, int xs) {
  float *w0 = dw, *w1 = dw + O, *w2 = dw + 2 * O, *w3 = dw + 3 * O;
  v128_t a0 = LD(w0), a1 = LD(w1), a2 = LD(w2), a3 = LD(w3);
  for (int s = 0; s < nseg; s++) {
    const float *xp = x + seg[3 * s];
    const float *dp = dy + seg[3 * s + 1];
    for (int p = seg[3 * s + 2]; p > 0; p--) {
      v128_t d0 = LD(dp);
      MAC(a0, SPLAT(xp), d0);
      MAC(a1, SPLAT(xp + 1), d0);
      MAC(a2, SPLAT(xp + 2), d0);
      MAC(a3, SPLAT(xp + 3), d0);
      xp += xs;
      dp += O;
    }
  }
  ST(w0, a0); ST(w1, a1); ST(w2, a2); ST(w3, a3);
}

/** 1 input channel x 8 output channels. */
INLINE void bpf_1x8(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int O, int xs) {
  v128_t a0 = LD(dw), a1 = LD(dw + 4);
  for (int s = 0; s < nseg; s++) {
    const float *xp = x + seg[3 * s];
    const float *dp = dy + seg[3 * s + 1];
    for (int p = seg[3 * s + 2]; p > 0; p--) {
      v128_t x0 = SPLAT(xp);
      MAC(a0, x0, LD(dp));
      MAC(a1, x0, LD(dp + 4));
      xp += xs;
      dp += O;
    }
  }
  ST(dw, a0); ST(dw + 4, a1);
}

/** 1 input channel x 4 output channels. */
INLINE void bpf_1x4(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int O, int xs) {
  v128_t a0 = LD(dw);
  for (int s = 0; s < nseg; s++) {
    const float *xp = x + seg[3 * s];
    const float *dp = dy + seg[3 * s + 1];
    for (int p = seg[3 * s + 2]; p > 0; p--) {
      MAC(a0, SPLAT(xp), LD(dp));
      xp += xs;
      dp += O;
    }
  }
  ST(dw, a0);
}

/** 1 input channel x 1 output channel (output-channel tails). */
INLINE void bpf_1x1(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int O, int xs) {
  float a = *dw;
  for (int s = 0; s < nseg; s++) {
    const float *xp = x + seg[3 * s];
    const float *dp = dy + seg[3 * s + 1];
    for (int p = seg[3 * s + 2]; p > 0; p--) {
      a += *xp * *dp;
      xp += xs;
      dp += O;
    }
  }
  *dw = a;
}

/** One tap: dw[C, O] += x(segments)^T dy(segments). x and dy point at the tap's origin. */
static void bpf_tap(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int C, int O, int xs) {
  int ci = 0;
  for (; ci + 4 <= C; ci += 4) {
    int co = 0;
    for (; co + 8 <= O; co += 8) bpf_4x8(x + ci, dy + co, dw + ci * O + co, seg, nseg, O, xs);
    for (; co + 4 <= O; co += 4) bpf_4x4(x + ci, dy + co, dw + ci * O + co, seg, nseg, O, xs);
    for (; co < O; co++)
      for (int c = ci; c < ci + 4; c++) bpf_1x1(x + c, dy + co, dw + c * O + co, seg, nseg, O, xs);
  }
  for (; ci < C; ci++) {
    int co = 0;
    for (; co + 8 <= O; co += 8) bpf_1x8(x + ci, dy + co, dw + ci * O + co, seg, nseg, O, xs);
    for (; co + 4 <= O; co += 4) bpf_1x4(x + ci, dy + co, dw + ci * O + co, seg, nseg, O, xs);
    for (; co < O; co++) bpf_1x1(x + ci, dy + co, dw + ci * O + co, seg, nseg, O, xs);
  }
}

/**
 * dw [FH, FW, C, O] = the filter gradient. seg: scratch of 3 * chunkRows int32.
 * Output rows (n, oh) are processed chunkRows at a time.
 */
EXPORT(conv2d_backprop_filter)
void conv2d_backprop_filter(const float *x, const float *dy, float *dw, int32_t *seg, int N, int H, int W, int C,
                            int OH, int OW, int O, int FH, int FW, int SH, int SW, int DH, int DW, int PT, int PL,
                            int chunkRows) {
  const int total = FH * FW * C * O;
  for (int i = 0; i < total; i++) dw[i] = 0.0f;
  const int rows = N * OH;
  const int xs = SW * C;
  for (int r0 = 0; r0 < rows; r0 += chunkRows) {
    const int r1 = imin(rows, r0 + chunkRows);
    for (int kh = 0; kh < FH; kh++) {
      for (int kw = 0; kw < FW; kw++) {
        // Valid ow for this column tap: 0 <= ow*SW + off < W.
        const int off = kw * DW - PL;
        const int owLo = off >= 0 ? 0 : (-off + SW - 1) / SW;
        const int owHi = imin(OW, floordiv(W - 1 - off, SW) + 1);
        if (owHi <= owLo) continue;
        const int cnt = owHi - owLo;
        int nseg = 0;
        for (int r = r0; r < r1; r++) {
          const int n = r / OH;
          const int ih = (r - n * OH) * SH + kh * DH - PT;
          if (ih < 0 || ih >= H) continue;
          const int xo = ((n * H + ih) * W + owLo * SW + off) * C;
          const int dyo = (r * OW + owLo) * O;
          if (nseg > 0 && seg[3 * nseg - 3] + seg[3 * nseg - 1] * xs == xo && seg[3 * nseg - 2] + seg[3 * nseg - 1] * O == dyo) {
            seg[3 * nseg - 1] += cnt; // contiguous with the previous run: merge
          } else {
            seg[3 * nseg] = xo;
            seg[3 * nseg + 1] = dyo;
            seg[3 * nseg + 2] = cnt;
            nseg++;
          }
        }
        if (nseg > 0) bpf_tap(x, dy, dw + (kh * FW + kw) * C * O, seg, nseg, C, O, xs);
      }
    }
  }
}
