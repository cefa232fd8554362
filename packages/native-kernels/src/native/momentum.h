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

// One element (T = float) or eight (T = botv8) of the update, in tfjs's operation order; BOT_ROUNDED keeps
// every product rounded to float32 before the add that follows it (no FMA contraction).
template <bool DECAY, bool NESTEROV, typename T>
static inline void momentumStep(T wi, T gi, T& ai, T& wo, T m, T c, T wd) {
  if (DECAY) {
    T d = wi * wd;
    BOT_ROUNDED(d);
    gi = gi + d;
  }
  T p = ai * m;
  BOT_ROUNDED(p);
  ai = p + gi;
  T u;
  if (NESTEROV) {
    T q = ai * m;
    BOT_ROUNDED(q);
    q = gi + q;
    u = c * q;
  } else {
    u = c * ai;
  }
  BOT_ROUNDED(u);
  wo = u + wi;
}

template <bool DECAY, bool NESTEROV>
static void momentumRange(const MomentumVar& v, long a, long b, float m, float c, float wd) {
  long i = a;
  const botv8 mv = {m, m, m, m, m, m, m, m}, cv = {c, c, c, c, c, c, c, c}, wdv = {wd, wd, wd, wd, wd, wd, wd, wd};
  for (; i + 8 <= b; i += 8) {
    botv8 ai = mloadv(v.acc + i), wo;
    momentumStep<DECAY, NESTEROV>(mloadv(v.w + i), mloadv(v.g + i), ai, wo, mv, cv, wdv);
    mstorev(v.accOut + i, ai);
    mstorev(v.wOut + i, wo);
  }
  for (; i < b; i++) {
    float ai = v.acc[i], wo;
    momentumStep<DECAY, NESTEROV>(v.w[i], v.g[i], ai, wo, m, c, wd);
    v.accOut[i] = ai;
    v.wOut[i] = wo;
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
