// Native conv kernels for tfjs-backend-wasm tensors (NHWC, float32), operating in place on the
// wasm heap (an ArrayBuffer handed in from JS). One packed, cache-blocked GEMM (BLIS style) with
// an FMA microkernel (AVX-512 where the compiler targets it, AVX2+FMA otherwise) and a small
// persistent std::thread pool. Work is split by output tiles (and, for the filter gradient, by
// fixed reduction chunks summed in a fixed order), so results are bitwise identical for any
// thread count.
#include <node_api.h>
#include <immintrin.h>
#include <cpuid.h>

#include <pthread.h>
#include <sched.h>

#include <chrono>  // the pool's spin
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// ------------------------------------------------------------------------------------------
// Thread pool
// ------------------------------------------------------------------------------------------
// Measured on the 2-vCPU VM with low-priority background jobs (docs/SPEED.md): a worker woken by a plain
// condition variable was placed on the caller's own CPU (the other one was busy with the background), so the
// two threads took turns instead of running side by side, and a worker that woke late on a busy CPU kept the
// caller waiting at the join even when the caller had run every task itself. So: (1) the workers may run on
// every allowed CPU but the caller's (re-set when the caller moves); (2) a run's tasks are claimed with one
// compare-and-swap on (generation, next task), and the caller waits only for tasks a worker has claimed, never
// for a worker that has not shown up; (3) workers spin briefly (kSpinUs) after a run before sleeping, so the
// several runs of one kernel call, and calls in quick succession, need no wake-up.
class Pool {
 public:
  ~Pool() { resize(1); }
  int size() const { return nthreads_; }
  void resize(int n) {
    if (n < 1) n = 1;
    std::lock_guard<std::mutex> busy(run_);  // never while a run is in flight
    if (n == nthreads_) return;
    {
      std::lock_guard<std::mutex> l(m_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_.store(false);
    nthreads_ = n;
    callerCpu_ = -1;
    if (sched_getaffinity(0, sizeof(allowed_), &allowed_) != 0) CPU_ZERO(&allowed_);
    // More threads than CPUs: no spinning (a spinning thread would take the CPU from one with work;
    // 3 threads on 1 CPU measured 2.6x slower than 1 thread with it).
    spin_ = std::chrono::microseconds(n <= CPU_COUNT(&allowed_) ? kSpinUs : 0);
    for (int i = 1; i < n; i++) workers_.emplace_back([this, i] { loop(i); });
  }
  // Runs fn(task, threadIndex) for task in [0, ntasks); the calling thread takes part.
  // The addon is one per process but may be called from several JS threads at once (worker_threads,
  // e.g. the trainer's data-parallel replicas): a caller that finds the pool busy runs its tasks
  // itself, serially. Task decomposition never depends on who runs them, so results do not either.
  void run(int ntasks, const std::function<void(int, int)>& fn) {
    if (ntasks <= 0) return;
    std::unique_lock<std::mutex> busy(run_, std::try_to_lock);
    if (!busy.owns_lock() || nthreads_ == 1 || ntasks == 1) {
      for (int t = 0; t < ntasks; t++) fn(t, 0);
      return;
    }
    placeWorkers();
    job_.store(&fn);
    ntasks_.store(ntasks);
    done_.store(0);
    const uint64_t gen = ((state_.load() >> 32) + 1) & 0xFFFFFFFFu;
    state_.store(gen << 32);  // publishes the job: task 0 of generation gen is next
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> l(m_);
      cv_.notify_all();
    }
    work(0, gen);
    // Only tasks a worker has claimed are left: spin a little, then sleep until the last one ends.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; done_.load() < ntasks; i++) {
      _mm_pause();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > spin_) {
        std::unique_lock<std::mutex> l(m_);
        callerWaiting_.store(true);
        doneCv_.wait(l, [&] { return done_.load() >= ntasks; });
        callerWaiting_.store(false);
        break;
      }
    }
  }

 private:
  static constexpr long kSpinUs = 200;
  // The workers on every allowed CPU but the caller's, when there is another (one sched_setaffinity per worker,
  // only when the caller has moved since the last run).
  void placeWorkers() {
    const int c = sched_getcpu();
    if (c == callerCpu_ || c < 0) return;
    callerCpu_ = c;
    cpu_set_t set = allowed_;
    if (!CPU_ISSET(c, &set) || CPU_COUNT(&set) < 2) return;
    CPU_CLR(c, &set);
    for (auto& t : workers_) pthread_setaffinity_np(t.native_handle(), sizeof(set), &set);
  }
  // Claims and runs tasks of generation gen until none is left unclaimed.
  void work(int tid, uint64_t gen) {
    for (;;) {
      uint64_t s = state_.load();
      if ((s >> 32) != gen) return;
      // Read after seeing gen, so these are gen's (or a later run's, and then the claim below fails).
      const std::function<void(int, int)>* job = job_.load();
      const int n = ntasks_.load();
      const int t = (int)(uint32_t)s;
      if (t >= n) return;
      if (!state_.compare_exchange_weak(s, s + 1)) continue;
      (*job)(t, tid);
      if (done_.fetch_add(1) + 1 == n && callerWaiting_.load()) {
        std::lock_guard<std::mutex> l(m_);
        doneCv_.notify_one();
      }
    }
  }
  void loop(int tid) {
    uint64_t seen = 0;
    for (;;) {
      const auto t0 = std::chrono::steady_clock::now();
      uint64_t gen;
      for (int i = 0; (gen = state_.load() >> 32) == seen && !stop_.load(); i++) {
        _mm_pause();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > spin_) {
          std::unique_lock<std::mutex> l(m_);
          sleepers_.fetch_add(1);
          cv_.wait(l, [&] { return stop_.load() || (state_.load() >> 32) != seen; });
          sleepers_.fetch_sub(1);
        }
      }
      if (stop_.load()) return;
      seen = gen;
      work(tid, gen);
    }
  }
  std::vector<std::thread> workers_;
  std::mutex run_;  // held by the thread whose run() owns the workers
  std::mutex m_;
  std::condition_variable cv_, doneCv_;
  std::atomic<const std::function<void(int, int)>*> job_{nullptr};
  std::atomic<uint64_t> state_{0};  // generation << 32 | next unclaimed task
  std::atomic<int> ntasks_{0}, done_{0}, sleepers_{0};
  std::atomic<bool> stop_{false}, callerWaiting_{false};
  cpu_set_t allowed_;
  int callerCpu_ = -1;
  int nthreads_ = 1;
  std::chrono::microseconds spin_{0};
};

Pool& pool() {
  static Pool p;
  return p;
}

// Kernel choices the caller may turn off, for comparisons (setSwitch; the backend's BOT_NATIVE_NO_WINOGRAD and
// BOT_NATIVE_NO_DIRECT_BF16 flags): Winograd F(2x2, 3x3) where it applies, bf16's direct (implicit-GEMM) kernels.
std::atomic<bool> useWinograd{true};
std::atomic<bool> useDirectBf16{true};

// ------------------------------------------------------------------------------------------
// GEMM: C[M,N] (+)= A[M,K] * B[K,N], A and B supplied by packing functors.
// ------------------------------------------------------------------------------------------
#if defined(__AVX512F__)
#define BOT_ISA "avx512"
constexpr int VL = 16;
constexpr int MR = 12;
constexpr int NV = 2;
typedef __m512 vec;
static inline vec vzero() { return _mm512_setzero_ps(); }
static inline vec vload(const float* p) { return _mm512_loadu_ps(p); }
static inline vec vloada(const float* p) { return _mm512_load_ps(p); }
static inline void vstore(float* p, vec v) { _mm512_storeu_ps(p, v); }
static inline vec vset1(float x) { return _mm512_set1_ps(x); }
static inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec vadd(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline vec vmax(vec a, vec b) { return _mm512_max_ps(a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
#define BOT_ISA "avx2"
constexpr int VL = 8;
constexpr int MR = 6;
constexpr int NV = 2;
typedef __m256 vec;
static inline vec vzero() { return _mm256_setzero_ps(); }
static inline vec vload(const float* p) { return _mm256_loadu_ps(p); }
static inline vec vloada(const float* p) { return _mm256_load_ps(p); }
static inline void vstore(float* p, vec v) { _mm256_storeu_ps(p, v); }
static inline vec vset1(float x) { return _mm256_set1_ps(x); }
static inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec vadd(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline vec vmax(vec a, vec b) { return _mm256_max_ps(a, b); }
#else
#error "native-kernels needs AVX2+FMA or AVX-512 (compile with -march=native on such a CPU)"
#endif
constexpr int NR = VL * NV;
constexpr int KC = 256;
constexpr int MC = MR * 8;
constexpr int NC = NR * 16;

struct Epilogue {
  const float* bias = nullptr;  // per column, added once the whole K is summed
  bool relu = false;
};

// Stores acc[MR_][NV_] into C (mr x nr valid): C = (accumulate ? C : 0) + acc, then the epilogue.
template <int MR_, int NV_>
__attribute__((always_inline)) static inline void storeTile(vec (&c)[MR_][NV_], float* C, long ldc, int mr, int nr, bool accumulate, const Epilogue* ep,
                             int j0) {
  constexpr int NR_ = NV_ * VL;
  if (mr == MR_ && nr == NR_) {
    for (int r = 0; r < MR_; r++) {
      float* row = C + r * ldc;
      for (int v = 0; v < NV_; v++) {
        vec x = c[r][v];
        if (accumulate) x = vadd(vload(row + v * VL), x);
        if (ep) {
          if (ep->bias) x = vadd(x, vload(ep->bias + j0 + v * VL));
          if (ep->relu) x = vmax(x, vzero());
        }
        vstore(row + v * VL, x);
      }
    }
    return;
  }
  alignas(64) float tile[MR_ * NR_];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV_; v++) vstore(tile + r * NR_ + v * VL, c[r][v]);
  for (int r = 0; r < mr; r++) {
    float* row = C + r * ldc;
    for (int j = 0; j < nr; j++) {
      float x = tile[r * NR_ + j];
      if (accumulate) x = row[j] + x;
      if (ep) {
        if (ep->bias) x = x + ep->bias[j0 + j];
        if (ep->relu) x = x > 0.f ? x : 0.f;
      }
      row[j] = x;
    }
  }
}

// Packed microkernel: A sliver kc x MR_ (k-major), B sliver kc x NR.
template <int MR_>
static inline void microkernel(int kc, const float* __restrict A, const float* __restrict B, float* C, long ldc, int mr,
                               int nr, bool accumulate, const Epilogue* ep, int j0) {
  vec c[MR_][NV];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV; v++) c[r][v] = vzero();
  for (int k = 0; k < kc; k++) {
    vec b[NV];
    for (int v = 0; v < NV; v++) b[v] = vloada(B + v * VL);
    for (int r = 0; r < MR_; r++) {
      vec a = vset1(A[r]);
      for (int v = 0; v < NV; v++) c[r][v] = vfma(a, b[v], c[r][v]);
    }
    A += MR_;
    B += NR;
  }
  storeTile<MR_, NV>(c, C, ldc, mr, nr, accumulate, ep, j0);
}

// Panel microkernel: A is a panel of MR_ rows in blocks of KB columns (A[(k/KB)*MR_*KB + r*KB +
// k%KB], so every broadcast has a constant displacement), B a packed sliver Kp x NR_ (Kp a
// multiple of KB, zero rows past K). __restrict keeps the accumulators in registers.
constexpr int KB = 8;
template <int MR_, int NV_>
static inline void panelKernel(int Kp, const float* __restrict A, const float* __restrict B, float* C, long ldc, int mr,
                               int nr, bool accumulate, const Epilogue* ep, int j0) {
  vec c[MR_][NV_];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV_; v++) c[r][v] = vzero();
  for (int kb = 0; kb < Kp; kb += KB) {
    for (int kk = 0; kk < KB; kk++) {
      vec b[NV_];
      for (int v = 0; v < NV_; v++) b[v] = vloada(B + v * VL);
      for (int r = 0; r < MR_; r++) {
        vec a = vset1(A[r * KB + kk]);
        for (int v = 0; v < NV_; v++) c[r][v] = vfma(a, b[v], c[r][v]);
      }
      B += NV_ * VL;
    }
    A += MR_ * KB;
  }
  storeTile<MR_, NV_>(c, C, ldc, mr, nr, accumulate, ep, j0);
}

#if defined(__AVX512F__)
// For 16 or fewer output columns: 256-bit vectors, 2 per row (NR 16), so each broadcast feeds two
// FMAs (Zen 4 and others run two 256-bit FMAs per cycle: the same peak as one 512-bit FMA).
template <int MR_>
static inline void panelKernel16(int Kp, const float* __restrict A, const float* __restrict B, float* C, long ldc, int mr,
                                 int nr, bool accumulate, const Epilogue* ep, int j0) {
  __m256 c[MR_][2];
  for (int r = 0; r < MR_; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
  for (int kb = 0; kb < Kp; kb += KB) {
    for (int kk = 0; kk < KB; kk++) {
      __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
      for (int r = 0; r < MR_; r++) {
        __m256 a = _mm256_set1_ps(A[r * KB + kk]);
        c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
        c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
      }
      B += 16;
    }
    A += MR_ * KB;
  }
  if (mr == MR_ && nr == 16) {
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (ep && ep->bias) {
      bias0 = _mm256_loadu_ps(ep->bias + j0);
      bias1 = _mm256_loadu_ps(ep->bias + j0 + 8);
    }
    const bool relu = ep && ep->relu;
    for (int r = 0; r < MR_; r++) {
      __m256 x0 = c[r][0], x1 = c[r][1];
      if (accumulate) {
        x0 = _mm256_add_ps(_mm256_loadu_ps(C + r * ldc), x0);
        x1 = _mm256_add_ps(_mm256_loadu_ps(C + r * ldc + 8), x1);
      }
      x0 = _mm256_add_ps(x0, bias0);
      x1 = _mm256_add_ps(x1, bias1);
      if (relu) {
        x0 = _mm256_max_ps(x0, _mm256_setzero_ps());
        x1 = _mm256_max_ps(x1, _mm256_setzero_ps());
      }
      _mm256_storeu_ps(C + r * ldc, x0);
      _mm256_storeu_ps(C + r * ldc + 8, x1);
    }
    return;
  }
  alignas(64) float tile[MR_ * 16];
  for (int r = 0; r < MR_; r++) {
    _mm256_store_ps(tile + r * 16, c[r][0]);
    _mm256_store_ps(tile + r * 16 + 8, c[r][1]);
  }
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < nr; j++) {
      float x = tile[r * 16 + j];
      if (accumulate) x = C[r * ldc + j] + x;
      if (ep) {
        if (ep->bias) x = x + ep->bias[j0 + j];
        if (ep->relu) x = x > 0.f ? x : 0.f;
      }
      C[r * ldc + j] = x;
    }
}
#endif

struct Scratch {
  float* a = nullptr;
  float* b = nullptr;
  Scratch() {
    a = (float*)std::aligned_alloc(64, sizeof(float) * MC * KC);
    b = (float*)std::aligned_alloc(64, sizeof(float) * KC * NC);
  }
  ~Scratch() {
    std::free(a);
    std::free(b);
  }
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// A call's scratch array (packed filters, Winograd's transformed filters, filter-gradient partial sums, filter
// transposes): grow-only, one per calling thread and call site, kept between calls. A fresh allocation of a few
// hundred KB or more is mmapped and page-faulted anew on every call (measured ~2 ms a call for 590 KB here, in a
// VM); a kept one is faulted once. Contents are undefined on entry, as with malloc. Each JS thread (data-parallel
// replicas in worker_threads) calling the addon has its own; the pool's workers only read and write them within
// the call.
struct KeptBuf {
  void* p = nullptr;
  size_t cap = 0;
  ~KeptBuf() { std::free(p); }
  void* get(size_t bytes) {
    bytes = (bytes + 63) / 64 * 64 + 64;
    if (bytes > cap) {
      std::free(p);
      p = std::aligned_alloc(64, bytes);
      cap = bytes;
    }
    return p;
  }
};
template <int SITE, typename T = float>
struct Kept {
  T* p;
  explicit Kept(size_t n) : p((T*)buf().get(n * sizeof(T))) {}
  T* data() const { return p; }
  static KeptBuf& buf() {
    thread_local KeptBuf b;
    return b;
  }
};

// ------------------------------------------------------------------------------------------
// bfloat16 (AVX512_BF16): operands rounded to bf16 (1 sign, 8 exponent, 7 stored mantissa bits)
// as they are packed, products summed in float32 by VDPBF16PS (two products per 32-bit lane:
// twice the multiply-adds of an FP32 FMA per instruction). This code carries its own target
// attribute, so the addon still compiles and loads on AVX-512 CPUs without BF16 (-march=native
// there lacks it); bf16Unsupported() checks the CPU (cpuid) before any of it runs.
// ------------------------------------------------------------------------------------------
#if defined(__AVX512F__) && (defined(__clang__) ? (__clang_major__ >= 9) : (__GNUC__ >= 10))
#define BOT_HAVE_BF16 1
#define BOT_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define BOT_HAVE_BF16 0
#endif

// Why bfloat16 cannot run here, or null when it can.
static const char* bf16Unsupported() {
#if BOT_HAVE_BF16
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !((a >> 5) & 1))
    return "this CPU lacks AVX512_BF16 (cpuid leaf 7 subleaf 1, EAX bit 5; /proc/cpuinfo flag avx512_bf16)";
  return nullptr;
#elif defined(__AVX512F__)
  return "the addon was compiled without AVX512_BF16 support (needs g++ >= 10 or clang >= 9)";
#else
  return "the addon was compiled for AVX2 (this CPU has no AVX-512, so no AVX512_BF16)";
#endif
}

#if BOT_HAVE_BF16
typedef int32_t __attribute__((may_alias)) i32alias;

// dst[i] = bf16(src[i]), round to nearest even (VCVTNEPS2BF16: a NaN stays a NaN (quieted),
// +-inf stays inf, float32 subnormals become +-0).
BOT_BF16 static void toBf16(const float* src, uint16_t* dst, long n) {
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256((__m256i*)(dst + i), (__m256i)h);
  }
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
    _mm256_mask_storeu_epi16(dst + i, m, (__m256i)h);
  }
}

