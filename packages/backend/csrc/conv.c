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
 * bpf_tap for C % 4 == 0 and O % 8 == 0, with the tap's pixels packed first into contiguous
 * panels, x as [C/4][P][4] and dy as [O/8][P][8] (pk: P*(C+O) floats of scratch): the register
 * block then streams two small contiguous panels from L1 instead of rows C and O floats apart
 * (a power of two apart for wide layers: 4 KB aliasing in L1).
 */
static void bpf_tap_packed(const float *x, const float *dy, float *dw, const int32_t *seg, int nseg, int C, int O, int xs,
                           float *pk) {
  int P = 0;
  for (int s = 0; s < nseg; s++) P += seg[3 * s + 2];
  float *xp = pk, *dp = pk + P * C;
  int p = 0;
  for (int s = 0; s < nseg; s++) {
    const float *xr = x + seg[3 * s];
    const float *dr = dy + seg[3 * s + 1];
    for (int q = seg[3 * s + 2]; q > 0; q--, p++) {
      for (int cb = 0; cb < C; cb += 4) ST(xp + cb * P + p * 4, LD(xr + cb));
      for (int ob = 0; ob < O; ob += 8) {
        ST(dp + ob * P + p * 8, LD(dr + ob));
        ST(dp + ob * P + p * 8 + 4, LD(dr + ob + 4));
      }
      xr += xs;
      dr += O;
    }
  }
  for (int ob = 0; ob < O; ob += 8) {
    const float *dpan = dp + ob * P;
    for (int cb = 0; cb < C; cb += 4) {
      const float *xpan = xp + cb * P;
      float *w0 = dw + cb * O + ob, *w1 = w0 + O, *w2 = w0 + 2 * O, *w3 = w0 + 3 * O;
      v128_t a00 = LD(w0), a01 = LD(w0 + 4), a10 = LD(w1), a11 = LD(w1 + 4);
      v128_t a20 = LD(w2), a21 = LD(w2 + 4), a30 = LD(w3), a31 = LD(w3 + 4);
      const float *xq = xpan, *dq = dpan;
      for (int i = 0; i < P; i++) {
        v128_t d0 = LD(dq), d1 = LD(dq + 4);
        v128_t x0 = SPLAT(xq);
        MAC(a00, x0, d0);
        MAC(a01, x0, d1);
        v128_t x1 = SPLAT(xq + 1);
        MAC(a10, x1, d0);
        MAC(a11, x1, d1);
        v128_t x2 = SPLAT(xq + 2);
        MAC(a20, x2, d0);
        MAC(a21, x2, d1);
        v128_t x3 = SPLAT(xq + 3);
        MAC(a30, x3, d0);
        MAC(a31, x3, d1);
        xq += 4;
        dq += 8;
      }
      ST(w0, a00); ST(w0 + 4, a01); ST(w1, a10); ST(w1 + 4, a11);
      ST(w2, a20); ST(w2 + 4, a21); ST(w3, a30); ST(w3 + 4, a31);
    }
  }
}

/**
 * dw [FH, FW, C, O] = the filter gradient. seg: scratch of 3 * chunkRows int32. pk: 0, or (when
 * C % 4 == 0 and O % 8 == 0) chunkRows*OW*(C+O) floats of packing scratch.
 * Output rows (n, oh) are processed chunkRows at a time.
 */
EXPORT(conv2d_backprop_filter)
void conv2d_backprop_filter(const float *x, const float *dy, float *dw, int32_t *seg, int N, int H, int W, int C,
                            int OH, int OW, int O, int FH, int FW, int SH, int SW, int DH, int DW, int PT, int PL,
                            int chunkRows, float *pk) {
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
        if (nseg == 0) continue;
        if (pk) bpf_tap_packed(x, dy, dw + (kh * FW + kw) * C * O, seg, nseg, C, O, xs, pk);
        else bpf_tap(x, dy, dw + (kh * FW + kw) * C * O, seg, nseg, C, O, xs);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Winograd F(2x2, 3x3) for stride-1, dilation-1 3x3 convolutions (NHWC), C and O multiples
// of 4. Y = A^T [ (G g G^T) . (B^T d B) ] A over 4x4 input tiles with stride 2: 16 products
// per 2x2 outputs instead of 36. Tiles are processed in blocks of T so that a block's
// transformed input V [16][T][C] and products M [16][T][O] (scratch from JS) stay in cache:
//   1. V = B^T d B for every tile and 4 channels at a time (zeros outside the image);
//   2. for each of the 16 positions: M[xi] = V[xi] (T x C) times U[xi] (C x O);
//   3. out = A^T M A + bias, then relu, for the outputs inside the image.
// ---------------------------------------------------------------------------------------

/**
 * U [16][K][M] = G g G^T from a [3,3,C,O] filter. swap=0: K=C, M=O, g = w[i,j,c,o] (forward).
 * swap=1: K=O, M=C, g = w[2-i,2-j,m,k] (the flipped, channel-swapped filter of the gradient
 * with respect to the input): transformed into tmp (16*C*O floats of scratch) in the forward
 * layout, then each of the 16 planes transposed [C][O] -> [O][C] in 4x4 SIMD blocks.
 */
EXPORT(winograd_filter)
void winograd_filter(const float *w, float *U, int C, int O, int swap, float *tmp) {
  const v128_t half = wasm_f32x4_splat(0.5f);
  const int plane = C * O;
  float *const dst = swap ? tmp : U;
  for (int c = 0; c < C; c++) {
    for (int o = 0; o < O; o += 4) {
      const float *p = w + c * O + o;
      v128_t g00, g01, g02, g10, g11, g12, g20, g21, g22;
      if (!swap) {
        g00 = LD(p); g01 = LD(p + plane); g02 = LD(p + 2 * plane);
        g10 = LD(p + 3 * plane); g11 = LD(p + 4 * plane); g12 = LD(p + 5 * plane);
        g20 = LD(p + 6 * plane); g21 = LD(p + 7 * plane); g22 = LD(p + 8 * plane);
      } else {
        g00 = LD(p + 8 * plane); g01 = LD(p + 7 * plane); g02 = LD(p + 6 * plane);
        g10 = LD(p + 5 * plane); g11 = LD(p + 4 * plane); g12 = LD(p + 3 * plane);
        g20 = LD(p + 2 * plane); g21 = LD(p + plane); g22 = LD(p);
      }
      // Rows: s = G g (4 x 3).
      v128_t s00 = g00, s01 = g01, s02 = g02;
      v128_t s10 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(g00, g10), g20));
      v128_t s11 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(g01, g11), g21));
      v128_t s12 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(g02, g12), g22));
      v128_t s20 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(g00, g10), g20));
      v128_t s21 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(g01, g11), g21));
      v128_t s22 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(g02, g12), g22));
      v128_t s30 = g20, s31 = g21, s32 = g22;
