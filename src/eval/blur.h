// Gaussian blur of anomaly maps, exactly as scipy.ndimage.gaussian_filter(map, sigma,
// mode='reflect', truncate=4.0) on a float32 map (docs/METHOD.md section 3: sigma 4 -> radius 16).
//
//  - weights exp(-x^2 / (2 sigma^2)) for x in [-r, r], r = int(truncate * sigma + 0.5),
//    normalised by their sum;
//  - separable: axis 0 (down the columns) first, then axis 1, each pass accumulating in double
//    and storing float32 (scipy keeps the intermediate in the input's dtype);
//  - 'reflect' border: (d c b a | a b c d | d c b a), the edge pixel repeated, periodic for
//    maps smaller than the radius.
#pragma once

#include <vector>

namespace tc::eval {

// scipy's _gaussian_kernel1d(sigma, 0, radius): 2r + 1 weights summing to 1.
std::vector<double> gaussian_kernel(double sigma, double truncate = 4.0);
int gaussian_radius(double sigma, double truncate = 4.0);

// Blurs an h x w float map; `out` may equal `in`. sigma <= 1e-15 copies (blur off), as scipy.
void gaussian_blur(const float* in, float* out, int h, int w, double sigma = 4.0,
                   double truncate = 4.0);

// Index of position i (any integer) in a line of n samples under scipy's 'reflect' mode.
inline long reflect_index(long i, long n) {
  if (n == 1) return 0;
  long m = i % (2 * n);
  if (m < 0) m += 2 * n;
  return m < n ? m : 2 * n - 1 - m;
}

}  // namespace tc::eval