// Rows k and k+1 of a float32 matrix (width w, row stride ld, `rows` rows: rows past it read as
// zeros) into bf16 pairs: dst[(k/2)*2w + 2j + (k&1)], the layout VDPBF16PS multiplies.
BOT_BF16 static void pairRowsBf16(const float* src, long ld, long rows, int w, uint16_t* dst) {
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5,
                                       20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (long k = 0; k < rows; k += 2) {
    const float* r0 = src + k * ld;
    const float* r1 = r0 + ld;
    const bool has1 = k + 1 < rows;
    uint16_t* d = dst + k * w;  // (k/2) * 2w
    for (int j = 0; j < w; j += 16) {
      int n = std::min(16, w - j);
      __mmask16 m = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
      __m512 a = _mm512_maskz_loadu_ps(m, r0 + j);
      __m512 b = has1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
      __m512i v = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));  // [a0 b0 a1 b1 ...]
      __mmask32 m2 = (__mmask32)(n == 16 ? 0xFFFFFFFFu : (1u << (2 * n)) - 1);
      _mm512_mask_storeu_epi16(d + 2 * j, m2, v);
    }
  }
}

// panelKernel's bf16 twin: A is the same panel layout in bf16 (a row's k, k+1 adjacent, read as
// one 32-bit broadcast), B a sliver of bf16 pairs (Kp/2 x NR_ x 2).
template <int MR_, int NV_>
BOT_BF16 static void panelKernelBf16(int Kp, const uint16_t* __restrict A, const uint16_t* __restrict B, float* C, long ldc,
                                     int mr, int nr, bool accumulate, const Epilogue* ep, int j0) {
  __m512 c[MR_][NV_];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV_; v++) c[r][v] = _mm512_setzero_ps();
  for (int kb = 0; kb < Kp; kb += KB) {
    for (int kk = 0; kk < KB; kk += 2) {
      __m512bh b[NV_];
      for (int v = 0; v < NV_; v++) b[v] = (__m512bh)_mm512_loadu_si512((const void*)(B + v * 32));
      for (int r = 0; r < MR_; r++) {
        __m512bh a = (__m512bh)_mm512_set1_epi32(*(const i32alias*)(A + r * KB + kk));
        for (int v = 0; v < NV_; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
      }
      B += NV_ * 32;
    }
    A += MR_ * KB;
  }
  storeTile<MR_, NV_>(c, C, ldc, mr, nr, accumulate, ep, j0);
}

// microkernel's bf16 twin: A sliver kcPairs x MR_ x 2, B sliver kcPairs x NR x 2 (pairRowsBf16).
template <int MR_>
BOT_BF16 static void microkernelBf16(int kcPairs, const uint16_t* __restrict A, const uint16_t* __restrict B, float* C, long ldc,
                                     int mr, int nr, bool accumulate, const Epilogue* ep, int j0) {
  __m512 c[MR_][NV];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV; v++) c[r][v] = _mm512_setzero_ps();
  for (int k = 0; k < kcPairs; k++) {
    __m512bh b[NV];
    for (int v = 0; v < NV; v++) b[v] = (__m512bh)_mm512_loadu_si512((const void*)(B + v * 32));
    for (int r = 0; r < MR_; r++) {
      __m512bh a = (__m512bh)_mm512_set1_epi32(*(const i32alias*)(A + 2 * r));
      for (int v = 0; v < NV; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
    }
    A += 2 * MR_;
    B += 2 * NR;
  }
  storeTile<MR_, NV>(c, C, ldc, mr, nr, accumulate, ep, j0);
}

struct ScratchBf16 {
  uint16_t* a = nullptr;
  uint16_t* b = nullptr;
  ScratchBf16() {
    a = (uint16_t*)std::aligned_alloc(64, sizeof(uint16_t) * MC * (KC + 2));
    b = (uint16_t*)std::aligned_alloc(64, sizeof(uint16_t) * (KC + 2) * NC);
  }
  ~ScratchBf16() {
    std::free(a);
    std::free(b);
  }
};
ScratchBf16& scratchBf16() {
  thread_local ScratchBf16 s;
  return s;
}
#endif

// packA(dst, i0, mc, k0, kc, mr): ceil(mc/mr) slivers, dst[s*kc*mr + k*mr + r], zero rows past mc.
// packB(dst, k0, kc, j0, nc): ceil(nc/NR) slivers, dst[s*kc*NR + k*NR + j], zero columns past nc.
typedef std::function<void(float*, int, int, int, int, int)> PackAFn;
typedef std::function<void(float*, int, int, int, int)> PackBFn;

// One block of C over the K range [kBegin, kEnd), serially.
template <int MR_>
static void gemmBlock(const PackAFn& packA, const PackBFn& packB, int i0, int mc, int j0, int nc, int kBegin, int kEnd,
                      float* C, long ldc, bool accumulateFirst, const Epilogue* ep, bool bf16 = false) {
  Scratch& s = scratch();
  if (kEnd <= kBegin) {  // empty reduction: C = (accumulate ? C : 0) + epilogue
    for (int i = 0; i < mc; i++)
      for (int j = 0; j < nc; j++) {
        float x = accumulateFirst ? C[(long)(i0 + i) * ldc + j0 + j] : 0.f;
        if (ep && ep->bias) x += ep->bias[j0 + j];
        if (ep && ep->relu) x = x > 0.f ? x : 0.f;
        C[(long)(i0 + i) * ldc + j0 + j] = x;
      }
    return;
  }
  for (int pc = kBegin; pc < kEnd; pc += KC) {
    int kc = std::min(KC, kEnd - pc);
    bool last = pc + kc >= kEnd;
    packB(s.b, pc, kc, j0, nc);
    packA(s.a, i0, mc, pc, kc, MR_);
#if BOT_HAVE_BF16
    if (bf16) {  // the packed slivers as bf16 pairs (an odd kc gets a zero row)
      ScratchBf16& h = scratchBf16();
      const int kp = (kc + 1) / 2;
      for (int ir = 0; ir < mc; ir += MR_) pairRowsBf16(s.a + (long)(ir / MR_) * kc * MR_, MR_, kc, MR_, h.a + (long)(ir / MR_) * kp * 2 * MR_);
      for (int jr = 0; jr < nc; jr += NR) pairRowsBf16(s.b + (long)(jr / NR) * kc * NR, NR, kc, NR, h.b + (long)(jr / NR) * kp * 2 * NR);
      for (int ir = 0; ir < mc; ir += MR_) {
        const uint16_t* a = h.a + (long)(ir / MR_) * kp * 2 * MR_;
        for (int jr = 0; jr < nc; jr += NR) {
          const uint16_t* b = h.b + (long)(jr / NR) * kp * 2 * NR;
          microkernelBf16<MR_>(kp, a, b, C + (long)(i0 + ir) * ldc + j0 + jr, ldc, std::min(MR_, mc - ir), std::min(NR, nc - jr),
                               accumulateFirst || pc > kBegin, last ? ep : nullptr, j0 + jr);
        }
      }
      continue;
    }
#endif
    for (int ir = 0; ir < mc; ir += MR_) {
      const float* a = s.a + (long)(ir / MR_) * kc * MR_;
      for (int jr = 0; jr < nc; jr += NR) {
        const float* b = s.b + (long)(jr / NR) * kc * NR;
        microkernel<MR_>(kc, a, b, C + (long)(i0 + ir) * ldc + j0 + jr, ldc, std::min(MR_, mc - ir), std::min(NR, nc - jr),
                         accumulateFirst || pc > kBegin, last ? ep : nullptr, j0 + jr);
      }
    }
  }
}

// Threads over output blocks; each block does its whole reduction alone.
static void gemm(int M, int N, int K, float* C, long ldc, const PackAFn& packA, const PackBFn& packB, const Epilogue* ep) {
  if (M <= 0 || N <= 0) return;
  int mb = (M + MC - 1) / MC, nb = (N + NC - 1) / NC;
  pool().run(mb * nb, [&](int t, int) {
    int i0 = (t / nb) * MC, j0 = (t % nb) * NC;
    gemmBlock<MR>(packA, packB, i0, std::min(MC, M - i0), j0, std::min(NC, N - j0), 0, K, C, ldc, false, ep);
  });
}

