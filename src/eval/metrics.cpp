// Sort-based metrics: one radix sort of the normal pixels and one of the anomalous pixels (with
// their region ids), then a single sweep from the highest to the lowest distinct score gives
// the ROC points, the PR points and the official PRO curve at once; the AnomalyCLIP AUPRO reads
// its ~200 threshold counts off the same sorted keys (binary searches, one walk).
#include "eval/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>

#include "util/check.h"
#include "util/progress.h"

namespace tc::eval {
namespace detail_metrics {

// Order-preserving map float -> uint32 (ascending floats give ascending keys). -0 becomes +0
// because the references treat them as one score.
inline uint32_t float_key(float f) {
  if (f == 0.0f) f = 0.0f;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline float key_float(uint32_t k) {
  uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// LSD radix sort of n elements by the 32-bit key stored at bit `base` of T: three passes of
// 11/11/10 bits, skipping passes in which every element has the same digit.
template <typename T>
void radix_sort(T* a, size_t n, int base) {
  if (n < 2) return;
  if (n < 256) {
    std::sort(a, a + n, [base](T l, T r) { return uint32_t(l >> base) < uint32_t(r >> base); });
    return;
  }
  constexpr int kBits[3] = {11, 11, 10};
  constexpr int kShift[3] = {0, 11, 22};
  std::vector<size_t> count(3 * 2048, 0);
  for (size_t i = 0; i < n; ++i) {
    uint32_t k = uint32_t(a[i] >> base);
    ++count[(k & 2047u)];
    ++count[2048 + ((k >> 11) & 2047u)];
    ++count[4096 + (k >> 22)];
  }
  std::vector<T> tmp(n);
  T* src = a;
  T* dst = tmp.data();
  for (int p = 0; p < 3; ++p) {
    size_t* c = count.data() + 2048 * p;
    const uint32_t mask = (1u << kBits[p]) - 1;
    bool trivial = false;
    for (int d = 0; d < 2048; ++d)
      if (c[d] == n) trivial = true;
    if (trivial) continue;
    size_t sum = 0;
    for (int d = 0; d < 2048; ++d) {
      size_t t = c[d];
      c[d] = sum;
      sum += t;
    }
    for (size_t i = 0; i < n; ++i) {
      T v = src[i];
      dst[c[(uint32_t(v >> base) >> kShift[p]) & mask]++] = v;
    }
    std::swap(src, dst);
  }
  if (src != a) std::copy(src, src + n, a);
}

template <typename T>
struct Span {
  const T* d = nullptr;
  size_t n = 0;
};

// What the sweep needs besides the sorted scores. Scores come as several ascending-sorted
// streams (sorted independently on worker threads), merged on the fly.
struct SweepInput {
  std::vector<Span<uint32_t>> neg;  // sorted keys of normal samples
  std::vector<Span<uint64_t>> pos;  // sorted (key << 32 | region id) of anomalous ones
  const std::vector<double>* inv_area = nullptr;  // region id -> 1/area; null: no PRO curve
  int64_t n_regions = 0;
  double fpr_limit = 0.3;
};

struct SweepOutput {
  BinaryMetrics m;
  std::optional<double> aupro_mvtec;
};

SweepOutput sweep(const SweepInput& in) {
  SweepOutput out;
  int64_t P = 0, N = 0;
  for (auto& v : in.neg) N += int64_t(v.n);
  for (auto& v : in.pos) P += int64_t(v.n);
  out.m.n_pos = P;
  out.m.n_neg = N;
  const bool roc_ok = P > 0 && N > 0;
  const bool pro_ok = in.inv_area && in.n_regions > 0 && N > 0;
  if (!roc_ok && !pro_ok) return out;

  // ROC area (x2) in exact integer arithmetic: sum (fp_i - fp_{i-1}) (tp_i + tp_{i-1}).
  unsigned __int128 area2 = 0;
  long double ap = 0;
  double best_f1 = -1, best_thr = 0;
  // PRO (official): cumulative sums over the descending sort, one point per distinct score.
  long double pro_area = 0;
  double pro_cum = 0;  // double like the reference's float64 cumsum
  double px = 0, py = 0;  // previous PRO point, starting at (0, 0)
  bool pro_done = !pro_ok;
  const float n_ok_f = static_cast<float>(N);
  const double limit = in.fpr_limit;

  int64_t tp = 0, fp = 0;
  // Read positions (one past the next element, walking down from the end of each stream).
  std::vector<size_t> ni, pj;
  for (auto& v : in.neg) ni.push_back(v.n);
  for (auto& v : in.pos) pj.push_back(v.n);
  double prev_recall = 0;
  auto pro_point = [&](double x, double y) {
    // Streaming form of generic_util.trapezoid(x, y, x_max=limit) over ascending x.
    if (x <= limit) {
      pro_area += 0.5 * (y + py) * (x - px);
      px = x;
      py = y;
      return;
    }
    if (px != limit) {
      double y_interp = py + ((y - py) * (limit - px) / (x - px));
      pro_area += 0.5 * (y_interp + py) * (limit - px);
    }
    pro_done = true;
  };
  for (;;) {
    bool any = false;
    uint32_t key = 0;
    for (size_t s = 0; s < ni.size(); ++s)
      if (ni[s] > 0) {
        const uint32_t k = in.neg[s].d[ni[s] - 1];
        key = any ? std::max(key, k) : k;
        any = true;
      }
    for (size_t s = 0; s < pj.size(); ++s)
      if (pj[s] > 0) {
        const uint32_t k = uint32_t(in.pos[s].d[pj[s] - 1] >> 32);
        key = any ? std::max(key, k) : k;
        any = true;
      }
    if (!any) break;
    const int64_t tp0 = tp, fp0 = fp;
    for (size_t s = 0; s < ni.size(); ++s) {
      const uint32_t* d = in.neg[s].d;
      size_t i = ni[s];
      while (i > 0 && d[i - 1] == key) --i;
      fp += int64_t(ni[s] - i);
      ni[s] = i;
    }
    for (size_t s = 0; s < pj.size(); ++s) {
      const uint64_t* d = in.pos[s].d;
      size_t j = pj[s];
      while (j > 0 && uint32_t(d[j - 1] >> 32) == key) {
        --j;
        ++tp;
        if (!pro_done) pro_cum += (*in.inv_area)[uint32_t(d[j])];
      }
      pj[s] = j;
    }
    if (roc_ok) {
      area2 += static_cast<unsigned __int128>(fp - fp0) * static_cast<unsigned __int128>(tp + tp0);
      const double precision = double(tp) / double(tp + fp);
      const double recall = double(tp) / double(P);
      ap += static_cast<long double>(recall - prev_recall) * precision;
      prev_recall = recall;
      if (precision + recall > 0) {
        const double f1 = 2 * precision * recall / (precision + recall);
        // `>=`: on equal F1 keep the lowest threshold, as np.argmax over sklearn's ascending
        // thresholds does.
        if (f1 >= best_f1) {
          best_f1 = f1;
          best_thr = key_float(key);
        }
      }
    }
    if (!pro_done) {
      // The reference divides a float32 cumulative count by the count of OK pixels in float32.
      float fpr = static_cast<float>(fp) / n_ok_f;
      double x = std::min(double(fpr), 1.0);
      double y = std::min(pro_cum / double(in.n_regions), 1.0);
      pro_point(x, y);
    }
    if (pro_done && !roc_ok) break;
  }
  if (!pro_done) pro_point(1.0, 1.0);  // the appended (1, 1) end point
  if (roc_ok) {
    out.m.auroc = static_cast<double>(static_cast<long double>(area2) /
                                      (2.0L * static_cast<long double>(P) * static_cast<long double>(N)));
    out.m.ap = static_cast<double>(ap);
    out.m.f1_max = best_f1;
    out.m.f1_threshold = best_thr;
  }
  if (pro_ok) out.aupro_mvtec = static_cast<double>(pro_area / limit);
  return out;
}

std::string image_where(const std::string& cls, int64_t i) {
  return cls.empty() ? fmt::format("image {}", i) : fmt::format("class '{}', image {}", cls, i);
}

// AnomalyCLIP's AUPRO (cal_pro_score) from the sorted keys: at threshold k, FP = normal keys
// above key(t_k) (binary search per stream), PRO = sum of 1/area over anomalous pixels above
// t_k / regions (one ascending walk per stream bins each pixel by its number of thresholds below).
std::optional<double> aupro_anomalyclip_sorted(const SweepInput& in, int steps, double limit) {
  int64_t N = 0;
  for (auto& v : in.neg) N += int64_t(v.n);
  if (N == 0 || in.n_regions == 0) return std::nullopt;
  // Class min / max from the ends of the sorted streams.
  bool any = false;
  uint32_t kmin = 0, kmax = 0;
  auto see = [&](uint32_t lo, uint32_t hi) {
    kmin = any ? std::min(kmin, lo) : lo;
    kmax = any ? std::max(kmax, hi) : hi;
    any = true;
  };
  for (auto& v : in.neg)
    if (v.n) see(v.d[0], v.d[v.n - 1]);
  for (auto& v : in.pos)
    if (v.n) see(uint32_t(v.d[0] >> 32), uint32_t(v.d[v.n - 1] >> 32));
  const std::vector<float> th = anomalyclip_thresholds(key_float(kmin), key_float(kmax), steps);
  const size_t L = th.size();
  if (L == 0) return std::nullopt;  // constant maps: the reference's arange has no step
  std::vector<uint32_t> tk(L);
  for (size_t k = 0; k < L; ++k) tk[k] = float_key(th[k]);
  TC_CHECK(std::is_sorted(tk.begin(), tk.end()), "AnomalyCLIP thresholds not ascending");

  std::vector<int64_t> fp(L, 0);
  for (auto& v : in.neg)
    for (size_t k = 0; k < L; ++k)  // v > t  <=>  key(v) > key(t)
      fp[k] += int64_t(v.d + v.n - std::upper_bound(v.d, v.d + v.n, tk[k]));
  std::vector<double> w(L + 1, 0.0);  // w[b]: 1/area summed over pixels above exactly b thresholds
  for (auto& v : in.pos) {
    size_t b = 0;
    for (size_t j = 0; j < v.n; ++j) {
      const uint32_t kv = uint32_t(v.d[j] >> 32);
      while (b < L && tk[b] < kv) ++b;
      w[b] += (*in.inv_area)[uint32_t(v.d[j])];
    }
  }
  std::vector<double> x, y;
  long double above = 0;
  std::vector<double> pro(L);
  for (size_t k = L; k-- > 0;) {
    above += w[k + 1];
    pro[k] = static_cast<double>(above / in.n_regions);
  }
  for (size_t k = 0; k < L; ++k) {
    const double fpr = double(fp[k]) / double(N);
    if (fpr < limit) {
      x.push_back(fpr);
      y.push_back(pro[k]);
    }
  }
  if (x.size() < 2) return std::nullopt;
  const double lo = *std::min_element(x.begin(), x.end());
  const double hi = *std::max_element(x.begin(), x.end());
  if (!(hi > lo)) return std::nullopt;  // 0/0 in the reference's rescaling
  for (double& v : x) v = (v - lo) / (hi - lo);
  // sklearn.metrics.auc: x is monotone (here non-increasing), area = direction * trapz(y, x).
  bool increasing = true, decreasing = true;
  for (size_t k = 1; k < x.size(); ++k) {
    if (x[k] < x[k - 1]) increasing = false;
    if (x[k] > x[k - 1]) decreasing = false;
  }
  TC_CHECK(increasing || decreasing, "anomalyclip AUPRO: FPR not monotone");
  const double direction = increasing ? 1.0 : -1.0;
  long double area = 0;
  for (size_t k = 1; k < x.size(); ++k) area += (x[k] - x[k - 1]) * (y[k] + y[k - 1]) / 2.0;
  return static_cast<double>(direction * area);
}

int resolve_threads(int threads, int64_t pixels) {
  if (threads > 0) return std::min(threads, 2);
  return pixels >= (int64_t(1) << 20) ? 2 : 1;
}

// Runs jobs on `threads` threads (largest first, each to the least loaded thread); the first
// exception is rethrown after all threads have finished.
void run_jobs(std::vector<std::pair<size_t, std::function<void()>>> jobs, int threads) {
  if (threads <= 1 || jobs.size() <= 1) {
    for (auto& j : jobs) j.second();
    return;
  }
  std::sort(jobs.begin(), jobs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::vector<std::function<void()>*>> lanes(static_cast<size_t>(threads));
  std::vector<size_t> load(static_cast<size_t>(threads), 0);
  for (auto& j : jobs) {
    size_t t = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    lanes[t].push_back(&j.second);
    load[t] += j.first;
  }
  std::vector<std::exception_ptr> errs(lanes.size());
  auto lane = [&](size_t t) {
    try {
      for (auto* f : lanes[t]) (*f)();
    } catch (...) {
      errs[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < lanes.size(); ++t) pool.emplace_back(lane, t);
  lane(0);
  for (auto& th : pool) th.join();
  for (auto& e : errs)
    if (e) std::rethrow_exception(e);
}

}  // namespace detail_metrics

// ---------------------------------------------------------------- PixelAccumulator

PixelAccumulator::PixelAccumulator(int height, int width, std::string name, int64_t first_image)
    : h_(height), w_(width), name_(std::move(name)), first_image_(first_image) {
  TC_CHECK_INPUT(h_ > 0 && w_ > 0, "{}: map size {}x{}; expected positive height and width",
                 name_.empty() ? std::string("metrics") : "class '" + name_ + "'", h_, w_);
}

void PixelAccumulator::reserve(int64_t images) {
  neg_.reserve(neg_.size() + size_t(images * int64_t(h_) * w_));
}

void PixelAccumulator::reserve_pixels(int64_t normal, int64_t anomalous) {
  neg_.reserve(neg_.size() + size_t(normal));
  pos_.reserve(pos_.size() + size_t(anomalous));
}

void PixelAccumulator::add(const float* map, const uint8_t* mask) {
  using detail_metrics::float_key;
  const int64_t hw = int64_t(h_) * w_;
  const int64_t index = first_image_ + n_images_;
  TC_CHECK_INPUT(map != nullptr, "{}: anomaly map missing", detail_metrics::image_where(name_, index));
  for (int64_t p = 0; p < hw; ++p)
    if (!std::isfinite(map[p]))
      TC_INPUT_ERROR("{}: anomaly map value {} at pixel (y={}, x={}); expected finite scores",
                     detail_metrics::image_where(name_, index), map[p], p / w_, p % w_);
  int32_t count = 0;
  if (mask) {
    bool any = false;
    for (int64_t p = 0; p < hw && !any; ++p) any = mask[p] != 0;
    if (any) {
      labels_.resize(size_t(hw));
      count = label_regions_8(mask, h_, w_, labels_.data());
    }
  }
  if (count == 0) {
    for (int64_t p = 0; p < hw; ++p) neg_.push_back(float_key(map[p]));
  } else {
    const uint32_t base = uint32_t(inv_area_.size());
    TC_CHECK(int64_t(base) + count < int64_t(UINT32_MAX / 2), "too many ground-truth regions");
    area_.assign(size_t(count) + 1, 0);
    for (int64_t p = 0; p < hw; ++p) ++area_[size_t(labels_[size_t(p)])];
    for (int32_t r = 1; r <= count; ++r) inv_area_.push_back(1.0 / double(area_[size_t(r)]));
    for (int64_t p = 0; p < hw; ++p) {
      const int32_t lab = labels_[size_t(p)];
      if (lab == 0) neg_.push_back(float_key(map[p]));
      else pos_.push_back((uint64_t(float_key(map[p])) << 32) | (base + uint32_t(lab - 1)));
    }
  }
  ++n_images_;
}

PixelMetrics PixelAccumulator::finish(const MetricsOptions& opts) {
  std::vector<PixelAccumulator> parts;
  parts.push_back(std::move(*this));
  PixelMetrics r = finish(parts, opts);
  const PixelAccumulator& used = parts[0];
  *this = PixelAccumulator(used.h_, used.w_, used.name_, used.first_image_ + used.n_images_);
  return r;
}

PixelMetrics PixelAccumulator::finish(std::vector<PixelAccumulator>& parts, const MetricsOptions& opts) {
  using namespace detail_metrics;
  TC_CHECK_USAGE(opts.pro_fpr_limit > 0 && opts.pro_fpr_limit <= 1,
                 "AUPRO FPR limit {}; expected a value in (0, 1]", opts.pro_fpr_limit);
  PixelMetrics out;
  // Global region ids: each part's follow the previous parts'.
  std::vector<double> inv_area;
  int64_t pixels = 0, regions = 0;
  for (auto& part : parts) regions += int64_t(part.inv_area_.size());
  TC_CHECK(regions < int64_t(UINT32_MAX), "too many ground-truth regions ({})", regions);
  for (auto& part : parts) {
    const uint64_t base = inv_area.size();
    if (base)
      for (auto& e : part.pos_) e += base;  // low 32 bits hold the region id; no carry (checked)
    inv_area.insert(inv_area.end(), part.inv_area_.begin(), part.inv_area_.end());
    std::vector<double>().swap(part.inv_area_);
    pixels += int64_t(part.neg_.size() + part.pos_.size());
  }
  out.n_regions = int64_t(inv_area.size());

  // Sort jobs: each part's anomalous pixels, and its normal pixels in one or two chunks so that
  // both threads have work even with a single part.
  const int threads = resolve_threads(opts.threads, pixels);
  SweepInput si;
  std::vector<std::pair<size_t, std::function<void()>>> jobs;
  for (auto& part : parts) {
    uint32_t* nd = part.neg_.data();
    const size_t nn = part.neg_.size();
    const size_t chunks = (threads > 1 && parts.size() < size_t(threads) && nn >= 2) ? size_t(threads) : 1;
    for (size_t c = 0; c < chunks; ++c) {
      const size_t a = nn * c / chunks, b = nn * (c + 1) / chunks;
      si.neg.push_back({nd + a, b - a});
      jobs.emplace_back(b - a, [nd, a, b] { radix_sort(nd + a, b - a, 0); });
    }
    uint64_t* pd = part.pos_.data();
    const size_t pn = part.pos_.size();
    si.pos.push_back({pd, pn});
    jobs.emplace_back(2 * pn, [pd, pn] { radix_sort(pd, pn, 32); });
  }
  run_jobs(std::move(jobs), threads);

  si.inv_area = &inv_area;
  si.n_regions = out.n_regions;
  si.fpr_limit = opts.pro_fpr_limit;
  if (opts.aupro_anomalyclip) out.aupro_anomalyclip = aupro_anomalyclip_sorted(si, opts.pro_steps, opts.pro_fpr_limit);
  if (!opts.aupro_mvtec) si.inv_area = nullptr;
  SweepOutput so = sweep(si);
  out.pixel = so.m;
  out.aupro_mvtec = so.aupro_mvtec;
  for (auto& part : parts) {
    std::vector<uint32_t>().swap(part.neg_);
    std::vector<uint64_t>().swap(part.pos_);
  }
  return out;
}

namespace detail_metrics {

// All images of a class from borrowed pointers: two accumulators filled on two threads (when
// there is enough work), then one merged finish.
PixelMetrics compute_pixels(const std::vector<const float*>& maps, const std::vector<const uint8_t*>& masks,
                            int h, int w, const MetricsOptions& opts, const std::string& name) {
  const size_t n = maps.size();
  const std::string where = name.empty() ? std::string("metrics") : "class '" + name + "'";
  TC_CHECK_INPUT(masks.size() == n, "{}: {} anomaly maps but {} masks; expected one mask per map", where, n,
                 masks.size());
  TC_CHECK_INPUT(h > 0 && w > 0, "{}: map size {}x{}; expected positive height and width", where, h, w);
  const int64_t hw = int64_t(h) * w;
  // Anomalous-pixel count per image, so that every buffer is allocated once.
  std::vector<int64_t> pos_count(n, 0);
  for (size_t i = 0; i < n; ++i)
    if (masks[i]) {
      int64_t c = 0;
      for (int64_t p = 0; p < hw; ++p) c += masks[i][p] != 0;
      pos_count[i] = c;
    }
  const int threads = resolve_threads(opts.threads, int64_t(n) * hw);
  const int workers = n >= 2 ? threads : 1;
  std::vector<size_t> split{0, workers == 2 ? n / 2 : n, n};
  std::vector<PixelAccumulator> parts;
  for (int k = 0; k < workers; ++k) parts.emplace_back(h, w, name, int64_t(split[size_t(k)]));
  Progress prog("pixel metrics" + (name.empty() ? std::string() : " " + name), int64_t(n), "img", opts.progress);
  std::vector<std::pair<size_t, std::function<void()>>> jobs;
  for (int k = 0; k < workers; ++k)
    jobs.emplace_back(size_t(workers - k), [&, k] {
      PixelAccumulator& acc = parts[size_t(k)];
      const size_t i0 = split[size_t(k)], i1 = split[size_t(k) + 1];
      int64_t np = 0;
      for (size_t i = i0; i < i1; ++i) np += pos_count[i];
      acc.reserve_pixels(int64_t(i1 - i0) * hw - np, np);
      for (size_t i = i0; i < i1; ++i) {
        acc.add(maps[i], masks[i]);
        if (k == 0) prog.update(workers);  // worker 0 reports for both (they run in step)
      }
    });
  run_jobs(std::move(jobs), workers);
  prog.finish();
  return PixelAccumulator::finish(parts, opts);
}

}  // namespace detail_metrics

const char* aupro_variant_name(AuproVariant v) {
  return v == AuproVariant::AnomalyClip ? "anomalyclip" : "mvtec";
}

std::vector<AuproVariant> parse_aupro_variants(std::string_view s) {
  if (s == "anomalyclip") return {AuproVariant::AnomalyClip};
  if (s == "mvtec") return {AuproVariant::Mvtec};
  if (s == "both") return {AuproVariant::AnomalyClip, AuproVariant::Mvtec};
  TC_USAGE_ERROR("eval.aupro: '{}'; expected anomalyclip, mvtec or both", s);
}

void ClassData::set_pixels(const float* maps_nhw, const uint8_t* masks_nhw, int64_t n, int h, int w) {
  height = h;
  width = w;
  maps.clear();
  masks.clear();
  const int64_t hw = int64_t(h) * w;
  for (int64_t i = 0; i < n; ++i) {
    maps.push_back(maps_nhw + i * hw);
    masks.push_back(masks_nhw ? masks_nhw + i * hw : nullptr);
  }
  has_masks = masks_nhw != nullptr;
}

BinaryMetrics binary_metrics(const float* scores, const uint8_t* labels, size_t n) {
  std::vector<uint32_t> neg;
  std::vector<uint64_t> pos;
  for (size_t i = 0; i < n; ++i) {
    TC_CHECK_INPUT(std::isfinite(scores[i]), "score of sample {} is {}; expected a finite number", i,
                   scores[i]);
    TC_CHECK_INPUT(labels[i] <= 1, "label of sample {} is {}; expected 0 (normal) or 1 (anomalous)", i,
                   int(labels[i]));
    if (labels[i]) pos.push_back(uint64_t(detail_metrics::float_key(scores[i])) << 32);
    else neg.push_back(detail_metrics::float_key(scores[i]));
  }
  detail_metrics::radix_sort(neg.data(), neg.size(), 0);
  detail_metrics::radix_sort(pos.data(), pos.size(), 32);
  detail_metrics::SweepInput si;
  si.neg.push_back({neg.data(), neg.size()});
  si.pos.push_back({pos.data(), pos.size()});
  return detail_metrics::sweep(si).m;
}

std::optional<double> aupro_mvtec(const std::vector<const float*>& maps,
                                  const std::vector<const uint8_t*>& masks, int h, int w,
                                  double fpr_limit) {
  MetricsOptions o;
  o.aupro_anomalyclip = false;
  o.pro_fpr_limit = fpr_limit;
  return detail_metrics::compute_pixels(maps, masks, h, w, o, {}).aupro_mvtec;
}

std::optional<double> aupro_anomalyclip(const std::vector<const float*>& maps,
                                        const std::vector<const uint8_t*>& masks, int h, int w,
                                        int steps, double fpr_limit) {
  MetricsOptions o;
  o.aupro_mvtec = false;
  o.pro_steps = steps;
  o.pro_fpr_limit = fpr_limit;
  return detail_metrics::compute_pixels(maps, masks, h, w, o, {}).aupro_anomalyclip;
}

ClassMetrics class_metrics_from(std::string name, const std::vector<float>& image_scores,
                                const std::vector<uint8_t>& image_labels,
                                const std::optional<PixelMetrics>& pixel) {
  const std::string where = name.empty() ? std::string("metrics") : "class '" + name + "'";
  TC_CHECK_INPUT(image_scores.size() == image_labels.size(),
                 "{}: {} image scores but {} image labels; expected one label per score", where,
                 image_scores.size(), image_labels.size());
  ClassMetrics c;
  const size_t n = image_scores.size();
  c.n_images = int64_t(n);
  for (size_t i = 0; i < n; ++i) {
    TC_CHECK_INPUT(std::isfinite(image_scores[i]), "{}: image score {}; expected a finite number",
                   detail_metrics::image_where(name, int64_t(i)), image_scores[i]);
    TC_CHECK_INPUT(image_labels[i] <= 1, "{}: image label {}; expected 0 (normal) or 1 (anomalous)",
                   detail_metrics::image_where(name, int64_t(i)), int(image_labels[i]));
    c.n_anomalous_images += image_labels[i];
  }
  c.image = binary_metrics(image_scores.data(), image_labels.data(), n);
  if (pixel) {
    c.has_pixel = true;
    c.pixel = pixel->pixel;
    c.aupro_anomalyclip = pixel->aupro_anomalyclip;
    c.aupro_mvtec = pixel->aupro_mvtec;
    c.n_regions = pixel->n_regions;
  }
  c.name = std::move(name);
  return c;
}

ClassMetrics compute_class_metrics(const ClassData& d, const MetricsOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  TC_CHECK_USAGE(opts.pro_fpr_limit > 0 && opts.pro_fpr_limit <= 1,
                 "AUPRO FPR limit {}; expected a value in (0, 1]", opts.pro_fpr_limit);
  std::optional<PixelMetrics> px;
  if (opts.pixel && d.has_masks && !d.maps.empty()) {
    TC_CHECK_INPUT(d.maps.size() == d.image_scores.size(),
                   "{}: {} anomaly maps for {} images; expected one per image",
                   d.name.empty() ? std::string("metrics") : "class '" + d.name + "'", d.maps.size(),
                   d.image_scores.size());
    px = detail_metrics::compute_pixels(d.maps, d.masks, d.height, d.width, opts, d.name);
  }
  ClassMetrics c = class_metrics_from(d.name, d.image_scores, d.image_labels, px);
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

}  // namespace tc::eval