#define WF_ROW(i, a, b, c)                                                                      \
  do {                                                                                          \
    v128_t u0 = a, u3 = c;                                                                      \
    v128_t u1 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(a, b), c));                  \
    v128_t u2 = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(a, b), c));                  \
    float *q = dst + (i * 4) * plane + c_ * O + o;                                              \
    ST(q, u0); ST(q + plane, u1); ST(q + 2 * plane, u2); ST(q + 3 * plane, u3);                 \
  } while (0)
      const int c_ = c;
      WF_ROW(0, s00, s01, s02);
      WF_ROW(1, s10, s11, s12);
      WF_ROW(2, s20, s21, s22);
      WF_ROW(3, s30, s31, s32);
#undef WF_ROW
    }
  }
  if (!swap) return;
  for (int xi = 0; xi < 16; xi++) {
    const float *src = tmp + xi * plane;
    float *out = U + xi * plane;
    for (int c = 0; c < C; c += 4) {
      for (int o = 0; o < O; o += 4) {
        v128_t r0 = LD(src + c * O + o), r1 = LD(src + (c + 1) * O + o);
        v128_t r2 = LD(src + (c + 2) * O + o), r3 = LD(src + (c + 3) * O + o);
        v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
        v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
        ST(out + o * C + c, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
        ST(out + (o + 1) * C + c, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
        ST(out + (o + 2) * C + c, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
        ST(out + (o + 3) * C + c, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
      }
    }
  }
}

/** GEMM rows x 8 columns: m[r][0..8) = sum_k v[r][k] * u[k][0..8), for 4 rows. */
INLINE void wg_gemm_4x8(const float *v, const float *u, float *m, int K, int ldv, int ldu, int ldm) {
  v128_t a00 = wasm_f32x4_splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  const float *v0 = v, *v1 = v + ldv, *v2 = v + 2 * ldv, *v3 = v + 3 * ldv;
  for (int k = 0; k < K; k++) {
    v128_t d0 = LD(u), d1 = LD(u + 4);
    v128_t x0 = SPLAT(v0 + k);
    MAC(a00, x0, d0);
    MAC(a01, x0, d1);
    v128_t x1 = SPLAT(v1 + k);
    MAC(a10, x1, d0);
    MAC(a11, x1, d1);
    v128_t x2 = SPLAT(v2 + k);
    MAC(a20, x2, d0);
    MAC(a21, x2, d1);
    v128_t x3 = SPLAT(v3 + k);
    MAC(a30, x3, d0);
    MAC(a31, x3, d1);
    u += ldu;
  }
  ST(m, a00); ST(m + 4, a01); ST(m + ldm, a10); ST(m + ldm + 4, a11);
  ST(m + 2 * ldm, a20); ST(m + 2 * ldm + 4, a21); ST(m + 3 * ldm, a30); ST(m + 3 * ldm + 4, a31);
}

/** 1 row x 8 columns. */
INLINE void wg_gemm_1x8(const float *v, const float *u, float *m, int K, int ldu) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0;
  for (int k = 0; k < K; k++) {
    v128_t x0 = SPLAT(v + k);
    MAC(a0, x0, LD(u));
    MAC(a1, x0, LD(u + 4));
    u += ldu;
  }
  ST(m, a0); ST(m + 4, a1);
}

/** 4 rows x 4 columns. */
INLINE void wg_gemm_4x4(const float *v, const float *u, float *m, int K, int ldv, int ldu, int ldm) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
  for (int k = 0; k < K; k++) {
    v128_t d0 = LD(u);
    MAC(a0, SPLAT(v + k), d0);
    MAC(a1, SPLAT(v + ldv + k), d0);
    MAC(a2, SPLAT(v + 2 * ldv + k), d0);
    MAC(a3, SPLAT(v + 3 * ldv + k), d0);
    u += ldu;
  }
  ST(m, a0); ST(m + ldm, a1); ST(m + 2 * ldm, a2); ST(m + 3 * ldm, a3);
}

/** 1 row x 4 columns. */
INLINE void wg_gemm_1x4(const float *v, const float *u, float *m, int K, int ldu) {
  v128_t a0 = wasm_f32x4_splat(0);
  for (int k = 0; k < K; k++) {
    MAC(a0, SPLAT(v + k), LD(u));
    u += ldu;
  }
  ST(m, a0);
}

/** V = B^T d B for one 4x4 tile, 4 channels: 16 stores vs floats apart. */
INLINE void wi_tile(float *v, int vs, v128_t d00, v128_t d01, v128_t d02, v128_t d03, v128_t d10, v128_t d11, v128_t d12,
                    v128_t d13, v128_t d20, v128_t d21, v128_t d22, v128_t d23, v128_t d30, v128_t d31, v128_t d32,
                    v128_t d33) {
  // Rows: t = B^T d.
  v128_t t00 = wasm_f32x4_sub(d00, d20), t01 = wasm_f32x4_sub(d01, d21), t02 = wasm_f32x4_sub(d02, d22), t03 = wasm_f32x4_sub(d03, d23);
  v128_t t10 = wasm_f32x4_add(d10, d20), t11 = wasm_f32x4_add(d11, d21), t12 = wasm_f32x4_add(d12, d22), t13 = wasm_f32x4_add(d13, d23);
  v128_t t20 = wasm_f32x4_sub(d20, d10), t21 = wasm_f32x4_sub(d21, d11), t22 = wasm_f32x4_sub(d22, d12), t23 = wasm_f32x4_sub(d23, d13);
  v128_t t30 = wasm_f32x4_sub(d10, d30), t31 = wasm_f32x4_sub(d11, d31), t32 = wasm_f32x4_sub(d12, d32), t33 = wasm_f32x4_sub(d13, d33);
  // Columns: V = t B.
#define WI_ROW(i, a0, a1, a2, a3)                            \
  ST(v + (i * 4 + 0) * vs, wasm_f32x4_sub(a0, a2));          \
  ST(v + (i * 4 + 1) * vs, wasm_f32x4_add(a1, a2));          \
  ST(v + (i * 4 + 2) * vs, wasm_f32x4_sub(a2, a1));          \
  ST(v + (i * 4 + 3) * vs, wasm_f32x4_sub(a1, a3))
  WI_ROW(0, t00, t01, t02, t03);
  WI_ROW(1, t10, t11, t12, t13);
  WI_ROW(2, t20, t21, t22, t23);
  WI_ROW(3, t30, t31, t32, t33);
#undef WI_ROW
}

#define LDZ(ok, p) ((ok) ? LD(p) : zero)

/*
 * Winograd F(2x2,3x3) input transform of tile `id` (of th x tw tiles per image) into vt: the 4x4
 * input patch at (2ty - PT, 2tx - PL), zeros outside the image; C channels, 4 at a time, plane
 * stride vs. Shared by the forward conv and the filter gradient; static inline, so it is inlined and
 * uses no stack.
 */
static inline void wi_input_tile(const float *x, float *vt, int vs, int id, int H, int W, int C, int PT, int PL, int th,
                                 int tw) {
  const v128_t zero = wasm_f32x4_splat(0);
  const int n = id / (th * tw);
  const int r = id - n * th * tw;
  const int ty = r / tw, tx = r - ty * tw;
  const int y0 = ty * 2 - PT, x0 = tx * 2 - PL;
  const int r0 = y0 >= 0 && y0 < H, r1 = y0 + 1 >= 0 && y0 + 1 < H;
  const int r2 = y0 + 2 >= 0 && y0 + 2 < H, r3 = y0 + 3 >= 0 && y0 + 3 < H;
  const int c0 = x0 >= 0 && x0 < W, c1 = x0 + 1 >= 0 && x0 + 1 < W;
  const int c2 = x0 + 2 >= 0 && x0 + 2 < W, c3 = x0 + 3 >= 0 && x0 + 3 < W;
  // Base pointer of (y0, x0); only dereferenced where in range.
  const long base = ((long)(n * H + y0) * W + x0) * C;
  const int rs = W * C;
  if (r0 && r1 && r2 && r3 && c0 && c1 && c2 && c3) {
    // Interior tile: no bounds checks.
    for (int c = 0; c < C; c += 4) {
      const float *p = x + base + c;
      wi_tile(vt + c, vs, LD(p), LD(p + C), LD(p + 2 * C), LD(p + 3 * C), LD(p + rs), LD(p + rs + C), LD(p + rs + 2 * C),
              LD(p + rs + 3 * C), LD(p + 2 * rs), LD(p + 2 * rs + C), LD(p + 2 * rs + 2 * C), LD(p + 2 * rs + 3 * C),
              LD(p + 3 * rs), LD(p + 3 * rs + C), LD(p + 3 * rs + 2 * C), LD(p + 3 * rs + 3 * C));
    }
  } else {
    for (int c = 0; c < C; c += 4) {
      const float *p = x + base + c;
      const float *q1 = p + rs, *q2 = p + 2 * rs, *q3 = p + 3 * rs;
      wi_tile(vt + c, vs, LDZ(r0 && c0, p), LDZ(r0 && c1, p + C), LDZ(r0 && c2, p + 2 * C), LDZ(r0 && c3, p + 3 * C),
              LDZ(r1 && c0, q1), LDZ(r1 && c1, q1 + C), LDZ(r1 && c2, q1 + 2 * C), LDZ(r1 && c3, q1 + 3 * C),
              LDZ(r2 && c0, q2), LDZ(r2 && c1, q2 + C), LDZ(r2 && c2, q2 + 2 * C), LDZ(r2 && c3, q2 + 3 * C),
              LDZ(r3 && c0, q3), LDZ(r3 && c1, q3 + C), LDZ(r3 && c2, q3 + 2 * C), LDZ(r3 && c3, q3 + 3 * C));
    }
  }
}

/**
 * out [N, OH, OW, O] = conv(x [N, H, W, C], filter) + bias, relu if relu != 0, with U from
 * winograd_filter. pt/pl: top/left pads (bottom/right follow from OH/OW). V: 16*(T*C+16) floats,
 * M: 16*(T*O+16) floats of scratch. bias: 0 for none.
 */
EXPORT(winograd_conv3x3)
void winograd_conv3x3(const float *x, const float *U, const float *bias, float *out, float *V, float *M, int N, int H,
                      int W, int C, int O, int OH, int OW, int PT, int PL, int T, int relu) {
  const v128_t zero = wasm_f32x4_splat(0);
  const int th = (OH + 1) / 2, tw = (OW + 1) / 2;
  const int tiles = N * th * tw;
  // Strides between the 16 positions, padded by a cache line so they are not a power of two apart
  // (4 KB aliasing: 1.3-1.7x slower with unpadded 16-channel blocks).
  const int vs = T * C + 16, ms = T * O + 16;
  for (int t0 = 0; t0 < tiles; t0 += T) {
    const int nt = imin(T, tiles - t0);
    // 1. Input transform.
    for (int t = 0; t < nt; t++) {
      wi_input_tile(x, V + t * C, vs, t0 + t, H, W, C, PT, PL, th, tw);
    }
    // 2. 16 GEMMs: M[xi] (nt x O) = V[xi] (nt x C) U[xi] (C x O).
    for (int xi = 0; xi < 16; xi++) {
      const float *v = V + xi * vs;
      const float *u = U + xi * C * O;
      float *m = M + xi * ms;
      int o = 0;
      for (; o + 8 <= O; o += 8) {
        int t = 0;
        for (; t + 4 <= nt; t += 4) wg_gemm_4x8(v + t * C, u + o, m + t * O + o, C, C, O, O);
        for (; t < nt; t++) wg_gemm_1x8(v + t * C, u + o, m + t * O + o, C, O);
      }
      for (; o < O; o += 4) {
        int t = 0;
        for (; t + 4 <= nt; t += 4) wg_gemm_4x4(v + t * C, u + o, m + t * O + o, C, C, O, O);
        for (; t < nt; t++) wg_gemm_1x4(v + t * C, u + o, m + t * O + o, C, O);
      }
    }
    // 3. Output transform, bias, relu.
    for (int t = 0; t < nt; t++) {
      const int id = t0 + t;
      const int n = id / (th * tw);
      const int r = id - n * th * tw;
      const int ty = r / tw, tx = r - ty * tw;
      const int oy = ty * 2, ox = tx * 2;
      const int y1ok = oy + 1 < OH, x1ok = ox + 1 < OW;
      float *q = out + ((long)(n * OH + oy) * OW + ox) * O;
      const float *mt = M + t * O;
      for (int o = 0; o < O; o += 4) {
#define MM(i) LD(mt + o + (i) * ms)
        v128_t m00 = MM(0), m01 = MM(1), m02 = MM(2), m03 = MM(3);
        v128_t m10 = MM(4), m11 = MM(5), m12 = MM(6), m13 = MM(7);
        v128_t m20 = MM(8), m21 = MM(9), m22 = MM(10), m23 = MM(11);
        v128_t m30 = MM(12), m31 = MM(13), m32 = MM(14), m33 = MM(15);
#undef MM
        // Rows: s = A^T m (2 x 4).
        v128_t s00 = wasm_f32x4_add(wasm_f32x4_add(m00, m10), m20), s01 = wasm_f32x4_add(wasm_f32x4_add(m01, m11), m21);
        v128_t s02 = wasm_f32x4_add(wasm_f32x4_add(m02, m12), m22), s03 = wasm_f32x4_add(wasm_f32x4_add(m03, m13), m23);
        v128_t s10 = wasm_f32x4_sub(wasm_f32x4_sub(m10, m20), m30), s11 = wasm_f32x4_sub(wasm_f32x4_sub(m11, m21), m31);
        v128_t s12 = wasm_f32x4_sub(wasm_f32x4_sub(m12, m22), m32), s13 = wasm_f32x4_sub(wasm_f32x4_sub(m13, m23), m33);
        // Columns: y = s A.
        v128_t b = bias ? LD(bias + o) : zero;
        v128_t y00 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(s00, s01), s02), b);
        v128_t y01 = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(s01, s02), s03), b);
        v128_t y10 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(s10, s11), s12), b);
        v128_t y11 = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(s11, s12), s13), b);
        if (relu) {
          y00 = wasm_f32x4_pmax(y00, zero); y01 = wasm_f32x4_pmax(y01, zero);
          y10 = wasm_f32x4_pmax(y10, zero); y11 = wasm_f32x4_pmax(y11, zero);
        }
        ST(q + o, y00);
        if (x1ok) ST(q + O + o, y01);
        if (y1ok) {
          ST(q + OW * O + o, y10);
          if (x1ok) ST(q + OW * O + O + o, y11);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Elementwise float32 Add (op 0), Sub (op 1), Multiply (op 2) where one operand repeats with
// period p along the other's trailing axes (a per-channel vector, p = C; a scalar, p = 1):
// out[i] = a[i] op b[i % p] (bFirst = 0) or out[i] = b[i % p] op a[i] (bFirst = 1); n % p == 0.
// tfjs-backend-wasm's broadcasting binary ops run a scalar index loop (3-4x slower).
// ---------------------------------------------------------------------------------------
#define BIN_LOOP(VOP, SOP)                                                                      \
  do {                                                                                          \
    if (p == 1) {                                                                               \
      const v128_t bv = wasm_f32x4_splat(b[0]);                                                 \
      const float bs = b[0];                                                                    \
      int i = 0;                                                                                \
      if (!bFirst) {                                                                            \
        for (; i + 4 <= n; i += 4) ST(out + i, VOP(LD(a + i), bv));                             \
        for (; i < n; i++) out[i] = SOP(a[i], bs);                                              \
      } else {                                                                                  \
        for (; i + 4 <= n; i += 4) ST(out + i, VOP(bv, LD(a + i)));                             \
        for (; i < n; i++) out[i] = SOP(bs, a[i]);                                              \
      }                                                                                         \
    } else if ((p & 3) == 0) {                                                                  \
      for (int r = 0; r < n; r += p) {                                                          \
        const float *ar = a + r;                                                                \
        float *orow = out + r;                                                                  \
        if (!bFirst)                                                                            \
          for (int j = 0; j < p; j += 4) ST(orow + j, VOP(LD(ar + j), LD(b + j)));              \
        else                                                                                    \
          for (int j = 0; j < p; j += 4) ST(orow + j, VOP(LD(b + j), LD(ar + j)));              \
      }                                                                                         \
    } else {                                                                                    \
      for (int r = 0; r < n; r += p) {                                                          \
        if (!bFirst)                                                                            \
          for (int j = 0; j < p; j++) out[r + j] = SOP(a[r + j], b[j]);                         \
        else                                                                                    \
          for (int j = 0; j < p; j++) out[r + j] = SOP(b[j], a[r + j]);                         \
      }                                                                                         \
    }                                                                                           \
  } while (0)

#define S_ADD(x, y) ((x) + (y))
#define S_SUB(x, y) ((x) - (y))
#define S_MUL(x, y) ((x) * (y))

EXPORT(binary_broadcast)
void binary_broadcast(const float *a, const float *b, float *out, int n, int p, int bFirst, int op) {
  if (op == 0) BIN_LOOP(wasm_f32x4_add, S_ADD);
  else if (op == 1) BIN_LOOP(wasm_f32x4_sub, S_SUB);
  else BIN_LOOP(wasm_f32x4_mul, S_MUL);
}

// ---------------------------------------------------------------------------------------
// Pointwise (1x1, stride 1, unpadded) convolution as a GEMM: out [M, N] = a [M, K] b [K, N]
// (+ bias [N], relu if relu != 0). With transB, b is [N, K] (the filter of the input gradient,
// dx = dy w^T). b is first packed into bp (scratch, K*N floats) as [N/8][K][8] panels (a last
// [K][4] panel when N % 8 == 4), so the register block (4 rows x 8 columns) streams a contiguous
// panel instead of rows N floats apart (a power of two apart in wide layers: 4 KB aliasing).
// Rows are taken MB at a time so a block of a stays in cache while every panel runs over it.
// N % 4 == 0.
// ---------------------------------------------------------------------------------------
INLINE void gemm_4x8(const float *a, const float *b, float *c, const float *bias, int K, int N, int relu) {
  v128_t a00, a01;
  if (bias) { a00 = LD(bias); a01 = LD(bias + 4); }
  else { a00 = wasm_f32x4_splat(0); a01 = a00; }
  v128_t a10 = a00, a11 = a01, a20 = a00, a21 = a01, a30 = a00, a31 = a01;
  const float *r0 = a, *r1 = a + K, *r2 = a + 2 * K, *r3 = a + 3 * K;
  for (int k = 0; k < K; k++) {
    v128_t d0 = LD(b), d1 = LD(b + 4);
    v128_t x0 = SPLAT(r0 + k);
    MAC(a00, x0, d0);
    MAC(a01, x0, d1);
    v128_t x1 = SPLAT(r1 + k);
    MAC(a10, x1, d0);
    MAC(a11, x1, d1);
    v128_t x2 = SPLAT(r2 + k);
    MAC(a20, x2, d0);
    MAC(a21, x2, d1);
    v128_t x3 = SPLAT(r3 + k);
    MAC(a30, x3, d0);
    MAC(a31, x3, d1);
    b += 8;
  }
  if (relu) {
    const v128_t z = wasm_f32x4_splat(0);
    a00 = wasm_f32x4_pmax(a00, z); a01 = wasm_f32x4_pmax(a01, z); a10 = wasm_f32x4_pmax(a10, z); a11 = wasm_f32x4_pmax(a11, z);
    a20 = wasm_f32x4_pmax(a20, z); a21 = wasm_f32x4_pmax(a21, z); a30 = wasm_f32x4_pmax(a30, z); a31 = wasm_f32x4_pmax(a31, z);
  }
  ST(c, a00); ST(c + 4, a01); ST(c + N, a10); ST(c + N + 4, a11);
  ST(c + 2 * N, a20); ST(c + 2 * N + 4, a21); ST(c + 3 * N, a30); ST(c + 3 * N + 4, a31);
}

/** 1 row x 4 columns of a panel whose rows are ldb floats apart (row and column tails). */
INLINE void gemm_1x4(const float *a, const float *b, float *c, const float *bias, int K, int ldb, int relu) {
  v128_t acc = bias ? LD(bias) : wasm_f32x4_splat(0);
  for (int k = 0; k < K; k++) {
    MAC(acc, SPLAT(a + k), LD(b));
    b += ldb;
  }
  if (relu) acc = wasm_f32x4_pmax(acc, wasm_f32x4_splat(0));
  ST(c, acc);
}

EXPORT(pointwise_gemm)
void pointwise_gemm(const float *a, const float *b, const float *bias, float *out, float *bp, int M, int K, int N,
                    int transB, int relu, int MB) {
  const int N8 = N & ~7;
  // Pack: bp[(n / 8) * K * 8 + k * 8 + j] = B[k][n + j]; the 4-column tail at bp[N8 * K + k * 4 + j].
  for (int k = 0; k < K; k++) {
    for (int n = 0; n < N; n++) {
      const float v = transB ? b[n * K + k] : b[k * N + n];
      if (n < N8) bp[(n >> 3) * K * 8 + k * 8 + (n & 7)] = v;
      else bp[N8 * K + k * 4 + (n - N8)] = v;
    }
  }
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = imin(M, m0 + MB);
    for (int n = 0; n < N8; n += 8) {
      const float *panel = bp + (n >> 3) * K * 8;
      const float *biasn = bias ? bias + n : 0;
      int m = m0;
      for (; m + 4 <= m1; m += 4) gemm_4x8(a + m * K, panel, out + m * N + n, biasn, K, N, relu);
      for (; m < m1; m++) {
        gemm_1x4(a + m * K, panel, out + m * N + n, biasn, K, 8, relu);
        gemm_1x4(a + m * K, panel + 4, out + m * N + n + 4, biasn ? biasn + 4 : 0, K, 8, relu);
      }
    }
    if (N8 < N)
      for (int m = m0; m < m1; m++) gemm_1x4(a + m * K, bp + N8 * K, out + m * N + N8, bias ? bias + N8 : 0, K, 4, relu);
  }
}