// Plain strided matrices. A(i,k) = a[i*rs + k*cs]; B(k,j) = b[k*rs + j*cs].
static PackAFn packMatrixA(const float* a, long rs, long cs) {
  return [=](float* dst, int i0, int mc, int k0, int kc, int mr) {
    for (int s = 0; s < mc; s += mr) {
      float* d = dst + (long)(s / mr) * kc * mr;
      int rows = std::min(mr, mc - s);
      if (cs == 1) {
        for (int r = 0; r < rows; r++) {
          const float* src = a + (long)(i0 + s + r) * rs + k0;
          for (int k = 0; k < kc; k++) d[k * mr + r] = src[k];
        }
      } else {
        for (int k = 0; k < kc; k++) {
          const float* src = a + (long)(k0 + k) * cs + (long)(i0 + s) * rs;
          for (int r = 0; r < rows; r++) d[k * mr + r] = src[r * rs];
        }
      }
      for (int r = rows; r < mr; r++)
        for (int k = 0; k < kc; k++) d[k * mr + r] = 0.f;
    }
  };
}
static PackBFn packMatrixB(const float* b, long rs, long cs) {
  return [=](float* dst, int k0, int kc, int j0, int nc) {
    for (int s = 0; s < nc; s += NR) {
      float* d = dst + (long)(s / NR) * kc * NR;
      int cols = std::min(NR, nc - s);
      if (cs == 1) {
        for (int k = 0; k < kc; k++) {
          const float* src = b + (long)(k0 + k) * rs + j0 + s;
          float* dd = d + k * NR;
          std::memcpy(dd, src, sizeof(float) * cols);
          for (int j = cols; j < NR; j++) dd[j] = 0.f;
        }
      } else {
        for (int k = 0; k < kc; k++) {
          float* dd = d + k * NR;
          for (int j = 0; j < cols; j++) dd[j] = b[(long)(k0 + k) * rs + (long)(j0 + s + j) * cs];
          for (int j = cols; j < NR; j++) dd[j] = 0.f;
        }
      }
    }
  };
}

// ------------------------------------------------------------------------------------------
// Convolution geometry (NHWC input [N,H,W,C], filter [KH,KW,C,CO], output [N,OH,OW,CO]).
// ih = oh*sh - padTop + kh*dh, iw = ow*sw - padLeft + kw*dw; pads may be negative.
// ------------------------------------------------------------------------------------------
struct Geo {
  long n, h, w, c, kh, kw, co, oh, ow, sh, sw, dh, dw, pt, pl;
};

// Forward conv: y[M = N*OH*OW, CO] = im2col(x) * w[KH*KW*C, CO]. Per tile of MR_ output
// pixels, the im2col rows are gathered (contiguous channel runs, zeros for padding) into a small
// per-thread panel in the layout panelKernel reads; the filter is packed once per call.
template <int MR_, int NV_, bool NARROW = false>
static void convGemm(const float* x, const float* w, float* y, long ldy, const Epilogue* ep, const Geo& g, bool bf16 = false) {
  constexpr int NR_ = NARROW ? 16 : NV_ * VL;
  const long M = g.n * g.oh * g.ow, taps = g.kh * g.kw, K = taps * g.c, N = g.co;
  const long Kp = (K + KB - 1) / KB * KB;
  const long slivers = (N + NR_ - 1) / NR_;
  // Packed filter: slivers of Kp x NR_, zero columns past N and zero rows past K.
  Kept<0> wp((size_t)(slivers * Kp * NR_));
  Kept<1, uint16_t> wp16(bf16 ? (size_t)(slivers * Kp * NR_) : 0);  // the same, as bf16 pairs
  pool().run((int)slivers, [&](int s, int) {
    float* d = wp.p + (long)s * Kp * NR_;
    long cols = std::min<long>(NR_, N - s * NR_);
    for (long k = 0; k < Kp; k++) {
      if (k < K) std::memcpy(d + k * NR_, w + k * N + s * NR_, sizeof(float) * cols);
      for (long j = (k < K ? cols : 0); j < NR_; j++) d[k * NR_ + j] = 0.f;
    }
#if BOT_HAVE_BF16
    if (bf16) pairRowsBf16(d, NR_, Kp, NR_, wp16.data() + (long)s * Kp * NR_);
#endif
  });
  // Tasks: a block of row tiles (panels within ~192 KiB) x a block of column slivers.
  // K in blocks of KCB (fixed: the sums' order never depends on threads): a tile's panel slice and
  // a sliver's filter slice stay in L1/L2 while the tiles of a task reuse them.
  constexpr long KCB = 512;
  const long tiles = 8;
  const long rowBlocks = (M + MR_ * tiles - 1) / (MR_ * tiles);
  const long sliverBlock = std::max<long>(1, 256 / NR_);
  const long colBlocks = (slivers + sliverBlock - 1) / sliverBlock;
  const bool chunked = g.c % KB == 0;  // channel runs start and end on KB boundaries
  pool().run((int)(rowBlocks * colBlocks), [&](int task, int) {
    long rb = task / colBlocks, cb = task % colBlocks;
    thread_local std::vector<float> panelBuf;
    long m0 = rb * MR_ * tiles;
    long ntiles = std::min(tiles, (M - m0 + MR_ - 1) / MR_);
    size_t need = (size_t)(tiles * MR_ * Kp) + 16;
    if (panelBuf.size() < need) panelBuf.resize(need);
    float* panel = panelBuf.data();
    thread_local std::vector<float> rowBuf;
    if (rowBuf.size() < (size_t)Kp) rowBuf.resize((size_t)Kp);
    float* rowTmp = rowBuf.data();
    long ow = m0 % g.ow, oh = (m0 / g.ow) % g.oh, n = m0 / (g.ow * g.oh);  // of row m, stepped below
    for (long t = 0; t < ntiles; t++) {
      float* P = panel + t * MR_ * Kp;
      for (int r = 0; r < MR_; r++) {
        long m = m0 + t * MR_ + r;
        if (m >= M) {
          for (long kb = 0; kb < Kp; kb += KB) std::memset(P + kb * MR_ + r * KB, 0, sizeof(float) * KB);
          continue;
        }
        const long ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
        const float* img = x + n * g.h * g.w * g.c;
        if (++ow == g.ow) {  // on to row m + 1
          ow = 0;
          if (++oh == g.oh) {
            oh = 0;
            n++;
          }
        }
        for (long a = 0; a < g.kh; a++) {
          long ih = ih0 + a * g.dh;
          for (long b = 0; b < g.kw; b++) {
            long iw = iw0 + b * g.dw;
            long k0 = (a * g.kw + b) * g.c;
            const float* src = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) ? img + (ih * g.w + iw) * g.c : nullptr;
            if (chunked) {
              for (long k = 0; k < g.c; k += KB) {
                float* dst = P + (k0 + k) * MR_ + r * KB;
                if (src)
                  std::memcpy(dst, src + k, sizeof(float) * KB);
                else
                  std::memset(dst, 0, sizeof(float) * KB);
              }
            } else {
              float* dst = rowTmp + k0;
              if (src)
                std::memcpy(dst, src, sizeof(float) * g.c);
              else
                std::memset(dst, 0, sizeof(float) * g.c);
            }
          }
        }
        if (!chunked) {  // the gathered row, in KB-wide chunks
          for (long kk = K; kk < Kp; kk++) rowTmp[kk] = 0.f;
          for (long kb = 0; kb < Kp; kb += KB) std::memcpy(P + kb * MR_ + r * KB, rowTmp + kb, sizeof(float) * KB);
          continue;
        }
        for (long kk = K; kk < Kp; kk++) P[(kk / KB) * KB * MR_ + r * KB + kk % KB] = 0.f;
      }
    }
    long s1 = std::min(slivers, (cb + 1) * sliverBlock);
#if BOT_HAVE_BF16
    if (bf16) {  // the panel, element for element, as bf16: a row's k and k+1 stay adjacent
      thread_local std::vector<uint16_t> panel16Buf;
      if (panel16Buf.size() < need) panel16Buf.resize(need);
      uint16_t* panel16 = panel16Buf.data();
      toBf16(panel, panel16, ntiles * MR_ * Kp);
      for (long k0 = 0; k0 < Kp; k0 += KCB) {
        const int klen = (int)std::min(KCB, Kp - k0);
        const bool accumulate = k0 > 0;
        const Epilogue* epk = k0 + klen >= Kp ? ep : nullptr;
        for (long s = cb * sliverBlock; s < s1; s++) {
          const uint16_t* B = wp16.data() + s * Kp * NR_ + k0 * NR_;
          int nr = (int)std::min<long>(NR_, N - s * NR_);
          for (long t = 0; t < ntiles; t++) {
            long mt = m0 + t * MR_;
            const uint16_t* A = panel16 + t * MR_ * Kp + k0 * MR_;
            panelKernelBf16<MR_, NR_ / 16>(klen, A, B, y + mt * ldy + s * NR_, ldy, (int)std::min<long>(MR_, M - mt), nr,
                                           accumulate, epk, (int)(s * NR_));
          }
        }
      }
      return;
    }
#endif
    for (long k0 = 0; k0 < Kp; k0 += KCB) {
      const int klen = (int)std::min(KCB, Kp - k0);
      const bool accumulate = k0 > 0;
      const Epilogue* epk = k0 + klen >= Kp ? ep : nullptr;
      for (long s = cb * sliverBlock; s < s1; s++) {
        const float* B = wp.p + s * Kp * NR_ + k0 * NR_;
        int nr = (int)std::min<long>(NR_, N - s * NR_);
        for (long t = 0; t < ntiles; t++) {
          long mt = m0 + t * MR_;
          const float* A = panel + t * MR_ * Kp + k0 * MR_;
          float* C = y + mt * ldy + s * NR_;
          int mr = (int)std::min<long>(MR_, M - mt);
#if defined(__AVX512F__)
          if constexpr (NARROW) {
            panelKernel16<MR_>(klen, A, B, C, ldy, mr, nr, accumulate, epk, (int)(s * NR_));
            continue;
          }
#endif
          panelKernel<MR_, NV_>(klen, A, B, C, ldy, mr, nr, accumulate, epk, (int)(s * NR_));
        }
      }
    }
  });
}

