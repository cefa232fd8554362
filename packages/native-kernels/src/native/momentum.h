// Fused SGD-with-momentum update (tfjs's MomentumOptimizer, with L2 weight decay in the gradient), one
// pass over each variable on the wasm heap (into fresh output buffers; in place is allowed here but the TS caller
// never does it: tfjs-backend-wasm caches packed weights by tensor id). Included by kernels.cc (inside its namespace: it uses
// the thread pool). Per element, in exactly the float32 operations and order of the tfjs op sequence it
// replaces (trainer's addWeightDecay, then MomentumOptimizer.applyGradients):
//   g' = g + w * wd                     (decay variables only; tf.add(g, tf.mul(w, wd)))
//   a' = a * m + g'                     (add(mul(m, acc), g))
//   w' = c * (g' + a' * m) + w          (Nesterov: add(mul(c, add(g, mul(a', m))), w))
//   w' = c * a' + w                     (plain momentum: add(mul(c, a'), w))
// with c = -lr and m, wd as float32 (tfjs's scalars). Every product is rounded to float32 before it is
// added: an empty asm statement holds each product in a register, so the compiler cannot contract
// product and sum into one FMA (GCC contracts across statements under -ffp-contract=fast, its C++
// default). Results are therefore bitwise equal to the op sequence, and elementwise, so independent of
// the thread count.

#include <cstring>

typedef float botv8 __attribute__((vector_size(32)));

static inline botv8 mloadv(const float* p) {
  botv8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static inline void mstorev(float* p, botv8 v) { std::memcpy(p, &v, sizeof v); }
// A value the compiler must materialise as is (no contraction with the next operation).
#define BOT_ROUNDED(v) __asm__("" : "+x"(v))

// w, acc: read; wOut, accOut: written (the same arrays for an update in place, or fresh ones).
struct MomentumVar {
  const float* w;
  const float* acc;
  const float* g;
  float* wOut;
  float* accOut;
  long n;
  bool decay;
};

template <bool DECAY, bool NESTEROV>
static void momentumRange(const MomentumVar& v, long a, long b, float m, float c, float wd) {
  const float* w = v.w;
  const float* acc = v.acc;
  const float* g = v.g;
  float* wOut = v.wOut;
  float* accOut = v.accOut;
  long i = a;
  const botv8 mv = {m, m, m, m, m, m, m, m}, cv = {c, c, c, c, c, c, c, c}, wdv = {wd, wd, wd, wd, wd, wd, wd, wd};
  for (; i + 8 <= b; i += 8) {
    botv8 wi = mloadv(w + i), gi = mloadv(g + i), ai = mloadv(acc + i);
    if (DECAY) {
      botv8 d = wi * wdv;
      BOT_ROUNDED(d);
      gi = gi + d;
    }
    botv8 p = ai * mv;
    BOT_ROUNDED(p);
    ai = p + gi;
    botv8 u;
    if (NESTEROV) {
      botv8 q = ai * mv;
      BOT_ROUNDED(q);
      q = gi + q;
      u = cv * q;
    } else {
      u = cv * ai;
    }
    BOT_ROUNDED(u);
    mstorev(accOut + i, ai);
    mstorev(wOut + i, u + wi);
  }
  for (; i < b; i++) {
    float wi = w[i], gi = g[i], ai = acc[i];
    if (DECAY) {
      float d = wi * wd;
      BOT_ROUNDED(d);
      gi = gi + d;
    }
    float p = ai * m;
    BOT_ROUNDED(p);
    ai = p + gi;
    float u;
    if (NESTEROV) {
      float q = ai * m;
      BOT_ROUNDED(q);
      q = gi + q;
      u = c * q;
    } else {
      u = c * ai;
    }
    BOT_ROUNDED(u);
    accOut[i] = ai;
    wOut[i] = u + wi;
  }
}

// Every variable in fixed blocks of 16384 elements (one pool task each).
static void momentumUpdate(const std::vector<MomentumVar>& vars, float m, float c, float wd, bool nesterov) {
  const long per = 16384;
  std::vector<std::pair<int, long>> tasks;  // (variable, first element)
  for (size_t k = 0; k < vars.size(); k++)
    for (long a = 0; a < vars[k].n; a += per) tasks.emplace_back((int)k, a);
  pool().run((int)tasks.size(), [&](int t, int) {
    const MomentumVar& v = vars[(size_t)tasks[(size_t)t].first];
    const long a = tasks[(size_t)t].second, b = std::min(v.n, a + per);
    if (v.decay) {
      if (nesterov) momentumRange<true, true>(v, a, b, m, c, wd);
      else momentumRange<true, false>(v, a, b, m, c, wd);
    } else {
      if (nesterov) momentumRange<false, true>(v, a, b, m, c, wd);
      else momentumRange<false, false>(v, a, b, m, c, wd);
    }
  });
}