// ---------------------------------------------------------------------------------------
// Winograd F(3x3, 2x2) filter gradient of a stride-1, dilation-1 3x3 conv (C, O multiples of
// 4): the transposed algorithm of F(2x2, 3x3). Over 2x2 tiles of dy and the 4x4 x tiles under
// them, dW = G^T [ sum over tiles (B^T x B) . (A dy A^T) ] G, so the sum over the batch and the
// image is 16 GEMMs (C x tiles) (tiles x O) accumulated into Macc [16][C][O] (scratch), with 16
// products per tile instead of 36. V [16][T*C+16] and D [16][T*O+16]: per-block scratch.
// ---------------------------------------------------------------------------------------
EXPORT(winograd_backprop_filter)
void winograd_backprop_filter(const float *x, const float *dy, float *dw, float *Macc, float *V, float *D, int32_t *seg,
                              int N, int H, int W, int C, int O, int OH, int OW, int PT, int PL, int T) {
  const v128_t zero = wasm_f32x4_splat(0);
  const v128_t half = wasm_f32x4_splat(0.5f);
  const int plane = C * O;
  for (int i = 0; i < 16 * plane; i++) Macc[i] = 0.0f;
  const int th = (OH + 1) / 2, tw = (OW + 1) / 2;
  const int tiles = N * th * tw;
  const int vs = T * C + 16, ds = T * O + 16; // padded: see winograd_conv3x3
  for (int t0 = 0; t0 < tiles; t0 += T) {
    const int nt = imin(T, tiles - t0);
    for (int t = 0; t < nt; t++) {
      const int id = t0 + t;
      const int n = id / (th * tw);
      const int r = id - n * th * tw;
      const int ty = r / tw, tx = r - ty * tw;
      wi_input_tile(x, V + t * C, vs, id, H, W, C, PT, PL, th, tw);
      // dy tile (2x2) at (2ty, 2tx), zeros beyond OH/OW: D = A d A^T, A = [1 0; 1 1; 1 -1; 0 -1].
      const int oy = ty * 2, ox = tx * 2;
      const int e1y = oy + 1 < OH, e1x = ox + 1 < OW;
      const float *g = dy + ((long)(n * OH + oy) * OW + ox) * O;
      float *dt = D + t * O;
      for (int o = 0; o < O; o += 4) {
        v128_t d00 = LD(g + o), d01 = e1x ? LD(g + O + o) : zero;
        v128_t d10 = e1y ? LD(g + OW * O + o) : zero, d11 = (e1y && e1x) ? LD(g + OW * O + O + o) : zero;
        // Rows: a = A d (4 x 2).
        v128_t a00 = d00, a01 = d01;
        v128_t a10 = wasm_f32x4_add(d00, d10), a11 = wasm_f32x4_add(d01, d11);
        v128_t a20 = wasm_f32x4_sub(d00, d10), a21 = wasm_f32x4_sub(d01, d11);
        v128_t a30 = wasm_f32x4_neg(d10), a31 = wasm_f32x4_neg(d11);
#define WD_ROW(i, p0, p1)                                                  \
  ST(dt + o + (i * 4 + 0) * ds, p0);                                       \
  ST(dt + o + (i * 4 + 1) * ds, wasm_f32x4_add(p0, p1));                   \
  ST(dt + o + (i * 4 + 2) * ds, wasm_f32x4_sub(p0, p1));                   \
  ST(dt + o + (i * 4 + 3) * ds, wasm_f32x4_neg(p1))
        WD_ROW(0, a00, a01);
        WD_ROW(1, a10, a11);
        WD_ROW(2, a20, a21);
        WD_ROW(3, a30, a31);
#undef WD_ROW
      }
    }
    // 16 GEMMs accumulated: Macc[xi] (C x O) += V[xi]^T (C x nt) D[xi] (nt x O).
    seg[0] = 0;
    seg[1] = 0;
    seg[2] = nt;
    for (int xi = 0; xi < 16; xi++) bpf_tap(V + xi * vs, D + xi * ds, Macc + xi * plane, seg, 1, C, O, C);
  }
  // dW = G^T M G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1].
  for (int c = 0; c < C; c++) {
    for (int o = 0; o < O; o += 4) {
      const float *m = Macc + c * O + o;
#define MA(i) LD(m + (i) * plane)
      v128_t m00 = MA(0), m01 = MA(1), m02 = MA(2), m03 = MA(3), m10 = MA(4), m11 = MA(5), m12 = MA(6), m13 = MA(7);
      v128_t m20 = MA(8), m21 = MA(9), m22 = MA(10), m23 = MA(11), m30 = MA(12), m31 = MA(13), m32 = MA(14), m33 = MA(15);
#undef MA
      // Rows: s = G^T m (3 x 4).
#define GT0(a, b, cc, d) wasm_f32x4_add(a, wasm_f32x4_mul(half, wasm_f32x4_add(b, cc)))
#define GT1(a, b, cc, d) wasm_f32x4_mul(half, wasm_f32x4_sub(b, cc))
#define GT2(a, b, cc, d) wasm_f32x4_add(d, wasm_f32x4_mul(half, wasm_f32x4_add(b, cc)))
      v128_t s00 = GT0(m00, m10, m20, m30), s01 = GT0(m01, m11, m21, m31), s02 = GT0(m02, m12, m22, m32), s03 = GT0(m03, m13, m23, m33);
      v128_t s10 = GT1(m00, m10, m20, m30), s11 = GT1(m01, m11, m21, m31), s12 = GT1(m02, m12, m22, m32), s13 = GT1(m03, m13, m23, m33);
      v128_t s20 = GT2(m00, m10, m20, m30), s21 = GT2(m01, m11, m21, m31), s22 = GT2(m02, m12, m22, m32), s23 = GT2(m03, m13, m23, m33);
      // Columns: w = s G.
      float *q = dw + c * O + o;
      ST(q, GT0(s00, s01, s02, s03)); ST(q + plane, GT1(s00, s01, s02, s03)); ST(q + 2 * plane, GT2(s00, s01, s02, s03));
      ST(q + 3 * plane, GT0(s10, s11, s12, s13)); ST(q + 4 * plane, GT1(s10, s11, s12, s13)); ST(q + 5 * plane, GT2(s10, s11, s12, s13));
      ST(q + 6 * plane, GT0(s20, s21, s22, s23)); ST(q + 7 * plane, GT1(s20, s21, s22, s23)); ST(q + 8 * plane, GT2(s20, s21, s22, s23));
#undef GT0
#undef GT1
#undef GT2
    }
  }
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropInput for any stride / padding / dilation: dx[n, oh*sh + kh*dh - pt,
// ow*sw + kw*dw - pl, c] += sum_o dy[n, oh, ow, o] * w[kh, kw, c, o]. Per tap, the same row
// segments as the filter gradient (dy pixels O floats apart, dx pixels sw*C apart); each
// segment is a GEMM accumulated into dx: rows = dy pixels (broadcast), columns = 8 input
// channels of the tap's transposed filter wt[kh, kw, o, c] (scratch, built here).
// ---------------------------------------------------------------------------------------
/**
 * 4 dx rows x 8 channels += 4 dy rows (O floats each) times a packed filter panel [O][8]. The rows
 * may come from different segments: rows[0..3] are dx offsets, rows[4..7] dy offsets (floats).
 */
INLINE void bpi_4x8(const float *dy, const float *panel, float *dx, const int32_t *rows, int O) {
  float *x0 = dx + rows[0], *x1 = dx + rows[1], *x2 = dx + rows[2], *x3 = dx + rows[3];
  const float *d0 = dy + rows[4], *d1 = dy + rows[5], *d2 = dy + rows[6], *d3 = dy + rows[7];
  v128_t a00 = LD(x0), a01 = LD(x0 + 4), a10 = LD(x1), a11 = LD(x1 + 4);
  v128_t a20 = LD(x2), a21 = LD(x2 + 4), a30 = LD(x3), a31 = LD(x3 + 4);
  for (int o = 0; o < O; o++) {
    v128_t w0 = LD(panel), w1 = LD(panel + 4);
    v128_t s0 = SPLAT(d0 + o);
    MAC(a00, s0, w0);
    MAC(a01, s0, w1);
    v128_t s1 = SPLAT(d1 + o);
    MAC(a10, s1, w0);
    MAC(a11, s1, w1);
    v128_t s2 = SPLAT(d2 + o);
    MAC(a20, s2, w0);
    MAC(a21, s2, w1);
    v128_t s3 = SPLAT(d3 + o);
    MAC(a30, s3, w0);
    MAC(a31, s3, w1);
    panel += 8;
  }
  ST(x0, a00); ST(x0 + 4, a01); ST(x1, a10); ST(x1 + 4, a11);
  ST(x2, a20); ST(x2 + 4, a21); ST(x3, a30); ST(x3 + 4, a31);
}

/** 1 dx row x 4 channels += 1 dy row times a panel whose rows are ldp floats apart. */
INLINE void bpi_1x4(const float *dy, const float *panel, float *dx, int O, int ldp) {
  v128_t a = LD(dx);
  for (int o = 0; o < O; o++) {
    MAC(a, SPLAT(dy + o), LD(panel));
    panel += ldp;
  }
  ST(dx, a);
}

/**
 * One tap over a list of np pixels (rows: 2 int32 per pixel, dx offset then dy offset, in
 * groups of 4 as [dx0..dx3, dy0..dy3], the last group padded by repeating nothing: the np % 4
 * tail is listed the same way and run row by row). wp: the tap's packed filter, [C/8][O][8] panels
 * then a [O][4] panel when C % 8 == 4.
 */
static void bpi_tap(const float *dy, const float *wp, float *dx, const int32_t *rows, int np, int C, int O) {
  const int C8 = C & ~7;
  const int full = np & ~3;
  for (int c = 0; c < C8; c += 8) {
    const float *panel = wp + c * O;
    for (int p = 0; p < full; p += 4) bpi_4x8(dy, panel, dx + c, rows + 2 * p, O);
    for (int p = full; p < np; p++) {
      const int32_t *g = rows + 2 * full + (p - full);
      const int tail = np - full;
      bpi_1x4(dy + g[tail], panel, dx + g[0] + c, O, 8);
      bpi_1x4(dy + g[tail], panel + 4, dx + g[0] + c + 4, O, 8);
    }
  }
  if (C8 < C) {
    const float *panel = wp + C8 * O;
    for (int p = 0; p < np; p++) {
      const int32_t *g = p < full ? rows + 2 * (p & ~3) + (p & 3) : rows + 2 * full + (p - full);
      const int off = p < full ? 4 : np - full;
      bpi_1x4(dy + g[off], panel, dx + g[0] + C8, O, 4);
    }
  }
}

/**
 * dx [N, H, W, C] from dy [N, OH, OW, O] and w [FH, FW, C, O], C % 4 == 0. wt: FH*FW*O*C floats
 * (the packed filter), rows: 2 * chunkRows * OW int32 (pixel lists).
 */
EXPORT(conv2d_backprop_input)
void conv2d_backprop_input(const float *dy, const float *w, float *dx, float *wt, int32_t *rows, int N, int H, int W,
                           int C, int OH, int OW, int O, int FH, int FW, int SH, int SW, int DH, int DW, int PT, int PL,
                           int chunkRows) {
  const int C8 = C & ~7;
  for (int t = 0; t < FH * FW; t++) {
    float *wp = wt + t * O * C;
    const float *wsrc = w + t * C * O;
    for (int c = 0; c < C; c++) {
      float *dst = c < C8 ? wp + (c & ~7) * O + (c & 7) : wp + C8 * O + (c - C8);
      const int ld = c < C8 ? 8 : 4;
      for (int o = 0; o < O; o++) dst[o * ld] = wsrc[c * O + o];
    }
  }
  const int total = N * H * W * C;
  for (int i = 0; i < total; i++) dx[i] = 0.0f;
  const int nrows = N * OH;
  for (int r0 = 0; r0 < nrows; r0 += chunkRows) {
    const int r1 = imin(nrows, r0 + chunkRows);
    for (int kh = 0; kh < FH; kh++) {
      for (int kw = 0; kw < FW; kw++) {
        const int off = kw * DW - PL;
        const int owLo = off >= 0 ? 0 : (-off + SW - 1) / SW;
        const int owHi = imin(OW, floordiv(W - 1 - off, SW) + 1);
        if (owHi <= owLo) continue;
        // Pixel list, in groups of 4: [dx offsets x4, dy offsets x4]; the tail: [dx..., dy...].
        int np = 0;
        for (int r = r0; r < r1; r++) {
          const int n = r / OH;
          const int ih = (r - n * OH) * SH + kh * DH - PT;
          if (ih < 0 || ih >= H) continue;
          for (int ow = owLo; ow < owHi; ow++) {
            const int g = np & ~3, i = np & 3;
            rows[2 * g + i] = ((n * H + ih) * W + ow * SW + off) * C;
            rows[2 * g + 4 + i] = (r * OW + ow) * O;
            np++;
          }
        }
        if (np == 0) continue;
        // Re-lay the tail group (np % 4 pixels) as [dx x tail, dy x tail].
        const int full = np & ~3, tail = np - full;
        if (tail) {
          int32_t *g = rows + 2 * full;
          for (int i = 0; i < tail; i++) g[tail + i] = g[4 + i];
        }
        bpi_tap(dy, wt + (kh * FW + kw) * O * C, dx, rows, np, C, O);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropInput for few input channels (a stem: C = 3, 7x7, stride 2), as a GEMM and a
// col2im: per block of MB dy pixels, col [MB, NP] = dy [MB, O] w^T (w as [FH*FW*C, O], so every
// (tap, c) is one GEMM column; NP = FH*FW*C rounded up to 4, the padding columns zero), then each
// pixel's FH*FW taps of C floats are added into dx where they land (any stride, padding,
// dilation). The direct kernel's panels need C % 4 == 0; with C = 3 its 4-wide vectors would be
// a quarter empty, while here the GEMM is full width.
// wp: O * NP floats (the packed filter), col: MB * NP floats. MB % 4 == 0.
// ---------------------------------------------------------------------------------------
EXPORT(conv2d_backprop_input_gemm)
void conv2d_backprop_input_gemm(const float *dy, const float *w, float *dx, float *wp, float *col, int N, int H, int W,
                                int C, int OH, int OW, int O, int FH, int FW, int SH, int SW, int DH, int DW, int PT,
                                int PL, int MB) {
  const int NR = FH * FW * C;
  const int NP = (NR + 3) & ~3;
  const int N8 = NP & ~7;
  const int K = O;
  // Pack as pointwise_gemm does (transB): wp[(n / 8) * K * 8 + k * 8 + j] = w[n + j][k]; a
  // 4-column tail panel at wp[N8 * K + k * 4 + j].
  for (int k = 0; k < K; k++) {
    for (int n = 0; n < NP; n++) {
      const float v = n < NR ? w[n * K + k] : 0.0f;
      if (n < N8) wp[(n >> 3) * K * 8 + k * 8 + (n & 7)] = v;
      else wp[N8 * K + k * 4 + (n - N8)] = v;
    }
  }
  const int total = N * H * W * C;
  for (int i = 0; i < total; i++) dx[i] = 0.0f;
  const int M = N * OH * OW;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = imin(M, m0 + MB);
    const float *a = dy + m0 * K;
    const int rows = m1 - m0;
    for (int n = 0; n < N8; n += 8) {
      const float *panel = wp + (n >> 3) * K * 8;
      int m = 0;
      for (; m + 4 <= rows; m += 4) gemm_4x8(a + m * K, panel, col + m * NP + n, 0, K, NP, 0);
      for (; m < rows; m++) {
        gemm_1x4(a + m * K, panel, col + m * NP + n, 0, K, 8, 0);
        gemm_1x4(a + m * K, panel + 4, col + m * NP + n + 4, 0, K, 8, 0);
      }
    }
    if (N8 < NP)
      for (int m = 0; m < rows; m++) gemm_1x4(a + m * K, wp + N8 * K, col + m * NP + N8, 0, K, 4, 0);
    // col2im: pixel m0 + m = ((b * OH) + oy) * OW + ox.
    for (int m = 0; m < rows; m++) {
      const int p = m0 + m;
      const int ox = p % OW;
      const int t = p / OW;
      const int oy = t % OH;
      const int b = t / OH;
      const float *cr = col + m * NP;
      for (int i = 0; i < FH; i++) {
        const int y = oy * SH + i * DH - PT;
        if (y < 0 || y >= H) continue;
        float *drow = dx + (b * H + y) * W * C;
        for (int j = 0; j < FW; j++) {
          const int x = ox * SW + j * DW - PL;
          if (x < 0 || x >= W) continue;
          float *d = drow + x * C;
          const float *s = cr + (i * FW + j) * C;
          for (int c = 0; c < C; c++) d[c] += s[c];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropFilter for few input channels (a stem: C = 3), as im2col GEMMs: per block of MB
// dy pixels, dW [FH*FW*C, O] += colT [NP, MB] dy [MB, O], where colT holds, per (tap, c) row, the
// x value each pixel of the block reads through that tap (0 in the padding); NP = FH*FW*C rounded
// up to 4 (zero rows). The direct kernel's register blocks are 4 input channels wide: with C = 3
// a quarter of them is wasted. O % 4 == 0.
// colT: NP * MB floats, bp: MB * O floats (the dy block packed as pointwise_gemm's panels),
// acc: NP * O floats (one block's product).
// ---------------------------------------------------------------------------------------
EXPORT(conv2d_backprop_filter_gemm)
void conv2d_backprop_filter_gemm(const float *x, const float *dy, float *dw, float *colT, float *bp, float *acc, int N,
                                 int H, int W, int C, int OH, int OW, int O, int FH, int FW, int SH, int SW, int DH,
                                 int DW, int PT, int PL, int MB) {
  const int NR = FH * FW * C;
  const int NP = (NR + 3) & ~3;
  const int O8 = O & ~7;
  for (int i = 0; i < NR * O; i++) dw[i] = 0.0f;
  const int M = N * OH * OW;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int K = imin(M, m0 + MB) - m0;
    // colT [NP][K]
    for (int r = NR; r < NP; r++)
      for (int q = 0; q < K; q++) colT[r * K + q] = 0.0f;
    for (int q = 0; q < K; q++) {
      const int p = m0 + q;
      const int ox = p % OW;
      const int t = p / OW;
      const int oy = t % OH;
      const int b = t / OH;
      for (int i = 0; i < FH; i++) {
        const int y = oy * SH + i * DH - PT;
        const int rowOk = y >= 0 && y < H;
        const float *xrow = x + (b * H + y) * W * C;
        for (int j = 0; j < FW; j++) {
          const int xx = ox * SW + j * DW - PL;
          float *dst = colT + (i * FW + j) * C * K + q;
          if (rowOk && xx >= 0 && xx < W) {
            const float *s = xrow + xx * C;
            for (int c = 0; c < C; c++) dst[c * K] = s[c];
          } else {
            for (int c = 0; c < C; c++) dst[c * K] = 0.0f;
          }
        }
      }
    }
    // Pack the dy block: bp[(n / 8) * K * 8 + k * 8 + j] = dy[m0 + k][n + j]; 4-column tail panel.
    const float *dyb = dy + m0 * O;
    for (int k = 0; k < K; k++) {
      const float *src = dyb + k * O;
      for (int n = 0; n < O8; n += 8) {
        float *d = bp + (n >> 3) * K * 8 + k * 8;
        ST(d, LD(src + n));
        ST(d + 4, LD(src + n + 4));
      }
      if (O8 < O) ST(bp + O8 * K + k * 4, LD(src + O8));
    }
    for (int r = 0; r < NP; r += 4) {
      for (int n = 0; n < O8; n += 8) gemm_4x8(colT + r * K, bp + (n >> 3) * K * 8, acc + r * O + n, 0, K, O, 0);
      if (O8 < O)
        for (int rr = r; rr < r + 4; rr++) gemm_1x4(colT + rr * K, bp + O8 * K, acc + rr * O + O8, 0, K, 4, 0);
    }
    const int total = NR * O;
    int i = 0;
    for (; i + 4 <= total; i += 4) ST(dw + i, wasm_f32x4_add(LD(dw + i), LD(acc + i)));
    for (; i < total; i++) dw[i] += acc[i];
  }
}

// ---------------------------------------------------------------------------------------
// MaxPoolGrad (NHWC, dilation 1): dx [N, H, W, C] gets dy at the first maximum of each window
// (the first in row-major window order with x > the best so far, as the cpu backend picks it;
// NaN never wins), 4 channels at a time: a running max and its position per lane, then the 4
// lanes' dy added at their positions. Windows in (n, oy, ox) order, so overlapping windows add
// in the same order as the scalar JS fallback. dx is zeroed here.
// ---------------------------------------------------------------------------------------
EXPORT(max_pool_grad)
void max_pool_grad(const float *x, const float *dy, float *dx, int N, int H, int W, int C, int OH, int OW, int FH,
                   int FW, int SH, int SW, int PT, int PL) {
  const int total = N * H * W * C;
  for (int i = 0; i < total; i++) dx[i] = 0.0f;
  const int C4 = C & ~3;
  const v128_t ninf = wasm_f32x4_splat(-__builtin_inff());
  const v128_t lanes = wasm_i32x4_make(0, 1, 2, 3);
  for (int b = 0; b < N; b++) {
    for (int oy = 0; oy < OH; oy++) {
      const int y0 = oy * SH - PT;
      const int yMin = y0 < 0 ? 0 : y0;
      const int yMax = imin(H, y0 + FH);
      for (int ox = 0; ox < OW; ox++) {
        const int x0 = ox * SW - PL;
        const int xMin = x0 < 0 ? 0 : x0;
        const int xMax = imin(W, x0 + FW);
        const float *g = dy + ((b * OH + oy) * OW + ox) * C;
        for (int c = 0; c < C4; c += 4) {
          v128_t best = ninf;
          v128_t pos = wasm_i32x4_splat(-1);
          for (int y = yMin; y < yMax; y++) {
            for (int xx = xMin; xx < xMax; xx++) {
              const int base = ((b * H + y) * W + xx) * C + c;
              const v128_t v = LD(x + base);
              const v128_t m = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, m);
              pos = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(base), lanes), pos, m);
            }
          }
          const int p0 = wasm_i32x4_extract_lane(pos, 0), p1 = wasm_i32x4_extract_lane(pos, 1);
          const int p2 = wasm_i32x4_extract_lane(pos, 2), p3 = wasm_i32x4_extract_lane(pos, 3);
          if (p0 >= 0) dx[p0] += g[c];
          if (p1 >= 0) dx[p1] += g[c + 1];
          if (p2 >= 0) dx[p2] += g[c + 2];
          if (p3 >= 0) dx[p3] += g[c + 3];
        }
        for (int c = C4; c < C; c++) {
          float best = -__builtin_inff();
          int pos = -1;
          for (int y = yMin; y < yMax; y++) {
            for (int xx = xMin; xx < xMax; xx++) {
              const int p = ((b * H + y) * W + xx) * C + c;
              if (x[p] > best) {
                best = x[p];
                pos = p;
              }
            }
          }
          if (pos >= 0) dx[pos] += g[c];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Outer product out [M, N] = a [M] b [N] (a matrix product with K = 1: stock's GEMM path runs
// at a fraction of the memory bandwidth there). One IEEE multiply per element.
// ---------------------------------------------------------------------------------------
EXPORT(outer_product)
void outer_product(const float *a, const float *b, float *out, int M, int N) {
  const int N4 = N & ~3;
  for (int i = 0; i < M; i++) {
    const v128_t s = SPLAT(a + i);
    const float sa = a[i];
    float *o = out + i * N;
    int j = 0;
    for (; j < N4; j += 4) ST(o + j, wasm_f32x4_mul(s, LD(b + j)));
    for (; j < N; j++) o[j] = sa * b[j];
  }
}