// Winograd F(2x2, 3x3) for 3x3, stride 1, dilation 1 (2.25x fewer multiplications): per task, a
// block of 2x2 output tiles is transformed (V = B^T d B, vectorised over channels) straight into
// panels, multiplied by the transformed filter (U = G g G^T) in 16 GEMMs, and transformed back
// (Y = A^T M A) with the bias and activation. Block sizes depend on the shape only.
template <int MR_, int NV_, bool NARROW = false>
static void winogradConv(const float* x, const float* w, float* y, const Epilogue* ep, const Geo& g, bool bf16 = false) {
  constexpr int NR_ = NARROW ? 16 : NV_ * VL;
  const long C = g.c, CO = g.co, Cp = (C + KB - 1) / KB * KB;
  const long TH = (g.oh + 1) / 2, TW = (g.ow + 1) / 2, T = g.n * TH * TW;
  const long slivers = (CO + NR_ - 1) / NR_, COp = slivers * NR_;
  // U[xi]: slivers of Cp x NR_ (zero past C and CO).
  Kept<2> up((size_t)(16 * slivers * Cp * NR_));
  std::memset(up.p, 0, sizeof(float) * 16 * slivers * Cp * NR_);
  pool().run((int)((C + 15) / 16), [&](int task, int) {
    std::vector<float> u((size_t)(16 * CO));
    for (long c = task * 16L; c < std::min<long>(C, task * 16L + 16); c++) {
      for (long o = 0; o < CO; o++) {
        float gg[3][3], t[4][3];
        for (int a = 0; a < 3; a++)
          for (int b = 0; b < 3; b++) gg[a][b] = w[((a * 3 + b) * C + c) * CO + o];
        for (int b = 0; b < 3; b++) {
          t[0][b] = gg[0][b];
          t[1][b] = 0.5f * (gg[0][b] + gg[1][b] + gg[2][b]);
          t[2][b] = 0.5f * (gg[0][b] - gg[1][b] + gg[2][b]);
          t[3][b] = gg[2][b];
        }
        for (int a = 0; a < 4; a++) {
          u[(a * 4 + 0) * CO + o] = t[a][0];
          u[(a * 4 + 1) * CO + o] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
          u[(a * 4 + 2) * CO + o] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
          u[(a * 4 + 3) * CO + o] = t[a][2];
        }
      }
      for (int xi = 0; xi < 16; xi++)
        for (long s = 0; s < slivers; s++) {
          long cols = std::min<long>(NR_, CO - s * NR_);
          std::memcpy(up.p + ((xi * slivers + s) * Cp + c) * NR_, u.data() + xi * CO + s * NR_, sizeof(float) * cols);
        }
    }
  });
  // bf16: U's slivers as bf16 pairs (the transformed filter is rounded, like a conv operand).
  std::vector<uint16_t> up16(bf16 ? (size_t)(16 * slivers * Cp * NR_) : 0);
#if BOT_HAVE_BF16
  if (bf16)
    pool().run((int)(16 * slivers), [&](int t, int) {
      pairRowsBf16(up.p + (long)t * Cp * NR_, NR_, Cp, NR_, up16.data() + (long)t * Cp * NR_);
    });
#endif
  const long groups = std::max<long>(1, std::min<long>(8, (256L << 10) / (16 * MR_ * (Cp + COp) * 4)));
  const long TB = groups * MR_;
  const long tasks = (T + TB - 1) / TB;
  pool().run((int)tasks, [&](int task, int) {
    thread_local std::vector<float> vbuf, mbuf, dbuf;
    if (vbuf.size() < (size_t)(16 * TB * Cp)) vbuf.resize((size_t)(16 * TB * Cp));
    if (mbuf.size() < (size_t)(16 * TB * COp)) mbuf.resize((size_t)(16 * TB * COp));
    if (dbuf.size() < (size_t)(16 * Cp)) dbuf.resize((size_t)(16 * Cp));
    float* V = vbuf.data();  // [xi][group][Cp/KB][MR_][KB]
    float* Mb = mbuf.data();  // [xi][TB][COp]
    float* d = dbuf.data();  // [16][Cp]
    const long t0 = task * TB;
    for (long i = 0; i < TB; i++) {
      long t = t0 + i;
      long grp = i / MR_, r = i % MR_;
      if (t >= T) {
        for (int xi = 0; xi < 16; xi++)
          for (long kb = 0; kb < Cp; kb += KB)
            std::memset(V + ((xi * groups + grp) * Cp + kb) * MR_ + r * KB, 0, sizeof(float) * KB);
        continue;
      }
      long tw = t % TW, q = t / TW, th = q % TH, n = q / TH;
      const float* img = x + n * g.h * g.w * C;
      for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
          long ih = 2 * th - g.pt + a, iw = 2 * tw - g.pl + b;
          float* dd = d + (a * 4 + b) * Cp;
          if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) {
            std::memcpy(dd, img + (ih * g.w + iw) * C, sizeof(float) * C);
            for (long c = C; c < Cp; c++) dd[c] = 0.f;
          } else {
            std::memset(dd, 0, sizeof(float) * Cp);
          }
        }
      for (long kb = 0; kb < Cp; kb += KB) {
        float tt[4][4][KB], v[16][KB];
        for (int b = 0; b < 4; b++)
          for (int k = 0; k < KB; k++) {
            float d0 = d[(0 * 4 + b) * Cp + kb + k], d1 = d[(1 * 4 + b) * Cp + kb + k];
            float d2 = d[(2 * 4 + b) * Cp + kb + k], d3 = d[(3 * 4 + b) * Cp + kb + k];
            tt[0][b][k] = d0 - d2;
            tt[1][b][k] = d1 + d2;
            tt[2][b][k] = d2 - d1;
            tt[3][b][k] = d1 - d3;
          }
        for (int a = 0; a < 4; a++)
          for (int k = 0; k < KB; k++) {
            v[a * 4 + 0][k] = tt[a][0][k] - tt[a][2][k];
            v[a * 4 + 1][k] = tt[a][1][k] + tt[a][2][k];
            v[a * 4 + 2][k] = tt[a][2][k] - tt[a][1][k];
            v[a * 4 + 3][k] = tt[a][1][k] - tt[a][3][k];
          }
        for (int xi = 0; xi < 16; xi++) std::memcpy(V + ((xi * groups + grp) * Cp + kb) * MR_ + r * KB, v[xi], sizeof(float) * KB);
      }
    }
#if BOT_HAVE_BF16
    if (bf16) {  // V (same layout as a conv panel) to bf16, then the 16 GEMMs on the bf16 microkernel
      thread_local std::vector<uint16_t> v16buf;
      if (v16buf.size() < (size_t)(16 * TB * Cp)) v16buf.resize((size_t)(16 * TB * Cp));
      toBf16(V, v16buf.data(), 16 * TB * Cp);
      for (int xi = 0; xi < 16; xi++)
        for (long s = 0; s < slivers; s++) {
          const uint16_t* B = up16.data() + (xi * slivers + s) * Cp * NR_;
          for (long grp = 0; grp < groups; grp++)
            panelKernelBf16<MR_, NR_ / 16>((int)Cp, v16buf.data() + (xi * groups + grp) * Cp * MR_, B,
                                           Mb + (xi * TB + grp * MR_) * COp + s * NR_, COp, MR_, NR_, false, nullptr, 0);
        }
    } else
#endif
    for (int xi = 0; xi < 16; xi++)
      for (long s = 0; s < slivers; s++) {
        const float* B = up.p + (xi * slivers + s) * Cp * NR_;
        for (long grp = 0; grp < groups; grp++) {
          const float* A = V + (xi * groups + grp) * Cp * MR_;
          float* Cm = Mb + (xi * TB + grp * MR_) * COp + s * NR_;
#if defined(__AVX512F__)
          if constexpr (NARROW) {
            panelKernel16<MR_>((int)Cp, A, B, Cm, COp, MR_, NR_, false, nullptr, 0);
            continue;
          }
#endif
          panelKernel<MR_, NV_>((int)Cp, A, B, Cm, COp, MR_, NR_, false, nullptr, 0);
        }
      }
    std::vector<float> yo((size_t)(4 * CO));
    for (long i = 0; i < TB; i++) {
      long t = t0 + i;
      if (t >= T) break;
      long tw = t % TW, q = t / TW, th = q % TH, n = q / TH;
      const float* m = Mb + i * COp;
      const long xs = TB * COp;  // stride between xi
      float* y00 = yo.data();
      float* y01 = y00 + CO;
      float* y10 = y01 + CO;
      float* y11 = y10 + CO;
      for (long o = 0; o < CO; o++) {
        float s0[4], s1[4];
        for (int b = 0; b < 4; b++) {
          float m0 = m[(0 * 4 + b) * xs + o], m1 = m[(1 * 4 + b) * xs + o];
          float m2 = m[(2 * 4 + b) * xs + o], m3 = m[(3 * 4 + b) * xs + o];
          s0[b] = m0 + m1 + m2;
          s1[b] = m1 - m2 - m3;
        }
        float bo = ep && ep->bias ? ep->bias[o] : 0.f;
        float r00 = s0[0] + s0[1] + s0[2] + bo, r01 = s0[1] - s0[2] - s0[3] + bo;
        float r10 = s1[0] + s1[1] + s1[2] + bo, r11 = s1[1] - s1[2] - s1[3] + bo;
        if (ep && ep->relu) {
          r00 = r00 > 0.f ? r00 : 0.f;
          r01 = r01 > 0.f ? r01 : 0.f;
          r10 = r10 > 0.f ? r10 : 0.f;
          r11 = r11 > 0.f ? r11 : 0.f;
        }
        y00[o] = r00;
        y01[o] = r01;
        y10[o] = r10;
        y11[o] = r11;
      }
      const float* outs[2][2] = {{y00, y01}, {y10, y11}};
      for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
          long oh = 2 * th + a, ow = 2 * tw + b;
          if (oh < g.oh && ow < g.ow) std::memcpy(y + ((n * g.oh + oh) * g.ow + ow) * CO, outs[a][b], sizeof(float) * CO);
        }
    }
  });
}

// Elements per task of a reduction over `total` floats: 8+ tasks where there are 8192+ floats (ResNet-20's
// filter gradients have 432-36,864), at most 16384, a multiple of 16. Splitting the elements changes no sum.
static long reduceBlock(long total) { return std::min(16384L, std::max(1024L, (total + 8 * 16 - 1) / (8 * 16) * 16)); }

// The filter gradient summed over image chunks: dw[i] = sum over c of partial[c * total + i], in chunk order
// (a fixed order, so the result does not depend on the thread count).
static void sumChunkPartials(const float* partial, long nchunks, long total, float* dw) {
  const long per = reduceBlock(total);
  pool().run((int)((total + per - 1) / per), [&](int t, int) {
    const long a = t * per, b = std::min(total, a + per);
    std::memcpy(dw + a, partial + a, sizeof(float) * (b - a));
    for (long c = 1; c < nchunks; c++) {  // dw[i] = ((p0 + p1) + p2) + ...: the same order, vectorised over i
      const float* src = partial + c * total;
      for (long i = a; i < b; i++) dw[i] += src[i];
    }
  });
}

#if BOT_HAVE_BF16
// ------------------------------------------------------------------------------------------
// Direct bf16 convolutions for stride 1, dilation 1 (implicit GEMM: no im2col panel). The input
// is converted to bf16 once, into zero-padded rows, and the microkernels broadcast their A
// operand straight from it: the MR_ pixels of a tile are consecutive in a padded row, so every
// broadcast has a constant displacement. For narrow layers (16-32 channels, K = 9C small) the
// im2col gather and its conversion cost more than the multiply-adds; this skips both.
// ------------------------------------------------------------------------------------------

// dst[j][c] (j < npix, c < CP) = bf16(row[(q0 + j) * C + c]) for pixels q0 + j in [0, W) and c < C, else 0.
BOT_BF16 static void padPixelsBf16(const float* row, long W, long C, long q0, long npix, long CP, uint16_t* dst) {
  // The pixels inside the row, when no channel padding is needed: one contiguous conversion
  // (unmasked stores; masked ones are slow on Zen 4).
  const long j0 = std::max<long>(0, -q0), j1 = std::min<long>(npix, W - q0);
  const bool bulk = C == CP && j0 < j1;
  if (bulk) toBf16(row + (q0 + j0) * C, dst + j0 * CP, (j1 - j0) * C);
  for (long j = 0; j < npix; j++) {
    if (bulk && j >= j0 && j < j1) {
      j = j1 - 1;
      continue;
    }
    const long q = q0 + j;
    uint16_t* d = dst + j * CP;
    if (q < 0 || q >= W) {
      std::memset(d, 0, sizeof(uint16_t) * CP);
      continue;
    }
    const float* s = row + q * C;
    for (long c = 0; c < CP; c += 16) {
      const long n = std::max(0L, std::min(16L, C - c)), nd = std::min(16L, CP - c);
      const __mmask16 m = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
      __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s + c));
      _mm256_mask_storeu_epi16(d + c, (__mmask16)(nd == 16 ? 0xFFFF : (1u << nd) - 1), (__m256i)h);
    }
  }
}

// dst[j][c][2] (j < npairs, c < dstC) = bf16 of (pixel p = q0 + 2 step j, channel c) and (pixel p + step, c):
// the pairs VDPBF16PS multiplies when the reduction runs over pixels (output pixels ow, ow + 1 at
// stride `step`). Pixels outside [0, W) and channels past C are zero.
BOT_BF16 static void pairPixelsBf16(const float* row, long W, long C, long q0, long npairs, long dstC, uint16_t* dst, long step = 1) {
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5,
                                       20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  // Pairs with both pixels inside the row, and whole 16-channel vectors: unmasked (masked stores are slow).
  const long jFull0 = q0 >= 0 ? 0 : (-q0 + 2 * step - 1) / (2 * step);
  const long jFull1 = std::min<long>(npairs, W - 1 - step - q0 < 0 ? 0 : (W - 1 - step - q0) / (2 * step) + 1);
  if (C % 16 == 0 && dstC == C && jFull0 < jFull1) {
    for (long j = jFull0; j < jFull1; j++) {
      const float* s0 = row + (q0 + 2 * step * j) * C;
      uint16_t* d = dst + j * 2 * C;
      for (long c = 0; c < C; c += 16) {
        __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s0 + step * C + c), _mm512_loadu_ps(s0 + c));
        _mm512_storeu_si512((void*)(d + 2 * c), _mm512_permutexvar_epi16(idx, (__m512i)h));
      }
    }
  }
  for (long j = 0; j < npairs; j++) {
    if (C % 16 == 0 && dstC == C && j >= jFull0 && j < jFull1) {
      j = jFull1 - 1;
      continue;
    }
    const long p0 = q0 + 2 * step * j, p1 = p0 + step;
    const bool v0 = p0 >= 0 && p0 < W, v1 = p1 >= 0 && p1 < W;
    uint16_t* d = dst + j * 2 * dstC;
    for (long c = 0; c < dstC; c += 16) {
      const long n = std::max(0L, std::min(16L, C - c)), nd = std::min(16L, dstC - c);
      const __mmask16 m = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
      __m512 a = v0 ? _mm512_maskz_loadu_ps(m, row + p0 * C + c) : _mm512_setzero_ps();
      __m512 b = v1 ? _mm512_maskz_loadu_ps(m, row + p1 * C + c) : _mm512_setzero_ps();
      __m512i v = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));  // [a0 b0 a1 b1 ...]
      _mm512_mask_storeu_epi16(d + 2 * c, (__mmask32)(nd == 16 ? 0xFFFFFFFFu : (1u << (2 * nd)) - 1), v);
    }
  }
}

// One tile of the direct forward conv: MR_ consecutive output pixels of a row x NV_*16 output
// channels. X: the tile's first pixel in the padded bf16 rows (CP channels a pixel, rowStride
// elements a padded row; the tile's pixels SW apart); Bw: the sliver's filter, [tap][CP/2][NV_*16][2].
template <int CP, int SW, int MR_, int NV_>
BOT_BF16 static void directTileBf16(const uint16_t* __restrict X, long rowStride, int KH, int KW, const uint16_t* __restrict Bw,
                                    float* C, long ldc, int mr, int nr, const Epilogue* ep, int j0) {
  __m512 c[MR_][NV_];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV_; v++) c[r][v] = _mm512_setzero_ps();
  for (int a = 0; a < KH; a++) {
    for (int b = 0; b < KW; b++) {
      const uint16_t* xp = X + a * rowStride + b * CP;
      for (int cp = 0; cp < CP / 2; cp++) {
        __m512bh bv[NV_];
        for (int v = 0; v < NV_; v++) bv[v] = (__m512bh)_mm512_loadu_si512((const void*)(Bw + v * 32));
        for (int r = 0; r < MR_; r++) {
          __m512bh av = (__m512bh)_mm512_set1_epi32(*(const i32alias*)(xp + r * SW * CP + 2 * cp));
          for (int v = 0; v < NV_; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], av, bv[v]);
        }
        Bw += NV_ * 32;
      }
    }
  }
  storeTile<MR_, NV_>(c, C, ldc, mr, nr, false, ep, j0);
}

