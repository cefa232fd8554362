// Fused training BatchNorm, channels last (x viewed as [m, C]), forward and backward, each one threaded native
// call in place of tfjs-layers' ~40 kernels per layer and step (core's BATCH_NORM_TRAINING contract). Included by
// kernels.cc inside its namespace (it uses the thread pool).
//
// Per-channel sums are taken in double: each fixed block of rows sums into its own partials (one pool task per
// block), and the partials are added in block order on the calling thread. The blocks depend on m and C only, so
// results are bitwise identical for any thread count. Double sums make the single-pass variance
// E[x^2] - E[x]^2 safe for float32 inputs (cancellation only matters when mean^2 / variance nears 1e9).
//
// Forward: mean = S / m, variance = Q / m - mean^2 (biased, as tfjs-layers' moments), invStd = 1 / sqrt(variance
// + eps), y = (x - mean) * (gamma * invStd) + beta.
// Backward: sumDy = sum(dy), sumDyXc = sum(dy * (x - mean)); dbeta = sumDy, dgamma = sumDyXc * invStd;
// dx = gamma * invStd * (dy - sumDy / m - (x - mean) * invStd^2 * sumDyXc / m).

// Rows per block: about 16K elements, so a task is a few microseconds of work and a ResNet-20 layer has 16-64 tasks.
static long bnRowsPerBlock(long c) { return std::max(1L, 16384 / c); }

// Per block b, sums over its rows into part[b * 2C .. b * 2C + 2C): first `a` sums, then `b` sums.
// Forward: a = x, b = x^2. Backward: a = dy, b = dy * (x - mean).
template <bool BACKWARD>
static void bnBlockSums(const float* x, const float* dy, const float* mean, long m, long c, long rows, double* part, long block) {
  double* sa = part + block * 2 * c;
  double* sb = sa + c;
  for (long k = 0; k < 2 * c; k++) sa[k] = 0;
  const long r0 = block * rows, r1 = std::min(m, r0 + rows);
  for (long r = r0; r < r1; r++) {
    const float* xr = x + r * c;
    if (BACKWARD) {
      const float* dr = dy + r * c;
      for (long k = 0; k < c; k++) {
        const double d = dr[k];
        sa[k] += d;
        sb[k] += d * (double)(xr[k] - mean[k]);
      }
    } else {
      for (long k = 0; k < c; k++) {
        const double v = xr[k];
        sa[k] += v;
        sb[k] += v * v;
      }
    }
  }
}

// Adds the partials of every block in block order: out[0..2C).
static void bnReduce(const std::vector<double>& part, long blocks, long c, double* out) {
  for (long k = 0; k < 2 * c; k++) out[k] = 0;
  for (long b = 0; b < blocks; b++)
    for (long k = 0; k < 2 * c; k++) out[k] += part[(size_t)(b * 2 * c + k)];
}

// The moving averages tfjs-layers keeps, op for op in float32 (BOT_ROUNDED: no FMA contraction), so bitwise its
// `moving - (moving - batch) * decay` with decay = float32(1 - momentum): written to newMoving (may be null).
static void bnMovingAverage(const float* moving, const float* batch, float* newMoving, long c, float decay) {
  for (long k = 0; k < c; k++) {
    float d = moving[k] - batch[k];
    BOT_ROUNDED(d);
    float p = d * decay;
    BOT_ROUNDED(p);
    newMoving[k] = moving[k] - p;
  }
}

