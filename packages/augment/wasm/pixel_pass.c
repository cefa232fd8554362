// The fused per-image pixel pass of pixels.ts (bilinear crop-and-resize, then HSV jitter or none,
// then PCA lighting + normalize as one per-channel affine map) in WebAssembly SIMD, float32.
// Built by build.sh into pixel-pass-wasm.ts (base64); pixels.ts falls back to its JavaScript loops
// wherever WebAssembly SIMD is missing. The maths is pixels.ts's, line for line.
#include <stdint.h>
#include <wasm_simd128.h>

// Bilinear: dst[y][x] = top + (bottom - top) fy, top = tl + (tr - tl) fx (tf.image.cropAndResize's order).
// rowA/rowB: byte offsets of the two source rows per output row; colA/colB: byte offsets of the two
// source pixels per output column (flip already applied); fx/fy: weights. RGB, 3 bytes a pixel; the
// source must have 1 readable byte past its end, dst 1 float past its end.
static inline v128_t load_rgb(const uint8_t *p) {
  v128_t v = wasm_v128_load32_zero(p);
  v = wasm_u16x8_extend_low_u8x16(v);
  v = wasm_u32x4_extend_low_u16x8(v);
  // int -> float as 2^23 + i - 2^23 through the bits (exact below 2^23): clang 14 turns
  // f32x4.convert_i32x4 after the extends into four scalar converts.
  v = wasm_v128_or(v, wasm_i32x4_splat(0x4B000000));
  return wasm_f32x4_sub(v, wasm_f32x4_splat(8388608.f));
}

__attribute__((export_name("resize_rgb"))) void resize_rgb(const uint8_t *src, const int32_t *rowA, const int32_t *rowB, const float *fy,
                                                            const int32_t *colA, const int32_t *colB, const float *fx, int outH, int outW,
                                                            float *dst) {
  for (int y = 0; y < outH; y++) {
    const uint8_t *r0 = src + rowA[y];
    const uint8_t *r1 = src + rowB[y];
    const v128_t wy = wasm_f32x4_splat(fy[y]);
    float *d = dst + (long)y * outW * 3;
    for (int x = 0; x < outW; x++, d += 3) {
      const v128_t wx = wasm_f32x4_splat(fx[x]);
      const int a = colA[x];
      const int b = colB[x];
      const v128_t tl = load_rgb(r0 + a);
      const v128_t bl = load_rgb(r1 + a);
      const v128_t top = wasm_f32x4_add(tl, wasm_f32x4_mul(wasm_f32x4_sub(load_rgb(r0 + b), tl), wx));
      const v128_t bottom = wasm_f32x4_add(bl, wasm_f32x4_mul(wasm_f32x4_sub(load_rgb(r1 + b), bl), wx));
      wasm_v128_store(d, wasm_f32x4_add(top, wasm_f32x4_mul(wasm_f32x4_sub(bottom, top), wy)));
    }
  }
}