template <int CP, int SW, int MR_, int NV_>
// ys: the output's strides in floats (image, row, pixel), null for a dense [N, OH, OW, CO] output.
static void directConvBf16(const float* x, const float* w, float* y, const Epilogue* ep, const Geo& g, const long* ys) {
  const long yImg = ys ? ys[0] : g.oh * g.ow * g.co, yRow = ys ? ys[1] : g.ow * g.co, yPix = ys ? ys[2] : g.co;
  constexpr int NR_ = NV_ * 16;
  const long taps = g.kh * g.kw, slivers = (g.co + NR_ - 1) / NR_;
  const long OWt = (g.ow + MR_ - 1) / MR_ * MR_, Wp = (OWt - 1) * SW + g.kw;  // tiles may read past OW: zeros
  // Filter slivers: [tap][CP/2][NR_][2], zero past C and CO.
  const long sliverLen = taps * CP * NR_;
  std::vector<uint16_t> w16((size_t)(slivers * sliverLen));
  pool().run((int)slivers, [&](int s, int) {
    std::vector<float> tmp((size_t)(taps * CP * NR_), 0.f);
    const long cols = std::min<long>(NR_, g.co - s * NR_);
    for (long t = 0; t < taps; t++)
      for (long c = 0; c < g.c; c++) std::memcpy(tmp.data() + (t * CP + c) * NR_, w + (t * g.c + c) * g.co + s * NR_, sizeof(float) * cols);
    pairRowsBf16(tmp.data(), NR_, taps * CP, NR_, w16.data() + s * sliverLen);
  });
  // Tasks: an image's block of output rows; each converts the padded input rows it reads.
  const long rowsPer = g.n >= 8 ? g.oh : std::max<long>(1, (g.oh + 7) / 8);
  const long rowBlocks = (g.oh + rowsPer - 1) / rowsPer;
  pool().run((int)(g.n * rowBlocks), [&](int task, int) {
    const long n = task / rowBlocks, oh0 = (task % rowBlocks) * rowsPer, oh1 = std::min(g.oh, oh0 + rowsPer);
    const long prow = (oh1 - oh0 - 1) * g.sh + g.kh;
    thread_local std::vector<uint16_t> buf;
    if (buf.size() < (size_t)(prow * Wp * CP + 64)) buf.resize((size_t)(prow * Wp * CP + 64));
    const float* img = x + n * g.h * g.w * g.c;
    for (long i = 0; i < prow; i++) {
      const long ih = oh0 * g.sh + i - g.pt;
      uint16_t* d = buf.data() + i * Wp * CP;
      if (ih < 0 || ih >= g.h)
        std::memset(d, 0, sizeof(uint16_t) * Wp * CP);
      else
        padPixelsBf16(img + ih * g.w * g.c, g.w, g.c, -g.pl, Wp, CP, d);
    }
    for (long oh = oh0; oh < oh1; oh++)
      for (long ow0 = 0; ow0 < g.ow; ow0 += MR_) {
        const uint16_t* X = buf.data() + ((oh - oh0) * g.sh * Wp + ow0 * SW) * CP;
        float* yrow = y + n * yImg + oh * yRow + ow0 * yPix;
        const int mr = (int)std::min<long>(MR_, g.ow - ow0);
        for (long s = 0; s < slivers; s++)
          directTileBf16<CP, SW, MR_, NV_>(X, Wp * CP, (int)g.kh, (int)g.kw, w16.data() + s * sliverLen, yrow + s * NR_, yPix, mr,
                                      (int)std::min<long>(NR_, g.co - s * NR_), ep, (int)(s * NR_));
      }
  });
}

// The direct forward conv where it applies: dilation 1, pads >= 0, output rows of 8+ pixels (a
// tile is MR_ pixels of one row), and a channel count it is instantiated for (the pixel stride
// CP * SW is a compile-time constant, so every broadcast has a fixed displacement): stride 1, or
// stride 2 (any height stride 1-2) with 13-16, 25-32 or 49-64 channels. Up to 16 output channels:
// one 16-wide vector a row (MR_ 16, or 8 for rows of 8-31 pixels that 16 does not divide); more:
// 2 vectors (MR_ 8). False: use another path. check: only say whether it applies.
static bool directConvBf16Dispatch(const float* x, const float* w, float* y, const Epilogue* ep, const Geo& g,
                                   const long* ys = nullptr, bool check = false) {
  if (g.sh > 2 || g.sw > 2 || g.dh != 1 || g.dw != 1 || g.pt < 0 || g.pl < 0 || g.ow < 8) return false;
  const bool narrow = g.co <= 16, mr16 = g.ow % 16 == 0 || g.ow >= 32;
#define BOT_DIRECT(CPV, SWV)                                 \
  {                                                          \
    if (check) return true;                                  \
    if (!narrow)                                             \
      directConvBf16<CPV, SWV, 8, 2>(x, w, y, ep, g, ys);    \
    else if (mr16)                                           \
      directConvBf16<CPV, SWV, 16, 1>(x, w, y, ep, g, ys);   \
    else                                                     \
      directConvBf16<CPV, SWV, 8, 1>(x, w, y, ep, g, ys);    \
    return true;                                             \
  }
  if (g.sw == 1) {
    if (g.c == 3 || g.c == 4) BOT_DIRECT(4, 1)
    if (g.c > 4 && g.c <= 8) BOT_DIRECT(8, 1)
    if (g.c > 12 && g.c <= 16) BOT_DIRECT(16, 1)
    if (g.c > 24 && g.c <= 32) BOT_DIRECT(32, 1)
    if (g.c > 48 && g.c <= 64) BOT_DIRECT(64, 1)
  } else {
    if (g.c > 12 && g.c <= 16) BOT_DIRECT(16, 2)
    if (g.c > 24 && g.c <= 32) BOT_DIRECT(32, 2)
    if (g.c > 48 && g.c <= 64) BOT_DIRECT(64, 2)
  }
#undef BOT_DIRECT
  return false;
}

// Stride-2 input gradient as 4 stride-1 direct convs (sub-pixel): the dx pixels of one parity
// class (ih + pt, iw + pl) = (2m + ph, 2m' + pw) get dy[m - k][m' - l] * w[ph + 2k][pw + 2l] summed
// over the taps of that parity, i.e. the forward conv of dy with those taps flipped and in/out
// swapped, written into every other dx pixel. A class with no taps is zero. False (nothing
// written): some class's conv is not one the direct kernel runs, or has rows under 16 pixels.
static void transposeBlocked(const float* src, long rows, long cols, float* dst);
static bool subpixelDxBf16(const float* dy, const float* w, float* dx, const Geo& g) {
  if (g.sh != 2 || g.sw != 2 || g.dh != 1 || g.dw != 1 || g.pt < 0 || g.pl < 0) return false;
  struct Cls {
    Geo f;
    long K, L, ih0, iw0;
  };
  std::vector<Cls> cls;
  for (long ph = 0; ph < 2; ph++)
    for (long pw = 0; pw < 2; pw++) {
      const long K = g.kh > ph ? (g.kh - ph + 1) / 2 : 0, L = g.kw > pw ? (g.kw - pw + 1) / 2 : 0;
      // output pixels m of the class: 0 <= 2m + ph - pt < H
      const long m0 = (g.pt - ph + 1) >= 0 ? (g.pt - ph + 1) / 2 : -((ph - g.pt) / 2);
      const long m1 = (g.h - 1 + g.pt - ph) >= 0 ? (g.h - 1 + g.pt - ph) / 2 + 1 : 0;
      const long n0 = (g.pl - pw + 1) >= 0 ? (g.pl - pw + 1) / 2 : -((pw - g.pl) / 2);
      const long n1 = (g.w - 1 + g.pl - pw) >= 0 ? (g.w - 1 + g.pl - pw) / 2 + 1 : 0;
      if (m1 <= m0 || n1 <= n0) continue;  // no dx pixels of this parity
      Cls c{Geo{g.n, g.oh, g.ow, g.co, std::max(K, 1L), std::max(L, 1L), g.c, m1 - m0, n1 - n0, 1, 1, 1, 1, K - 1 - m0, L - 1 - n0}, K, L,
            2 * m0 + ph - g.pt, 2 * n0 + pw - g.pl};
      // Rows of 16+ pixels: with 8-15 the tiles' waste and the 4 conversions of dy measured slower
      // than the GEMM + col2im path (ResNet-20's 32->64 /2: 0.88 -> 1.21 ms; 16->32 /2: 2.29 -> 1.59).
      if (K > 0 && L > 0 && (c.f.ow < 16 || !directConvBf16Dispatch(nullptr, nullptr, nullptr, nullptr, c.f, nullptr, true))) return false;
      cls.push_back(c);
    }
  const long ys[3] = {g.h * g.w * g.c, 2 * g.w * g.c, 2 * g.c};
  for (const Cls& c : cls) {
    float* out = dx + (c.ih0 * g.w + c.iw0) * g.c;
    if (c.K == 0 || c.L == 0) {
      pool().run((int)g.n, [&](int n, int) {
        for (long i = 0; i < c.f.oh; i++)
          for (long j = 0; j < c.f.ow; j++) std::memset(out + n * ys[0] + i * ys[1] + j * ys[2], 0, sizeof(float) * g.c);
      });
      continue;
    }
    // filter [k'][l'][o][c] = w[ph + 2(K-1-k')][pw + 2(L-1-l')][c][o]
    const long ph = (c.ih0 + g.pt) & 1, pw = (c.iw0 + g.pl) & 1;
    Kept<5> wf((size_t)(c.K * c.L * g.co * g.c));
    for (long k = 0; k < c.K; k++)
      for (long l = 0; l < c.L; l++) {
        const float* src = w + ((ph + 2 * (c.K - 1 - k)) * g.kw + (pw + 2 * (c.L - 1 - l))) * g.c * g.co;
        transposeBlocked(src, g.c, g.co, wf.data() + (k * c.L + l) * g.co * g.c);
      }
    directConvBf16Dispatch(dy, wf.data(), out, nullptr, c.f, ys);
  }
  return true;
}

// One tile of the direct filter gradient: MR_ input channels x NV_*16 output channels of one tap,
// summed over the pixel pairs of `nrows` output rows. X: (pixel pair, channel) pairs of the tap's
// shifted input (xStep elements a pair); D: dy's pairs ([pair][COp][2], dStep a pair).
template <int MR_, int NV_>
BOT_BF16 static void dwTileBf16(int nrows, const long* xOff, const long* dOff, int pairs, long xStep, long dStep,
                                const uint16_t* __restrict X, const uint16_t* __restrict D, float* C, long ldc, int mr, int nr) {
  __m512 c[MR_][NV_];
  for (int r = 0; r < MR_; r++)
    for (int v = 0; v < NV_; v++) c[r][v] = _mm512_setzero_ps();
  for (int t = 0; t < nrows; t++) {
    const uint16_t* xa = X + xOff[t];
    const uint16_t* db = D + dOff[t];
    for (int u = 0; u < pairs; u++) {
      __m512bh bv[NV_];
      for (int v = 0; v < NV_; v++) bv[v] = (__m512bh)_mm512_loadu_si512((const void*)(db + v * 32));
      for (int r = 0; r < MR_; r++) {
        __m512bh av = (__m512bh)_mm512_set1_epi32(*(const i32alias*)(xa + 2 * r));
        for (int v = 0; v < NV_; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], av, bv[v]);
      }
      xa += xStep;
      db += dStep;
    }
  }
  storeTile<MR_, NV_>(c, C, ldc, mr, nr, false, nullptr, 0);
}