// movingMean/movingVariance and newMovingMean/newMovingVariance: all null, or all set (then `decay` is used).
static void batchNormForward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* variance,
                             float* invStd, long m, long c, double eps, const float* movingMean = nullptr,
                             const float* movingVariance = nullptr, float* newMovingMean = nullptr,
                             float* newMovingVariance = nullptr, float decay = 0) {
  const long rows = bnRowsPerBlock(c), blocks = (m + rows - 1) / rows;
  std::vector<double> part((size_t)(blocks * 2 * c)), sums((size_t)(2 * c));
  pool().run((int)blocks, [&](int b, int) { bnBlockSums<false>(x, nullptr, nullptr, m, c, rows, part.data(), b); });
  bnReduce(part, blocks, c, sums.data());
  std::vector<float> scale((size_t)c);
  for (long k = 0; k < c; k++) {
    const double mu = sums[(size_t)k] / (double)m;
    const double var = std::max(0.0, sums[(size_t)(c + k)] / (double)m - mu * mu);
    const double inv = 1.0 / std::sqrt(var + eps);
    mean[k] = (float)mu;
    variance[k] = (float)var;
    invStd[k] = (float)inv;
    scale[(size_t)k] = (float)((double)gamma[k] * inv);
  }
  if (movingMean) {
    bnMovingAverage(movingMean, mean, newMovingMean, c, decay);
    bnMovingAverage(movingVariance, variance, newMovingVariance, c, decay);
  }
  const float* sc = scale.data();
  pool().run((int)blocks, [&](int b, int) {
    const long r0 = b * rows, r1 = std::min(m, r0 + rows);
    for (long r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      float* yr = y + r * c;
      for (long k = 0; k < c; k++) yr[k] = (xr[k] - mean[k]) * sc[k] + beta[k];
    }
  });
}

static void batchNormBackward(const float* dy, const float* x, const float* mean, const float* invStd, const float* gamma,
                              float* dx, float* dgamma, float* dbeta, long m, long c) {
  const long rows = bnRowsPerBlock(c), blocks = (m + rows - 1) / rows;
  std::vector<double> part((size_t)(blocks * 2 * c)), sums((size_t)(2 * c));
  pool().run((int)blocks, [&](int b, int) { bnBlockSums<true>(x, dy, mean, m, c, rows, part.data(), b); });
  bnReduce(part, blocks, c, sums.data());
  // dx = k * dy - (k * sumDy / m) - (x - mean) * (k * invStd^2 * sumDyXc / m), with k = gamma * invStd.
  std::vector<float> kk((size_t)c), shift((size_t)c), slope((size_t)c);
  for (long k = 0; k < c; k++) {
    const double inv = invStd[k], sd = sums[(size_t)k], sdx = sums[(size_t)(c + k)];
    const double g = (double)gamma[k] * inv;
    dbeta[k] = (float)sd;
    dgamma[k] = (float)(sdx * inv);
    kk[(size_t)k] = (float)g;
    shift[(size_t)k] = (float)(g * sd / (double)m);
    slope[(size_t)k] = (float)(g * inv * inv * sdx / (double)m);
  }
  const float *kp = kk.data(), *sp = shift.data(), *lp = slope.data();
  pool().run((int)blocks, [&](int b, int) {
    const long r0 = b * rows, r1 = std::min(m, r0 + rows);
    for (long r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      const float* dr = dy + r * c;
      float* o = dx + r * c;
      for (long k = 0; k < c; k++) o[k] = kp[k] * dr[k] - sp[k] - (xr[k] - mean[k]) * lp[k];
    }
  });
}

// ReLU's gradient (core's RELU_GRAD): dx = dy * s, s = 1 where x > 0, NaN where x is NaN, else 0 -- the float32
// product tfjs's mul(dy, step(x)) makes, so bitwise equal to it. Elementwise, fixed blocks of 16384 elements.
static void reluGrad(const float* dy, const float* x, float* dx, long n) {
  const long per = 16384, blocks = (n + per - 1) / per;
  pool().run((int)blocks, [&](int b, int) {
    const long a = b * per, e = std::min(n, a + per);
    for (long i = a; i < e; i++) {
      const float v = x[i];
      const float s = v > 0.0f ? 1.0f : (v != v ? v : 0.0f);
      dx[i] = dy[i] * s;
    }
  });
}