// (pmin/pmax: one x86 instruction each, where min/max pay for NaN and -0 rules; no NaNs here.)
// Photometric pass over n RGB float pixels (0-255), 4 at a time (px and out padded to a multiple of
// 4 pixels). mode 1: HSV jitter (hueF6 = hue factor / 6, saturation and value factors; clip: value
// to [0, 255]); mode 0: none. Then out_c = x_c s_c + a_c.
__attribute__((export_name("photometric"))) void photometric(const float *px, int n, float *out, int mode, float hueF6, float satF, float valF,
                                                              int clip, float s0, float s1, float s2, float a0, float a1, float a2) {
  const v128_t S0 = wasm_f32x4_make(s0, s1, s2, s0), S1 = wasm_f32x4_make(s1, s2, s0, s1), S2 = wasm_f32x4_make(s2, s0, s1, s2);
  const v128_t A0 = wasm_f32x4_make(a0, a1, a2, a0), A1 = wasm_f32x4_make(a1, a2, a0, a1), A2 = wasm_f32x4_make(a2, a0, a1, a2);
  const v128_t zero = wasm_f32x4_splat(0.f), one = wasm_f32x4_splat(1.f), two = wasm_f32x4_splat(2.f), four = wasm_f32x4_splat(4.f);
  const v128_t six = wasm_f32x4_splat(6.f), five = wasm_f32x4_splat(5.f), full = wasm_f32x4_splat(255.f), tiny = wasm_f32x4_splat(1e-30f);
  const v128_t hf = wasm_f32x4_splat(hueF6), sf = wasm_f32x4_splat(satF), vf = wasm_f32x4_splat(valF);
  for (int i = 0; i < n; i += 4, px += 12, out += 12) {
    v128_t p0 = wasm_v128_load(px), p1 = wasm_v128_load(px + 4), p2 = wasm_v128_load(px + 8);
    if (mode == 1) {
      const v128_t r = wasm_i32x4_shuffle(wasm_i32x4_shuffle(p0, p1, 0, 3, 6, 0), p2, 0, 1, 2, 5);
      const v128_t g = wasm_i32x4_shuffle(wasm_i32x4_shuffle(p0, p1, 1, 4, 7, 0), p2, 0, 1, 2, 6);
      const v128_t b = wasm_i32x4_shuffle(wasm_i32x4_shuffle(p0, p1, 2, 5, 0, 0), p2, 0, 1, 4, 7);
      const v128_t maxc = wasm_f32x4_pmax(r, wasm_f32x4_pmax(g, b));
      const v128_t minc = wasm_f32x4_pmin(r, wasm_f32x4_pmin(g, b));
      v128_t v = wasm_f32x4_mul(maxc, vf);
      if (clip) v = wasm_f32x4_pmin(wasm_f32x4_pmax(v, zero), full);
      const v128_t delta = wasm_f32x4_sub(maxc, minc);
      const v128_t isR = wasm_f32x4_eq(maxc, r);
      const v128_t isG = wasm_v128_andnot(wasm_f32x4_eq(maxc, g), isR);
      const v128_t num = wasm_v128_bitselect(wasm_f32x4_sub(g, b), wasm_v128_bitselect(wasm_f32x4_sub(b, r), wasm_f32x4_sub(r, g), isG), isR);
      const v128_t off = wasm_v128_bitselect(zero, wasm_v128_bitselect(two, four, isG), isR);
      const v128_t some = wasm_f32x4_gt(delta, zero);
      v128_t h = wasm_f32x4_div(num, wasm_v128_bitselect(delta, one, some));
      h = wasm_f32x4_add(h, off);
      h = wasm_f32x4_add(h, wasm_v128_and(wasm_f32x4_lt(h, zero), six)); // with the offsets, only the red case can be negative
      v128_t hs = wasm_f32x4_mul(h, hf);
      hs = wasm_f32x4_sub(hs, wasm_f32x4_floor(hs));
      v128_t sat = wasm_f32x4_mul(wasm_f32x4_div(delta, wasm_f32x4_pmax(maxc, tiny)), sf);
      sat = wasm_f32x4_pmin(sat, one);
      const v128_t h6 = wasm_f32x4_mul(hs, six);
      const v128_t sector = wasm_f32x4_pmin(wasm_f32x4_floor(h6), five);
      const v128_t f = wasm_f32x4_sub(h6, sector);
      const v128_t vs = wasm_f32x4_mul(v, sat);
      const v128_t vsf = wasm_f32x4_mul(vs, f);
      const v128_t p = wasm_f32x4_sub(v, vs);
      const v128_t q = wasm_f32x4_sub(v, vsf);
      const v128_t t = wasm_f32x4_add(p, vsf);
      const v128_t k0 = wasm_f32x4_eq(sector, zero), k1 = wasm_f32x4_eq(sector, one), k2 = wasm_f32x4_eq(sector, two);
      const v128_t k3 = wasm_f32x4_eq(sector, wasm_f32x4_splat(3.f)), k4 = wasm_f32x4_eq(sector, four);
      // sector: 0 (v, t, p), 1 (q, v, p), 2 (p, v, t), 3 (p, q, v), 4 (t, p, v), 5 (v, p, q)
      const v128_t R = wasm_v128_bitselect(q, wasm_v128_bitselect(wasm_v128_bitselect(p, t, wasm_v128_or(k2, k3)), v, wasm_v128_or(k2, wasm_v128_or(k3, k4))), k1);
      const v128_t G = wasm_v128_bitselect(t, wasm_v128_bitselect(v, wasm_v128_bitselect(q, p, k3), wasm_v128_or(k1, k2)), k0);
      const v128_t B = wasm_v128_bitselect(p, wasm_v128_bitselect(t, wasm_v128_bitselect(v, q, wasm_v128_or(k3, k4)), k2), wasm_v128_or(k0, k1));
      const v128_t rg = wasm_i32x4_shuffle(R, G, 0, 4, 1, 5);
      p0 = wasm_i32x4_shuffle(rg, B, 0, 1, 4, 2);
      p1 = wasm_i32x4_shuffle(wasm_i32x4_shuffle(G, B, 1, 5, 2, 6), R, 0, 1, 6, 2);
      p2 = wasm_i32x4_shuffle(B, wasm_i32x4_shuffle(R, G, 3, 7, 3, 7), 2, 4, 5, 3);
    }
    wasm_v128_store(out, wasm_f32x4_add(wasm_f32x4_mul(p0, S0), A0));
    wasm_v128_store(out + 4, wasm_f32x4_add(wasm_f32x4_mul(p1, S1), A1));
    wasm_v128_store(out + 8, wasm_f32x4_add(wasm_f32x4_mul(p2, S2), A2));
  }
}

