// Sort-based metrics: one radix sort of the normal pixels and one of the anomalous pixels (with
// their region ids), then a single sweep from the highest to the lowest distinct score gives
// the ROC points, the PR points and the official PRO curve at once. The AnomalyCLIP AUPRO
// needs no sort: each pixel falls into one of ~200 threshold bins.
#include "eval/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
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

// LSD radix sort by the 32-bit key stored at bit `base` of T: three passes of 11/11/10 bits,
// skipping passes in which every element has the same digit.
template <typename T>
void radix_sort(std::vector<T>& a, int base) {
  const size_t n = a.size();
  if (n < 2) return;
  if (n < 256) {
    std::sort(a.begin(), a.end(), [base](T l, T r) { return uint32_t(l >> base) < uint32_t(r >> base); });
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
  T* src = a.data();
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
  if (src != a.data()) a.swap(tmp);
}

// What the sweep needs besides the sorted scores. Scores come as several ascending-sorted
// streams (one per worker thread), merged on the fly.
struct SweepInput {
  std::vector<const std::vector<uint32_t>*> neg;  // sorted keys of normal samples
  std::vector<const std::vector<uint64_t>*> pos;  // sorted (key << 32 | region id) of anomalous ones
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
  for (auto* v : in.neg) N += int64_t(v->size());
  for (auto* v : in.pos) P += int64_t(v->size());
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
  for (auto* v : in.neg) ni.push_back(v->size());
  for (auto* v : in.pos) pj.push_back(v->size());
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
        key = any ? std::max(key, (*in.neg[s])[ni[s] - 1]) : (*in.neg[s])[ni[s] - 1];
        any = true;
      }
    for (size_t s = 0; s < pj.size(); ++s)
      if (pj[s] > 0) {
        const uint32_t k = uint32_t((*in.pos[s])[pj[s] - 1] >> 32);
        key = any ? std::max(key, k) : k;
        any = true;
      }
    if (!any) break;
    const int64_t tp0 = tp, fp0 = fp;
    for (size_t s = 0; s < ni.size(); ++s) {
      const uint32_t* d = in.neg[s]->data();
      size_t i = ni[s];
      while (i > 0 && d[i - 1] == key) --i;
      fp += int64_t(ni[s] - i);
      ni[s] = i;
    }
    for (size_t s = 0; s < pj.size(); ++s) {
      const uint64_t* d = in.pos[s]->data();
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

std::string image_where(const std::string& cls, size_t i) {
  return cls.empty() ? fmt::format("image {}", i) : fmt::format("class '{}', image {}", cls, i);
}

struct PixelOutput {
  BinaryMetrics m;
  std::optional<double> aupro_anomalyclip, aupro_mvtec;
  int64_t n_regions = 0;
};

struct PixelOptions {
  bool curves = true;  // AUROC/AP/F1 (+ official PRO when `mvtec`)
  bool mvtec = true;
  bool anomalyclip = true;
  double fpr_limit = 0.3;
  int steps = 200;
  bool progress = false;
  int threads = 0;
  std::string name;
};

// AnomalyCLIP's AUPRO from per-bin counts: bin b holds the pixels above exactly b thresholds.
std::optional<double> finish_anomalyclip(const std::vector<int64_t>& neg_hist,
                                         const std::vector<double>& pro_weight, int64_t n_neg,
                                         int64_t n_regions, double limit) {
  const size_t L = neg_hist.size() - 1;  // number of thresholds
  if (L == 0 || n_neg == 0 || n_regions == 0) return std::nullopt;
  std::vector<double> fprs(L), pros(L);
  int64_t fp = 0;
  long double w = 0;
  for (size_t k = L; k-- > 0;) {  // threshold k: pixels in bins > k are above it
    fp += neg_hist[k + 1];
    w += pro_weight[k + 1];
    fprs[k] = double(fp) / double(n_neg);
    pros[k] = static_cast<double>(w / n_regions);
  }
  std::vector<double> x, y;
  for (size_t k = 0; k < L; ++k)
    if (fprs[k] < limit) {
      x.push_back(fprs[k]);
      y.push_back(pros[k]);
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
  long double s = 0;
  for (size_t k = 1; k < x.size(); ++k) s += (x[k] - x[k - 1]) * (y[k] + y[k - 1]) / 2.0;
  return static_cast<double>(direction * s);
}

// The pixels of a range of images, gathered by one worker thread.
struct PixelPart {
  std::vector<uint32_t> neg;       // keys of normal pixels
  std::vector<uint64_t> pos;       // key << 32 | region id (local to the part until merged)
  std::vector<double> inv_area;    // local region id -> 1 / area
  std::vector<int64_t> neg_hist;   // AnomalyCLIP bins
  std::vector<double> pro_weight;
};

PixelOutput compute_pixels(const std::vector<const float*>& maps,
                           const std::vector<const uint8_t*>& masks, int h, int w,
                           const PixelOptions& o) {
  PixelOutput out;
  const size_t n = maps.size();
  const std::string where = o.name.empty() ? std::string("metrics") : "class '" + o.name + "'";
  TC_CHECK_INPUT(masks.size() == n, "{}: {} anomaly maps but {} masks; expected one mask per map", where, n,
                 masks.size());
  TC_CHECK_INPUT(h > 0 && w > 0, "{}: map size {}x{}; expected positive height and width", where, h, w);
  const int64_t hw = int64_t(h) * w;

  // Pass 1: validation, min/max (the AnomalyCLIP grid), and the exact anomalous-pixel count per
  // image so that every buffer is allocated once.
  float mn = INFINITY, mx = -INFINITY;
  std::vector<int64_t> pos_count(n, 0);
  int64_t n_pos = 0;
  for (size_t i = 0; i < n; ++i) {
    TC_CHECK_INPUT(maps[i] != nullptr, "{}: anomaly map missing", image_where(o.name, i));
    const float* m = maps[i];
    for (int64_t p = 0; p < hw; ++p) {
      const float v = m[p];
      if (!std::isfinite(v))
        TC_INPUT_ERROR("{}: anomaly map value {} at pixel (y={}, x={}); expected finite scores",
                       image_where(o.name, i), v, p / w, p % w);
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
    if (masks[i]) {
      const uint8_t* k = masks[i];
      int64_t c = 0;
      for (int64_t p = 0; p < hw; ++p) c += k[p] != 0;
      pos_count[i] = c;
      n_pos += c;
    }
  }
  const int64_t total = int64_t(n) * hw;
  const int64_t n_neg = total - n_pos;
  if (n == 0) return out;

  std::vector<float> th;
  const bool acl = o.anomalyclip;
  if (acl) th = anomalyclip_thresholds(mn, mx, o.steps);
  const bool use_th = acl && !th.empty();
  const bool th_sorted = std::is_sorted(th.begin(), th.end());
  // Bin of v = number of thresholds t with v > t. The grid is (nearly) uniform, so guess the
  // bin arithmetically and correct by walking (a binary search per pixel costs ~5x more).
  const long n_th = long(th.size());
  const double th0 = th.empty() ? 0.0 : double(th.front());
  const double inv_step = n_th > 1 ? double(n_th - 1) / (double(th.back()) - th0) : 0.0;
  const bool th_fast = th_sorted && n_th > 1 && std::isfinite(inv_step) && inv_step > 0;
  auto bin_of = [&](float v) -> size_t {
    if (!th_fast) return size_t(std::count_if(th.begin(), th.end(), [v](float t) { return v > t; }));
    double g = (double(v) - th0) * inv_step + 1.0;
    long b = g <= 0 ? 0 : g >= double(n_th) ? n_th : long(g);
    while (b > 0 && !(v > th[size_t(b - 1)])) --b;
    while (b < n_th && v > th[size_t(b)]) ++b;
    return size_t(b);
  };

  const bool keep_pixels = o.curves;
  // Two workers (the machines this targets have 2+ cores) on contiguous halves of the images
  // when there is enough work; each gathers and sorts its own pixels, the sweep merges them.
  const int want = o.threads > 0 ? std::min(o.threads, 2) : (total >= (int64_t(1) << 20) ? 2 : 1);
  const int workers = n >= 2 ? want : 1;
  std::vector<PixelPart> parts(static_cast<size_t>(workers));
  std::vector<size_t> split{0, workers == 2 ? n / 2 : n, n};
  Progress prog("pixel metrics" + (o.name.empty() ? std::string() : " " + o.name), int64_t(n), "img",
                o.progress);
  auto work = [&](int wi) {
    PixelPart& part = parts[size_t(wi)];
    const size_t i0 = split[size_t(wi)], i1 = split[size_t(wi) + 1];
    int64_t np = 0;
    for (size_t i = i0; i < i1; ++i) np += pos_count[i];
    if (keep_pixels) {
      part.neg.reserve(size_t(int64_t(i1 - i0) * hw - np));
      part.pos.reserve(size_t(np));
    }
    part.neg_hist.assign(th.size() + 1, 0);
    part.pro_weight.assign(th.size() + 1, 0.0);
    std::vector<int32_t> labels(static_cast<size_t>(hw));
    std::vector<int64_t> area;
    for (size_t i = i0; i < i1; ++i) {
      const float* m = maps[i];
      int32_t count = 0;
      if (masks[i] && pos_count[i] > 0) count = label_regions_8(masks[i], h, w, labels.data());
      const uint32_t base = uint32_t(part.inv_area.size());
      TC_CHECK(int64_t(base) + count < int64_t(UINT32_MAX / 2), "too many ground-truth regions");
      area.assign(size_t(count) + 1, 0);
      if (count > 0)
        for (int64_t p = 0; p < hw; ++p) ++area[size_t(labels[size_t(p)])];
      for (int32_t r = 1; r <= count; ++r) part.inv_area.push_back(1.0 / double(area[size_t(r)]));
      for (int64_t p = 0; p < hw; ++p) {
        const float v = m[p];
        const int32_t lab = count > 0 ? labels[size_t(p)] : 0;
        if (lab == 0) {
          if (keep_pixels) part.neg.push_back(float_key(v));
          if (use_th) ++part.neg_hist[bin_of(v)];
        } else {
          const uint32_t rid = base + uint32_t(lab - 1);
          if (keep_pixels) part.pos.push_back((uint64_t(float_key(v)) << 32) | rid);
          if (use_th) part.pro_weight[bin_of(v)] += part.inv_area[rid];
        }
      }
      if (wi == 0) prog.update(workers);  // worker 0 reports for both (they run in step)
    }
    if (keep_pixels) {
      radix_sort(part.neg, 0);
      radix_sort(part.pos, 32);
    }
  };
  if (workers == 1) {
    work(0);
  } else {
    // An exception in the helper thread is carried over and rethrown here.
    std::exception_ptr err;
    std::thread t([&] {
      try {
        work(1);
      } catch (...) {
        err = std::current_exception();
      }
    });
    try {
      work(0);
    } catch (...) {
      t.join();
      throw;
    }
    t.join();
    if (err) std::rethrow_exception(err);
  }
  prog.finish();

  // Merge: global region ids (part 1's follow part 0's), summed AnomalyCLIP bins.
  std::vector<double> inv_area = std::move(parts[0].inv_area);
  std::vector<int64_t> neg_hist = std::move(parts[0].neg_hist);
  std::vector<double> pro_weight = std::move(parts[0].pro_weight);
  for (size_t k = 1; k < parts.size(); ++k) {
    const uint64_t base = inv_area.size();
    for (auto& e : parts[k].pos) e += base;  // low 32 bits hold the region id; no carry (checked)
    inv_area.insert(inv_area.end(), parts[k].inv_area.begin(), parts[k].inv_area.end());
    for (size_t b = 0; b < neg_hist.size(); ++b) {
      neg_hist[b] += parts[k].neg_hist[b];
      pro_weight[b] += parts[k].pro_weight[b];
    }
    std::vector<double>().swap(parts[k].inv_area);
  }
  out.n_regions = int64_t(inv_area.size());

  if (acl)
    out.aupro_anomalyclip =
        use_th ? finish_anomalyclip(neg_hist, pro_weight, n_neg, out.n_regions, o.fpr_limit) : std::nullopt;

  if (keep_pixels) {
    SweepInput si;
    for (auto& part : parts) {
      si.neg.push_back(&part.neg);
      si.pos.push_back(&part.pos);
    }
    si.inv_area = o.mvtec ? &inv_area : nullptr;
    si.n_regions = out.n_regions;
    si.fpr_limit = o.fpr_limit;
    SweepOutput so = sweep(si);
    out.m = so.m;
    out.aupro_mvtec = so.aupro_mvtec;
  } else {
    out.m.n_pos = n_pos;
    out.m.n_neg = n_neg;
  }
  return out;
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
  detail_metrics::radix_sort(neg, 0);
  detail_metrics::radix_sort(pos, 32);
  detail_metrics::SweepInput si;
  si.neg = {&neg};
  si.pos = {&pos};
  return detail_metrics::sweep(si).m;
}

std::optional<double> aupro_mvtec(const std::vector<const float*>& maps,
                                  const std::vector<const uint8_t*>& masks, int h, int w,
                                  double fpr_limit) {
  detail_metrics::PixelOptions o;
  o.anomalyclip = false;
  o.fpr_limit = fpr_limit;
  return detail_metrics::compute_pixels(maps, masks, h, w, o).aupro_mvtec;
}

std::optional<double> aupro_anomalyclip(const std::vector<const float*>& maps,
                                        const std::vector<const uint8_t*>& masks, int h, int w,
                                        int steps, double fpr_limit) {
  detail_metrics::PixelOptions o;
  o.curves = false;
  o.mvtec = false;
  o.steps = steps;
  o.fpr_limit = fpr_limit;
  return detail_metrics::compute_pixels(maps, masks, h, w, o).aupro_anomalyclip;
}

ClassMetrics compute_class_metrics(const ClassData& d, const MetricsOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  ClassMetrics c;
  c.name = d.name;
  const std::string where = d.name.empty() ? std::string("metrics") : "class '" + d.name + "'";
  TC_CHECK_INPUT(d.image_scores.size() == d.image_labels.size(),
                 "{}: {} image scores but {} image labels; expected one label per score", where,
                 d.image_scores.size(), d.image_labels.size());
  TC_CHECK_USAGE(opts.pro_fpr_limit > 0 && opts.pro_fpr_limit <= 1,
                 "AUPRO FPR limit {}; expected a value in (0, 1]", opts.pro_fpr_limit);
  const size_t n = d.image_scores.size();
  c.n_images = int64_t(n);
  for (size_t i = 0; i < n; ++i) {
    TC_CHECK_INPUT(std::isfinite(d.image_scores[i]), "{}: image score {}; expected a finite number",
                   detail_metrics::image_where(d.name, i), d.image_scores[i]);
    TC_CHECK_INPUT(d.image_labels[i] <= 1, "{}: image label {}; expected 0 (normal) or 1 (anomalous)",
                   detail_metrics::image_where(d.name, i), int(d.image_labels[i]));
    c.n_anomalous_images += d.image_labels[i];
  }
  c.image = binary_metrics(d.image_scores.data(), d.image_labels.data(), n);

  if (opts.pixel && d.has_masks && !d.maps.empty()) {
    TC_CHECK_INPUT(d.maps.size() == n, "{}: {} anomaly maps for {} images; expected one per image",
                   where, d.maps.size(), n);
    detail_metrics::PixelOptions o;
    o.mvtec = opts.aupro_mvtec;
    o.anomalyclip = opts.aupro_anomalyclip;
    o.fpr_limit = opts.pro_fpr_limit;
    o.steps = opts.pro_steps;
    o.progress = opts.progress;
    o.threads = opts.threads;
    o.name = d.name;
    auto px = detail_metrics::compute_pixels(d.maps, d.masks, d.height, d.width, o);
    c.has_pixel = true;
    c.pixel = px.m;
    c.aupro_anomalyclip = px.aupro_anomalyclip;
    c.aupro_mvtec = px.aupro_mvtec;
    c.n_regions = px.n_regions;
  }
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

}  // namespace tc::eval