// dW[tap][c][o] = sum over pixels of x(shifted by the tap)[c] * dy[o], for dilation 1, pads >= 0.
// The reduction runs over pixel pairs (ow, ow + 1) of each output row (an odd width gets a zero dy
// column). Images in fixed chunks (by shape only): each chunk converts its x and dy to bf16 pairs
// (x in up to 2 * stride copies, one for each tap column's offset modulo a pair's span) and sums
// its partial dW; the partials are added in chunk order.
template <int MR_, int NV_>
static void dwDirectBf16(const float* x, const float* dy, float* dw, const Geo& g) {
  constexpr int NR_ = NV_ * 16;
  const long C = g.c, CO = g.co, Kf = g.kh * g.kw * C, slivers = (CO + NR_ - 1) / NR_, COp = slivers * NR_;
  // Tap column b reads pixel pairs (2u sw + b, (2u + 1) sw + b) of the padded row: copy b % (2 sw) of
  // the row's pairs, shifted by b / (2 sw) pairs (stride 1: the even and the odd pairs).
  const long sw2 = 2 * g.sw, ncopy = std::min<long>(g.kw, sw2);
  const long OWh = (g.ow + 1) / 2, Hpd = (g.oh - 1) * g.sh + g.kh, Wph = OWh + (g.kw - 1) / sw2;
  const long Cx = (C + MR_ - 1) / MR_ * MR_;  // channels a pixel pair holds: C, then zeros up to whole tiles
  // ~1024 pixels a chunk, at least 8 chunks where there are 8 images (for the threads), and at most
  // 64 chunks (the partial sums kept between calls stay <= 64 x KH KW C CO floats).
  const long imgsPerChunk =
      std::max<long>((g.n + 63) / 64, std::max<long>(1, std::min<long>(1024 / (g.oh * g.ow), (g.n + 7) / 8)));
  const long nchunks = (g.n + imgsPerChunk - 1) / imgsPerChunk;
  // The calling thread's buffer, kept between calls: a fresh allocation of this size is mmapped
  // and page-faulted anew each call (measured ~2 ms a call for 590 KB here, in a VM).
  thread_local std::vector<float> partialBuf;
  if (nchunks > 1 && partialBuf.size() < (size_t)(nchunks * Kf * CO)) partialBuf.resize((size_t)(nchunks * Kf * CO));
  struct {
    float* p;
  } partial{partialBuf.data()};
  pool().run((int)nchunks, [&](int chunk, int) {
    const long n0 = chunk * imgsPerChunk, nimg = std::min(imgsPerChunk, g.n - n0);
    thread_local std::vector<uint16_t> xbuf, dbuf;
    thread_local std::vector<long> xoffs, doffs;
    const long xPar = nimg * Hpd * Wph * 2 * Cx;  // one copy's pairs
    if (xbuf.size() < (size_t)(ncopy * xPar)) xbuf.resize((size_t)(ncopy * xPar));
    if (dbuf.size() < (size_t)(nimg * g.oh * OWh * 2 * COp)) dbuf.resize((size_t)(nimg * g.oh * OWh * 2 * COp));
    for (long n = 0; n < nimg; n++) {
      const float* img = x + (n0 + n) * g.h * g.w * C;
      for (long par = 0; par < ncopy; par++)
        for (long i = 0; i < Hpd; i++) {
          uint16_t* d = xbuf.data() + par * xPar + (n * Hpd + i) * Wph * 2 * Cx;
          const long ih = i - g.pt;
          if (ih < 0 || ih >= g.h)
            std::memset(d, 0, sizeof(uint16_t) * Wph * 2 * Cx);
          else
            pairPixelsBf16(img + ih * g.w * C, g.w, C, par - g.pl, Wph, Cx, d, g.sw);
        }
      for (long oh = 0; oh < g.oh; oh++)
        pairPixelsBf16(dy + (((n0 + n) * g.oh + oh) * g.ow) * CO, g.ow, CO, 0, OWh, COp, dbuf.data() + (n * g.oh + oh) * OWh * 2 * COp);
    }
    const long nrows = nimg * g.oh;
    xoffs.resize((size_t)nrows);
    doffs.resize((size_t)nrows);
    float* out = nchunks > 1 ? partial.p + chunk * Kf * CO : dw;
    for (long a = 0; a < g.kh; a++) {
      for (long t = 0; t < nrows; t++) {
        const long n = t / g.oh, oh = t % g.oh;
        xoffs[t] = (n * Hpd + oh * g.sh + a) * Wph * 2 * Cx;
        doffs[t] = t * OWh * 2 * COp;
      }
      for (long b = 0; b < g.kw; b++) {
        const uint16_t* X = xbuf.data() + (b % sw2) * xPar + (b / sw2) * 2 * Cx;
        for (long c0 = 0; c0 < C; c0 += MR_)
          for (long s = 0; s < slivers; s++)
            dwTileBf16<MR_, NV_>((int)nrows, xoffs.data(), doffs.data(), (int)OWh, 2 * Cx, 2 * COp, X + 2 * c0, dbuf.data() + s * NR_ * 2,
                                 out + ((a * g.kw + b) * C + c0) * CO + s * NR_, CO, (int)std::min<long>(MR_, C - c0),
                                 (int)std::min<long>(NR_, CO - s * NR_));
      }
    }
  });
  if (nchunks > 1) sumChunkPartials(partial.p, nchunks, Kf * CO, dw);
}

// Where it applies: strides 1-2, dilation 1, pads >= 0, at most 64 input and 64 output channels
// (the chunks' partial dW stay small; 1-4 input channels take 4-channel tiles); else false.
static bool dwDirectBf16Dispatch(const float* x, const float* dy, float* dw, const Geo& g) {
  if (g.sh > 2 || g.sw > 2 || g.dh != 1 || g.dw != 1 || g.pt < 0 || g.pl < 0 || g.c > 64 || g.co > 64) return false;
  if (g.c <= 4 && g.co <= 16)
    dwDirectBf16<4, 1>(x, dy, dw, g);
  else if (g.c <= 4)
    dwDirectBf16<4, 2>(x, dy, dw, g);
  else if (g.co <= 16)
    dwDirectBf16<16, 1>(x, dy, dw, g);
  else
    dwDirectBf16<8, 2>(x, dy, dw, g);
  return true;
}
#endif

static void conv2dForward(const float* x, const float* w, float* y, const float* bias, bool relu, const Geo& g, bool bf16 = false) {
  Epilogue ep;
  ep.bias = bias;
  ep.relu = relu;
  const Epilogue* epp = (bias || relu) ? &ep : nullptr;
  // Winograd where it measured faster than the direct GEMM: 32+ channels in and out (fewer, and
  // the transforms cost more than the multiplications saved), at most 256x256 (the per-call filter
  // transform grows with C*CO while 2x2-pixel layers have few tiles to amortise it).
  const bool winograd = g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.c >= 32 &&
                        g.co >= 32 && g.c * g.co <= 256 * 256 && useWinograd.load();
#if BOT_HAVE_BF16
  // bf16, stride 1: the direct kernels where they apply (measured 1.3-3x faster than Winograd's bf16
  // GEMMs on ResNet-20's 16-64-channel layers: VDPBF16PS doubles the multiply rate, the transforms' cost stays).
  if (bf16 && useDirectBf16.load() && directConvBf16Dispatch(x, w, y, epp, g)) return;
  if (bf16 && winograd) return g.co <= 16 ? winogradConv<12, 1, true>(x, w, y, epp, g, true) : winogradConv<12, 2>(x, w, y, epp, g, true);
  if (bf16) return g.co <= 16 ? convGemm<12, 1, true>(x, w, y, g.co, epp, g, true) : convGemm<12, 2>(x, w, y, g.co, epp, g, true);
#endif
#if defined(__AVX512F__)
  if (winograd) return g.co <= 16 ? winogradConv<12, 1, true>(x, w, y, epp, g) : winogradConv<12, 2>(x, w, y, epp, g);
  if (g.co <= 16) return convGemm<12, 1, true>(x, w, y, g.co, epp, g);
  return convGemm<12, 2>(x, w, y, g.co, epp, g);
#else
  if (winograd) return g.co <= 8 ? winogradConv<12, 1>(x, w, y, epp, g) : winogradConv<6, 2>(x, w, y, epp, g);
  if (g.co <= 8) return convGemm<12, 1>(x, w, y, g.co, epp, g);
  return convGemm<6, 2>(x, w, y, g.co, epp, g);
#endif
}

// dst[c * rows + r] = src[r * cols + c], in 32x32 blocks so both sides stay in L1 (a plain loop
// strides through one of them: ~10 ms on a 3x3x512x512 filter).
static void transposeBlocked(const float* src, long rows, long cols, float* dst) {
  constexpr long TB = 32;
  for (long r0 = 0; r0 < rows; r0 += TB)
    for (long c0 = 0; c0 < cols; c0 += TB) {
      long r1 = std::min(rows, r0 + TB), c1 = std::min(cols, c0 + TB);
      for (long c = c0; c < c1; c++)
        for (long r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
    }
}

// dx = conv(dy, flipped and transposed filter) for stride 1; for larger strides a 1x1 conv of dy
// with w^T gives the columns dcol[pixel, (kh, kw, c)], scattered (col2im) one image per task.
static void conv2dBackpropInput(const float* dy, const float* w, float* dx, const Geo& g, bool bf16) {
  long K = g.kh * g.kw * g.c;
  if (g.sh == 1 && g.sw == 1) {
    Kept<6> wf((size_t)(g.kh * g.kw * g.co * g.c));
    const long taps = g.kh * g.kw;
    pool().run((int)taps, [&](int tap, int) {  // tap (a, b) -> flipped tap, [C][CO] -> [CO][C]
      transposeBlocked(w + tap * g.c * g.co, g.c, g.co, wf.data() + (taps - 1 - tap) * g.co * g.c);
    });
    Geo f{g.n, g.oh, g.ow, g.co, g.kh, g.kw, g.c, g.h, g.w, 1, 1, g.dh, g.dw, g.dh * (g.kh - 1) - g.pt, g.dw * (g.kw - 1) - g.pl};
    conv2dForward(dy, wf.data(), dx, nullptr, false, f, bf16);
    return;
  }
#if BOT_HAVE_BF16
  if (bf16 && useDirectBf16.load() && subpixelDxBf16(dy, w, dx, g)) return;
#endif
  // w^T as a 1x1 filter [CO, K].
  Kept<7> wt((size_t)(g.co * K));
  transposeBlocked(w, K, g.co, wt.data());
  long pix = g.oh * g.ow;
  // bf16: columns in ~1 MB chunks (cache-sized; the bf16 GEMM is fast enough for the columns' memory
  // traffic to show) in the calling thread's buffer, kept between calls (a fresh ~10 MB vector is
  // zeroed and page-faulted each call). Each column and each dx sum is computed as before: the
  // chunking changes only the order in which images are done. float32 keeps its buffer too: a fresh
  // one (9.4 MB for ResNet-20's 16->32 /2) was zeroed serially on every call, ~0.6 ms of a 2.5 ms call.
  long imgsPerChunk = std::max<long>(1, ((bf16 ? 1L : 4L) << 20) / std::max<long>(1, pix * K));
  const size_t colLen = (size_t)(std::min(imgsPerChunk, g.n) * pix * K);
  thread_local std::vector<float> colKept;
  if (colKept.size() < colLen) colKept.resize(colLen);
  float* const col = colKept.data();
  for (long n0 = 0; n0 < g.n; n0 += imgsPerChunk) {
    long nimg = std::min(imgsPerChunk, g.n - n0);
    Geo one{nimg, g.oh, g.ow, g.co, 1, 1, K, g.oh, g.ow, 1, 1, 1, 1, 0, 0};
    conv2dForward(dy + n0 * pix * g.co, wt.data(), col, nullptr, false, one, bf16);
    pool().run((int)nimg, [&](int t, int) {
      float* img = dx + (n0 + t) * g.h * g.w * g.c;
      std::memset(img, 0, sizeof(float) * g.h * g.w * g.c);
      const float* cimg = col + (long)t * pix * K;
      for (long oh = 0; oh < g.oh; oh++)
        for (long ow = 0; ow < g.ow; ow++) {
          const float* row = cimg + (oh * g.ow + ow) * K;
          for (long a = 0; a < g.kh; a++) {
            long ih = oh * g.sh - g.pt + a * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (long b = 0; b < g.kw; b++) {
              long iw = ow * g.sw - g.pl + b * g.dw;
              if (iw < 0 || iw >= g.w) continue;
              float* dst = img + (ih * g.w + iw) * g.c;
              const float* src = row + (a * g.kw + b) * g.c;
              for (long ci = 0; ci < g.c; ci++) dst[ci] += src[ci];
            }
          }
        }
    });
  }
}

// B(k = pixel m, j = (kh, kw, c)) = im2col(m, j): each sliver row is a few contiguous runs of x.
static PackBFn packIm2colRows(const float* x, const Geo& g) {
  return [=](float* dst, int k0, int kc, int j0, int nc) {
    for (int s = 0; s < nc; s += NR) {
      float* d = dst + (long)(s / NR) * kc * NR;
      int cols = std::min(NR, nc - s);
      // runs of this sliver: (column offset, tap dh offset, tap dw offset, channel, length)
      struct Run {
        int off;
        long dh, dw, c, len;
      } runs[NR];
      int nrun = 0;
      for (int j = 0; j < cols;) {
        long kf = j0 + s + j, tap = kf / g.c, c = kf % g.c;
        long len = std::min<long>(g.c - c, cols - j);
        runs[nrun++] = Run{j, (tap / g.kw) * g.dh, (tap % g.kw) * g.dw, c, len};
        j += (int)len;
      }
      long m = k0;
      long ow = m % g.ow, q = m / g.ow, oh = q % g.oh, n = q / g.oh;
      for (int k = 0; k < kc; k++) {
        float* dd = d + (long)k * NR;
        const float* img = x + n * g.h * g.w * g.c;
        long ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
        for (int r = 0; r < nrun; r++) {
          long ih = ih0 + runs[r].dh, iw = iw0 + runs[r].dw;
          if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
            std::memcpy(dd + runs[r].off, img + (ih * g.w + iw) * g.c + runs[r].c, sizeof(float) * runs[r].len);
          else
            std::memset(dd + runs[r].off, 0, sizeof(float) * runs[r].len);
        }
        for (int j = cols; j < NR; j++) dd[j] = 0.f;
        if (++ow == g.ow) {
          ow = 0;
          if (++oh == g.oh) {
            oh = 0;
            n++;
          }
        }
      }
    }
  };
}

// A(kf, m) = im2col(m, kf), for dW = im2col^T * dy: per pixel, a sliver's mr consecutive kf are
// (mostly) one contiguous channel run of x.
static PackAFn packIm2colT(const float* x, const Geo& g) {
  return [=](float* dst, int i0, int mc, int k0, int kc, int mr) {
    for (int s = 0; s < mc; s += mr) {
      float* d = dst + (long)(s / mr) * kc * mr;
      int rows = std::min(mr, mc - s);
      long offH[16], offW[16], ch[16];
      for (int r = 0; r < rows; r++) {
        long kf = i0 + s + r, tap = kf / g.c;
        ch[r] = kf % g.c;
        offH[r] = (tap / g.kw) * g.dh;
        offW[r] = (tap % g.kw) * g.dw;
      }
      long m = k0;
      long ow = m % g.ow, q = m / g.ow, oh = q % g.oh, n = q / g.oh;
      for (int k = 0; k < kc; k++) {
        float* dd = d + (long)k * mr;
        const float* img = x + n * g.h * g.w * g.c;
        const long ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
        for (int r = 0; r < rows; r++) {
          long ih = ih0 + offH[r], iw = iw0 + offW[r];
          dd[r] = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) ? img[(ih * g.w + iw) * g.c + ch[r]] : 0.f;
        }
        for (int r = rows; r < mr; r++) dd[r] = 0.f;
        if (++ow == g.ow) {
          ow = 0;
          if (++oh == g.oh) {
            oh = 0;
            n++;
          }
        }
      }
    }
  };
}