// GluonCV jitter: b (c s x + c (1 - s) luma + (1 - c) mean luma) = bright (k1 x + k2 luma + k3), then the
// optional YIQ hue matrix, clip to [0, 255] when asked, then out_c = x_c s_c + a_c. p (21 floats): k1, k2, k3,
// bright, hasMatrix, clip, m00..m22 (row-major), s0, s1, s2, a0, a1, a2.
__attribute__((export_name("photometric_gluoncv"))) void photometric_gluoncv(const float *px, int n, float *out, const float *p) {
  const v128_t k1 = wasm_f32x4_splat(p[0]), k2 = wasm_f32x4_splat(p[1]), k3 = wasm_f32x4_splat(p[2]), br = wasm_f32x4_splat(p[3]);
  const int hasM = p[4] != 0.f, clip = p[5] != 0.f;
  const v128_t m00 = wasm_f32x4_splat(p[6]), m01 = wasm_f32x4_splat(p[7]), m02 = wasm_f32x4_splat(p[8]);
  const v128_t m10 = wasm_f32x4_splat(p[9]), m11 = wasm_f32x4_splat(p[10]), m12 = wasm_f32x4_splat(p[11]);
  const v128_t m20 = wasm_f32x4_splat(p[12]), m21 = wasm_f32x4_splat(p[13]), m22 = wasm_f32x4_splat(p[14]);
  const float s0 = p[15], s1 = p[16], s2 = p[17], a0 = p[18], a1 = p[19], a2 = p[20];
  const v128_t S0 = wasm_f32x4_make(s0, s1, s2, s0), S1 = wasm_f32x4_make(s1, s2, s0, s1), S2 = wasm_f32x4_make(s2, s0, s1, s2);
  const v128_t A0 = wasm_f32x4_make(a0, a1, a2, a0), A1 = wasm_f32x4_make(a1, a2, a0, a1), A2 = wasm_f32x4_make(a2, a0, a1, a2);
  const v128_t lr = wasm_f32x4_splat(0.299f), lg = wasm_f32x4_splat(0.587f), lb = wasm_f32x4_splat(0.114f);
  const v128_t zero = wasm_f32x4_splat(0.f), full = wasm_f32x4_splat(255.f);
  for (int i = 0; i < n; i += 4, px += 12, out += 12) {
    const v128_t p0 = wasm_v128_load(px), p1 = wasm_v128_load(px + 4), p2 = wasm_v128_load(px + 8);
    v128_t r = wasm_i32x4_shuffle(wasm_i32x4_shuffle(p0, p1, 0, 3, 6, 0), p2, 0, 1, 2, 5);
    v128_t g = wasm_i32x4_shuffle(wasm_i32x4_shuffle(p0, p1, 1, 4, 7, 0), p2, 0, 1, 2, 6);
    v128_t b = wasm_i32x4_shuffle(wasm_i32x4_shuffle(p0, p1, 2, 5, 0, 0), p2, 0, 1, 4, 7);
    const v128_t luma = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(lr, r), wasm_f32x4_mul(lg, g)), wasm_f32x4_mul(lb, b));
    const v128_t base = wasm_f32x4_add(wasm_f32x4_mul(k2, luma), k3);
    r = wasm_f32x4_mul(br, wasm_f32x4_add(wasm_f32x4_mul(k1, r), base));
    g = wasm_f32x4_mul(br, wasm_f32x4_add(wasm_f32x4_mul(k1, g), base));
    b = wasm_f32x4_mul(br, wasm_f32x4_add(wasm_f32x4_mul(k1, b), base));
    if (hasM) {
      const v128_t r2 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(m00, r), wasm_f32x4_mul(m01, g)), wasm_f32x4_mul(m02, b));
      const v128_t g2 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(m10, r), wasm_f32x4_mul(m11, g)), wasm_f32x4_mul(m12, b));
      b = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(m20, r), wasm_f32x4_mul(m21, g)), wasm_f32x4_mul(m22, b));
      r = r2;
      g = g2;
    }
    if (clip) {
      r = wasm_f32x4_pmin(wasm_f32x4_pmax(r, zero), full);
      g = wasm_f32x4_pmin(wasm_f32x4_pmax(g, zero), full);
      b = wasm_f32x4_pmin(wasm_f32x4_pmax(b, zero), full);
    }
    const v128_t rg = wasm_i32x4_shuffle(r, g, 0, 4, 1, 5);
    wasm_v128_store(out, wasm_f32x4_add(wasm_f32x4_mul(wasm_i32x4_shuffle(rg, b, 0, 1, 4, 2), S0), A0));
    wasm_v128_store(out + 4, wasm_f32x4_add(wasm_f32x4_mul(wasm_i32x4_shuffle(wasm_i32x4_shuffle(g, b, 1, 5, 2, 6), r, 0, 1, 6, 2), S1), A1));
    wasm_v128_store(out + 8, wasm_f32x4_add(wasm_f32x4_mul(wasm_i32x4_shuffle(b, wasm_i32x4_shuffle(r, g, 3, 7, 3, 7), 2, 4, 5, 3), S2), A2));
  }
}

// Sum of the luma 0.299 r + 0.587 g + 0.114 b over n RGB float pixels, accumulated in double.
__attribute__((export_name("luma_sum"))) double luma_sum(const float *px, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++, px += 3) sum += 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
  return sum;
}