// The filter-gradient GEMMs' pixel chunks (their partial sums are added in chunk order): 4096 pixels, or fewer
// (down to 512, a multiple of 256) so that a small layer still has 8+ tasks (chunks x output blocks; ResNet-20's
// 8x8 layers had 1-2). From the shape only, so the sums' order never depends on the thread count.
static long dwChunk(long P, long blocks) {
  const long want = (8 + blocks - 1) / blocks;
  return std::max(512L, std::min(4096L, ((P + want - 1) / want + 255) / 256 * 256));
}
// Columns a task of n output columns takes: n in ceil(n / cap) blocks of about equal width (whole NR-wide
// slivers), so no task is left with a sliver or two (576 filter rows were 512 + 64). Splits no sum.
static int evenColumns(long n, long cap) {
  const long nb = (n + cap - 1) / cap;
  return (int)(((n + nb - 1) / nb + NR - 1) / NR * NR);
}

// dW[K = KH*KW*C, CO] = im2col(x)^T * dy, for layers with more output channels than K (1x1
// expansions): dy is the wide, cheaply packed operand. Same fixed pixel chunks as below.
static void backpropFilterGemmWide(const float* x, const float* dy, float* dw, const Geo& g, bool bf16) {
  long Kf = g.kh * g.kw * g.c, P = g.n * g.oh * g.ow, CO = g.co;
  PackAFn pa = packIm2colT(x, g);
  PackBFn pb = packMatrixB(dy, CO, 1);  // B(m, o) = dy[m*CO + o]
  const int ncb = evenColumns(CO, NC);
  int mb = (int)((Kf + MC - 1) / MC), nb = (int)((CO + ncb - 1) / ncb);
  const long CHUNK = dwChunk(P, mb * nb);
  long nchunks = std::max<long>(1, (P + CHUNK - 1) / CHUNK);
  Kept<3> partial((size_t)(nchunks > 1 ? nchunks * Kf * CO : 1));
  pool().run((int)(nchunks * mb * nb), [&](int t, int) {
    int chunk = t / (mb * nb), blk = t % (mb * nb);
    int i0 = (blk / nb) * MC, j0 = (blk % nb) * ncb;
    long k0 = chunk * CHUNK, k1 = std::min(P, k0 + CHUNK);
    gemmBlock<MR>(pa, pb, i0, (int)std::min<long>(MC, Kf - i0), j0, (int)std::min<long>(ncb, CO - j0), (int)k0, (int)k1,
                  nchunks > 1 ? partial.p + chunk * Kf * CO : dw, CO, false, nullptr, bf16);
  });
  if (nchunks > 1) sumChunkPartials(partial.p, nchunks, Kf * CO, dw);
}

// dW^T[CO, K = KH*KW*C] = dy^T * im2col(x), the pixel reduction cut into fixed chunks (the same
// for any thread count) whose partial sums are added in chunk order; then transposed into dW.
template <int MR_>
static void backpropFilterGemm(const float* x, const float* dy, float* dw, const Geo& g, bool bf16) {
  long Kf = g.kh * g.kw * g.c, P = g.n * g.oh * g.ow, CO = g.co;
  PackAFn pa = packMatrixA(dy, 1, CO);  // A(o, m) = dy[m*CO + o]
  PackBFn pb = packIm2colRows(x, g);
  constexpr int MCF = MR_ * 8;
  const int ncb = evenColumns(Kf, NC);
  int mb = (int)((CO + MCF - 1) / MCF), nb = (int)((Kf + ncb - 1) / ncb);
  const long CHUNK = dwChunk(P, mb * nb);
  long nchunks = std::max<long>(1, (P + CHUNK - 1) / CHUNK);
  Kept<4> partial((size_t)(nchunks * CO * Kf));
  pool().run((int)(nchunks * mb * nb), [&](int t, int) {
    int chunk = t / (mb * nb), blk = t % (mb * nb);
    int i0 = (blk / nb) * MCF, j0 = (blk % nb) * ncb;
    long k0 = chunk * CHUNK, k1 = std::min(P, k0 + CHUNK);
    gemmBlock<MR_>(pa, pb, i0, (int)std::min<long>(MCF, CO - i0), j0, (int)std::min<long>(ncb, Kf - j0), (int)k0, (int)k1,
                   partial.p + chunk * CO * Kf, Kf, false, nullptr, bf16);
  });
  // dw[kf*CO + o] = sum over chunks (in order) of partial[chunk][o*Kf + kf]: the chunks summed into
  // chunk 0 (contiguous), then one blocked transpose.
  const long total = CO * Kf, per = reduceBlock(total);
  if (nchunks > 1) {
    pool().run((int)((total + per - 1) / per), [&](int t, int) {
      long a = t * per, b = std::min(total, a + per);
      for (long c = 1; c < nchunks; c++) {
        const float* src = partial.p + c * total;
        for (long i = a; i < b; i++) partial.p[i] += src[i];
      }
    });
  }
  const long kfBlock = 64;
  pool().run((int)((Kf + kfBlock - 1) / kfBlock), [&](int t, int) {
    long k0 = t * kfBlock, k1 = std::min(Kf, k0 + kfBlock);
    constexpr long TB = 32;
    for (long kb = k0; kb < k1; kb += TB)
      for (long o0 = 0; o0 < CO; o0 += TB) {
        long kbe = std::min(k1, kb + TB), oe = std::min(CO, o0 + TB);
        for (long kf = kb; kf < kbe; kf++)
          for (long o = o0; o < oe; o++) dw[kf * CO + o] = partial.p[o * Kf + kf];
      }
  });
}

static void conv2dBackpropFilter(const float* x, const float* dy, float* dw, const Geo& g, bool bf16) {
#if BOT_HAVE_BF16
  if (bf16 && useDirectBf16.load() && dwDirectBf16Dispatch(x, dy, dw, g)) return;
#endif
  if (g.co >= 2 * g.kh * g.kw * g.c) return backpropFilterGemmWide(x, dy, dw, g, bf16);
#if defined(__AVX512F__)
  if (g.co <= 16) return backpropFilterGemm<8>(x, dy, dw, g, bf16);
#else
  if (g.co <= 8) return backpropFilterGemm<4>(x, dy, dw, g, bf16);
#endif
  return backpropFilterGemm<MR>(x, dy, dw, g, bf16);
}

// ------------------------------------------------------------------------------------------
// Node-API glue: f(arrayBuffer, Float64Array params)
// ------------------------------------------------------------------------------------------
#define NAPI_CALL(env, call)                                        \
  do {                                                              \
    if ((call) != napi_ok) {                                        \
      napi_throw_error((env), nullptr, "native-kernels: " #call " failed"); \
      return nullptr;                                               \
    }                                                               \
  } while (0)

// The precision of the convolution GEMMs, for every later call (setPrecision): false = float32,
// true = bfloat16 operands with float32 sums. Read once per call, so a call never mixes the two.
static std::atomic<bool> useBf16{false};

struct Args {
  uint8_t* base = nullptr;
  size_t length = 0;
  std::vector<double> p;
};

static bool readArgs(napi_env env, napi_callback_info info, size_t nparams, Args& out) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2) {
    napi_throw_type_error(env, nullptr, "native-kernels: expected (heap, Float64Array)");
    return false;
  }
  // The wasm heap: HEAPU8 (a Uint8Array over an ArrayBuffer, or over a SharedArrayBuffer when
  // the wasm build is threaded: V8 hands out the same backing store either way) or an ArrayBuffer.
  bool isAb = false, isHeapView = false;
  napi_is_arraybuffer(env, argv[0], &isAb);
  napi_is_typedarray(env, argv[0], &isHeapView);
  void* data = nullptr;
  if (isAb) {
    napi_get_arraybuffer_info(env, argv[0], &data, &out.length);
  } else if (isHeapView) {
    napi_typedarray_type t;
    if (napi_get_typedarray_info(env, argv[0], &t, &out.length, &data, nullptr, nullptr) != napi_ok || t != napi_uint8_array) {
      napi_throw_type_error(env, nullptr, "native-kernels: the heap view must be a Uint8Array (backend.wasm.HEAPU8)");
      return false;
    }
  } else {
    napi_throw_type_error(env, nullptr, "native-kernels: the first argument must be the wasm heap (HEAPU8 or an ArrayBuffer)");
    return false;
  }
  out.base = (uint8_t*)data;
  bool isTa = false;
  napi_is_typedarray(env, argv[1], &isTa);
  napi_typedarray_type type;
  size_t len = 0;
  void* pdata = nullptr;
  if (!isTa || napi_get_typedarray_info(env, argv[1], &type, &len, &pdata, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || (nparams != 0 && len != nparams)) {
    std::string msg = "native-kernels: the second argument must be a Float64Array of " + std::to_string(nparams) + " numbers";
    napi_throw_type_error(env, nullptr, msg.c_str());
    return false;
  }
  out.p.assign((double*)pdata, (double*)pdata + len);
  return true;
}

#include "momentum.h"
#include "batchnorm.h"
#include "pad.h"

// Pointer to `count` floats at byte offset `off`, or null (with a RangeError thrown) when out of bounds.
static float* at(napi_env env, const Args& a, double off, double count, const char* what) {
  if (!(off >= 0) || !(count >= 0) || off + count * 4 > (double)a.length || ((uint64_t)off & 3) != 0) {
    std::string msg = std::string("native-kernels: ") + what + " lies outside the heap (offset " + std::to_string(off) +
                      ", " + std::to_string(count) + " floats, heap " + std::to_string(a.length) + " bytes)";
    napi_throw_range_error(env, nullptr, msg.c_str());
    return nullptr;
  }
  return (float*)(a.base + (uint64_t)off);
}

static bool readGeo(napi_env env, const std::vector<double>& p, size_t i, Geo& g) {
  long v[15];
  for (int k = 0; k < 15; k++) v[k] = (long)p[i + k];
  g = Geo{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14]};
  if (g.n < 1 || g.h < 1 || g.w < 1 || g.c < 1 || g.kh < 1 || g.kw < 1 || g.co < 1 || g.oh < 1 || g.ow < 1 || g.sh < 1 ||
      g.sw < 1 || g.dh < 1 || g.dw < 1 || g.n * g.oh * g.ow > INT32_MAX || g.kh * g.kw * g.c > INT32_MAX) {
    napi_throw_range_error(env, nullptr, "native-kernels: invalid convolution geometry");
    return false;
  }
  return true;
}

// params: xOff, wOff, yOff, biasOff (-1: none), relu (0/1), geometry (15)
static napi_value Conv2d(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 20, a)) return nullptr;
  Geo g;
  if (!readGeo(env, a.p, 5, g)) return nullptr;
  const float* x = at(env, a, a.p[0], (double)(g.n * g.h * g.w * g.c), "x");
  if (!x) return nullptr;
  const float* w = at(env, a, a.p[1], (double)(g.kh * g.kw * g.c * g.co), "filter");
  if (!w) return nullptr;
  float* y = at(env, a, a.p[2], (double)(g.n * g.oh * g.ow * g.co), "output");
  if (!y) return nullptr;
  const float* bias = nullptr;
  if (a.p[3] >= 0 && !(bias = at(env, a, a.p[3], (double)g.co, "bias"))) return nullptr;
  conv2dForward(x, w, y, bias, a.p[4] != 0, g, useBf16.load());
  return nullptr;
}

// params: dyOff, wOff, dxOff, geometry (15) of the forward conv
static napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 18, a)) return nullptr;
  Geo g;
  if (!readGeo(env, a.p, 3, g)) return nullptr;
  const float* dy = at(env, a, a.p[0], (double)(g.n * g.oh * g.ow * g.co), "dy");
  if (!dy) return nullptr;
  const float* w = at(env, a, a.p[1], (double)(g.kh * g.kw * g.c * g.co), "filter");
  if (!w) return nullptr;
  float* dx = at(env, a, a.p[2], (double)(g.n * g.h * g.w * g.c), "dx");
  if (!dx) return nullptr;
  conv2dBackpropInput(dy, w, dx, g, useBf16.load());
  return nullptr;
}

// params: xOff, dyOff, dwOff, geometry (15) of the forward conv
static napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 18, a)) return nullptr;
  Geo g;
  if (!readGeo(env, a.p, 3, g)) return nullptr;
  const float* x = at(env, a, a.p[0], (double)(g.n * g.h * g.w * g.c), "x");
  if (!x) return nullptr;
  const float* dy = at(env, a, a.p[1], (double)(g.n * g.oh * g.ow * g.co), "dy");
  if (!dy) return nullptr;
  float* dw = at(env, a, a.p[2], (double)(g.kh * g.kw * g.c * g.co), "dw");
  if (!dw) return nullptr;
  conv2dBackpropFilter(x, dy, dw, g, useBf16.load());
  return nullptr;
}

// params: aOff, bOff, cOff, batch, m, k, n, transposeA, transposeB, biasOff (-1), relu
// C[b] (m x n) = op(A[b]) * op(B[b]); A is [b,m,k] ([b,k,m] when transposed), B is [b,k,n] ([b,n,k]).
// A or B with batch stride 0 is broadcast (batch dims of 1).
static napi_value MatMul(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 13, a)) return nullptr;
  long batch = (long)a.p[3], m = (long)a.p[4], k = (long)a.p[5], n = (long)a.p[6];
  bool ta = a.p[7] != 0, tb = a.p[8] != 0;
  long batchA = (long)a.p[11], batchB = (long)a.p[12];
  if (batch < 1 || m < 1 || k < 0 || n < 1 || (batchA != 1 && batchA != batch) || (batchB != 1 && batchB != batch)) {
    napi_throw_range_error(env, nullptr, "native-kernels: invalid matmul shape");
    return nullptr;
  }
  const float* A = at(env, a, a.p[0], (double)(batchA * m * k), "a");
  if (!A) return nullptr;
  const float* B = at(env, a, a.p[1], (double)(batchB * k * n), "b");
  if (!B) return nullptr;
  float* C = at(env, a, a.p[2], (double)(batch * m * n), "c");
  if (!C) return nullptr;
  const float* bias = nullptr;
  if (a.p[9] >= 0 && !(bias = at(env, a, a.p[9], (double)n, "bias"))) return nullptr;
  Epilogue ep;
  ep.bias = bias;
  ep.relu = a.p[10] != 0;
  for (long b = 0; b < batch; b++) {
    const float* Ab = A + (batchA == 1 ? 0 : b * m * k);
    const float* Bb = B + (batchB == 1 ? 0 : b * k * n);
    PackAFn pa = ta ? packMatrixA(Ab, 1, m) : packMatrixA(Ab, k, 1);
    PackBFn pb = tb ? packMatrixB(Bb, 1, k) : packMatrixB(Bb, n, 1);
    gemm((int)m, (int)n, (int)k, C + b * m * n, n, pa, pb, (bias || ep.relu) ? &ep : nullptr);
  }
  return nullptr;
}

// params: momentum, c (= -learning rate), weightDecay, nesterov (0/1), then per variable: wOff, accOff, gOff,
// wOutOff, accOutOff, count, decay (0/1) (momentum.h). An output is its input (in place) or overlaps no array.
static napi_value MomentumUpdate(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 0, a)) return nullptr;
  constexpr size_t PER = 7;
  if (a.p.size() < 4 || (a.p.size() - 4) % PER != 0) {
    napi_throw_type_error(env, nullptr, "native-kernels: momentumUpdate params are momentum, c, weightDecay, nesterov, then 7 numbers per variable");
    return nullptr;
  }
  std::vector<MomentumVar> vars;
  for (size_t i = 4; i < a.p.size(); i += PER) {
    const double n = a.p[i + 5];
    if (!(n >= 0) || n != (double)(long)n) {
      napi_throw_range_error(env, nullptr, "native-kernels: momentumUpdate: invalid element count");
      return nullptr;
    }
    const char* what[5] = {"variable", "accumulator", "gradient", "new variable", "new accumulator"};
    float* p[5];
    for (int k = 0; k < 5; k++)
      if (!(p[k] = at(env, a, a.p[i + k], n, what[k]))) return nullptr;
    const long cnt = (long)n;
    const auto overlap = [cnt](const float* x, const float* y) { return cnt > 0 && x < y + cnt && y < x + cnt; };
    bool bad = overlap(p[0], p[1]) || overlap(p[0], p[2]) || overlap(p[1], p[2]) || overlap(p[3], p[4]);
    for (int o = 3; o < 5; o++)
      for (int k = 0; k < 3; k++) {
        const bool ownInput = (o == 3 && k == 0) || (o == 4 && k == 1);  // may be exactly that array (in place)
        if (overlap(p[o], p[k]) && !(ownInput && p[o] == p[k])) bad = true;
      }
    if (bad) {
      napi_throw_range_error(env, nullptr, "native-kernels: momentumUpdate: arrays overlap (only an output exactly on its own input may)");
      return nullptr;
    }
    vars.push_back(MomentumVar{p[0], p[1], p[2], p[3], p[4], cnt, a.p[i + 6] != 0});
  }
  momentumUpdate(vars, (float)a.p[0], (float)a.p[1], (float)a.p[2], a.p[3] != 0);
  return nullptr;
}

// params: xOff, gammaOff, betaOff, yOff, meanOff, varianceOff, invStdOff, m, c, epsilon (batchnorm.h), then optionally
// movingMeanOff, movingVarianceOff, newMovingMeanOff, newMovingVarianceOff, decay (the moving averages' update).
static napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 0, a)) return nullptr;
  if (a.p.size() != 10 && a.p.size() != 15) {
    napi_throw_type_error(env, nullptr, "native-kernels: batchNormForward takes 10 params, or 15 with the moving averages");
    return nullptr;
  }
  const double m = a.p[7], c = a.p[8];
  if (!(m >= 1) || !(c >= 1) || m != (double)(long)m || c != (double)(long)c || !(a.p[9] > 0)) {
    napi_throw_range_error(env, nullptr, "native-kernels: batchNormForward: invalid m, c or epsilon");
    return nullptr;
  }
  const char* what[7] = {"x", "gamma", "beta", "y", "mean", "variance", "invStd"};
  float* p[7];
  for (int k = 0; k < 7; k++)
    if (!(p[k] = at(env, a, a.p[k], k == 0 || k == 3 ? m * c : c, what[k]))) return nullptr;
  float* mv[4] = {nullptr, nullptr, nullptr, nullptr};
  if (a.p.size() == 15) {
    const char* mwhat[4] = {"movingMean", "movingVariance", "newMovingMean", "newMovingVariance"};
    for (int k = 0; k < 4; k++)
      if (!(mv[k] = at(env, a, a.p[10 + k], c, mwhat[k]))) return nullptr;
  }
  batchNormForward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], (long)m, (long)c, a.p[9], mv[0], mv[1], mv[2], mv[3], a.p.size() == 15 ? (float)a.p[14] : 0.0f);
  return nullptr;
}

// params: dyOff, xOff, meanOff, invStdOff, gammaOff, dxOff, dgammaOff, dbetaOff, m, c (batchnorm.h)
static napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 10, a)) return nullptr;
  const double m = a.p[8], c = a.p[9];
  if (!(m >= 1) || !(c >= 1) || m != (double)(long)m || c != (double)(long)c) {
    napi_throw_range_error(env, nullptr, "native-kernels: batchNormBackward: invalid m or c");
    return nullptr;
  }
  const char* what[8] = {"dy", "x", "mean", "invStd", "gamma", "dx", "dgamma", "dbeta"};
  float* p[8];
  for (int k = 0; k < 8; k++)
    if (!(p[k] = at(env, a, a.p[k], k <= 1 || k == 5 ? m * c : c, what[k]))) return nullptr;
  batchNormBackward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], (long)m, (long)c);
  return nullptr;
}

// params: dyOff, xOff, dxOff, n (batchnorm.h)
static napi_value ReluGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 4, a)) return nullptr;
  const double n = a.p[3];
  if (!(n >= 1) || n != (double)(long)n) {
    napi_throw_range_error(env, nullptr, "native-kernels: reluGrad: invalid element count");
    return nullptr;
  }
  const char* what[3] = {"dy", "x", "dx"};
  float* p[3];
  for (int k = 0; k < 3; k++)
    if (!(p[k] = at(env, a, a.p[k], n, what[k]))) return nullptr;
  reluGrad(p[0], p[1], p[2], (long)n);
  return nullptr;
}

// params: xOff, yOff, rank, value, then xShape[rank], before[rank], after[rank] (pad.h)
static napi_value PadV2(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 0, a)) return nullptr;
  const double rank = a.p.size() >= 3 ? a.p[2] : -1;
  if (!(rank >= 1 && rank <= 16) || rank != (double)(long)rank || a.p.size() != 4 + 3 * (size_t)rank) {
    napi_throw_type_error(env, nullptr, "native-kernels: padV2 takes xOff, yOff, rank (1-16), value, then 3 x rank sizes");
    return nullptr;
  }
  const int r = (int)rank;
  long shape[16], before[16], after[16];
  double nx = 1, ny = 1;
  for (int d = 0; d < r; d++) {
    const double s = a.p[4 + d], b = a.p[4 + r + d], e = a.p[4 + 2 * r + d];
    if (!(s >= 1) || !(b >= 0) || !(e >= 0) || s != (double)(long)s || b != (double)(long)b || e != (double)(long)e) {
      napi_throw_range_error(env, nullptr, "native-kernels: padV2: invalid shape or padding");
      return nullptr;
    }
    shape[d] = (long)s, before[d] = (long)b, after[d] = (long)e;
    nx *= s, ny *= s + b + e;
  }
  const float* x = at(env, a, a.p[0], nx, "x");
  if (!x) return nullptr;
  float* y = at(env, a, a.p[1], ny, "y");
  if (!y) return nullptr;
  padConstant(x, y, r, shape, before, after, (float)a.p[3]);
  return nullptr;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t n = 1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1 || n > 256) {
    napi_throw_range_error(env, nullptr, "native-kernels: setThreads(n) needs an integer n in [1, 256]");
    return nullptr;
  }
  pool().resize(n);
  return nullptr;
}

static napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value v;
  NAPI_CALL(env, napi_create_int32(env, pool().size(), &v));
  return v;
}

static napi_value Isa(napi_env env, napi_callback_info) {
  napi_value v;
  NAPI_CALL(env, napi_create_string_utf8(env, BOT_ISA, NAPI_AUTO_LENGTH, &v));
  return v;
}

// setPrecision('float32' | 'bfloat16'): throws (saying why) where bfloat16 cannot run.
static napi_value SetPrecision(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char buf[16] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], buf, sizeof(buf), &len) != napi_ok ||
      (std::strcmp(buf, "float32") != 0 && std::strcmp(buf, "bfloat16") != 0)) {
    napi_throw_type_error(env, nullptr, "native-kernels: setPrecision(p) takes 'float32' or 'bfloat16'");
    return nullptr;
  }
  const bool bf16 = std::strcmp(buf, "bfloat16") == 0;
  if (bf16 && bf16Unsupported()) {
    std::string msg = std::string("native-kernels: bfloat16 cannot run here: ") + bf16Unsupported();
    napi_throw_error(env, nullptr, msg.c_str());
    return nullptr;
  }
  useBf16.store(bf16);
  return nullptr;
}

static napi_value GetPrecision(napi_env env, napi_callback_info) {
  napi_value v;
  NAPI_CALL(env, napi_create_string_utf8(env, useBf16.load() ? "bfloat16" : "float32", NAPI_AUTO_LENGTH, &v));
  return v;
}

// Why bfloat16 cannot run here (a string), or null.
static napi_value Bf16Unsupported(napi_env env, napi_callback_info) {
  napi_value v;
  const char* why = bf16Unsupported();
  if (why) {
    NAPI_CALL(env, napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &v));
  } else {
    NAPI_CALL(env, napi_get_null(env, &v));
  }
  return v;
}

// toBf16(Float32Array src, Uint16Array dst): the packing's float32 -> bfloat16 rounding, for tests.
static napi_value ToBf16(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  napi_typedarray_type ts, td;
  size_t ns = 0, nd = 0;
  void *ps = nullptr, *pd = nullptr;
  bool a = false, b = false;
  if (argc >= 2) {
    napi_is_typedarray(env, argv[0], &a);
    napi_is_typedarray(env, argv[1], &b);
  }
  if (!a || !b || napi_get_typedarray_info(env, argv[0], &ts, &ns, &ps, nullptr, nullptr) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &td, &nd, &pd, nullptr, nullptr) != napi_ok || ts != napi_float32_array ||
      td != napi_uint16_array || ns != nd) {
    napi_throw_type_error(env, nullptr, "native-kernels: toBf16(src, dst) takes a Float32Array and a Uint16Array of the same length");
    return nullptr;
  }
  if (const char* why = bf16Unsupported()) {
    std::string msg = std::string("native-kernels: bfloat16 cannot run here: ") + why;
    napi_throw_error(env, nullptr, msg.c_str());
    return nullptr;
  }
#if BOT_HAVE_BF16
  toBf16((const float*)ps, (uint16_t*)pd, (long)ns);
#endif
  return nullptr;
}

// setSwitch('winograd' | 'directBf16', on): turns a kernel choice on or off for every later call (process-wide).
static napi_value SetSwitch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char buf[16] = {0};
  size_t len = 0;
  bool on = true;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], buf, sizeof(buf), &len) != napi_ok || napi_get_value_bool(env, argv[1], &on) != napi_ok ||
      (std::strcmp(buf, "winograd") != 0 && std::strcmp(buf, "directBf16") != 0)) {
    napi_throw_type_error(env, nullptr, "native-kernels: setSwitch(name, on) takes 'winograd' or 'directBf16' and a boolean");
    return nullptr;
  }
  (std::strcmp(buf, "winograd") == 0 ? useWinograd : useDirectBf16).store(on);
  return nullptr;
}

static napi_value HardwareThreads(napi_env env, napi_callback_info) {
  napi_value v;
  NAPI_CALL(env, napi_create_int32(env, (int32_t)std::max(1u, std::thread::hardware_concurrency()), &v));
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matMul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isa", nullptr, Isa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"hardwareThreads", nullptr, HardwareThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setPrecision", nullptr, SetPrecision, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getPrecision", nullptr, GetPrecision, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bf16Unsupported", nullptr, Bf16Unsupported, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"toBf16", nullptr, ToBf16, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"momentumUpdate", nullptr, MomentumUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormForward", nullptr, BatchNormForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reluGrad", nullptr, ReluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"padV2", nullptr, PadV2, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setSwitch", nullptr, SetSwitch, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
