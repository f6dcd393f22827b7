// Season detection from the autocorrelation of the differenced training part.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lstm/data.h"

namespace lstm {

namespace {

// The z with P(|Z| > z) = p for a standard normal Z, i.e. erfc(z/√2) = p, by bisection.
double two_sided_normal_quantile(double p) {
  double low = 0, high = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = (low + high) / 2;
    (std::erfc(mid / std::sqrt(2.0)) > p ? low : high) = mid;
  }
  return (low + high) / 2;
}

// r[k] for k = 0 … max_lag:  r(k) = Σ_{t<n−k} (x_t − x̄)(x_{t+k} − x̄) / Σ_t (x_t − x̄)²  (r(0) = 1).
std::vector<double> autocorrelation(const std::vector<double>& x, int64_t max_lag) {
  const int64_t n = static_cast<int64_t>(x.size());
  double mean = 0;
  for (const double v : x) mean += v;
  mean /= static_cast<double>(n);
  std::vector<double> centred(x.size());
  double variance_sum = 0;
  for (int64_t t = 0; t < n; ++t) {
    centred[t] = x[t] - mean;
    variance_sum += centred[t] * centred[t];
  }
  std::vector<double> r(static_cast<std::size_t>(max_lag + 1), 0.0);
  if (variance_sum == 0) return r;
  for (int64_t k = 0; k <= max_lag; ++k) {
    double sum = 0;
    for (int64_t t = 0; t + k < n; ++t) sum += centred[t] * centred[t + k];
    r[k] = sum / variance_sum;
  }
  return r;
}

std::string fixed(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

}  // namespace

Season detect_season(const std::vector<double>& training_target, int64_t calendar_period) {
  Season season;
  season.calendar_period = calendar_period;
  // d_t = x_t − x_{t−1}
  std::vector<double> differences;
  for (std::size_t t = 1; t < training_target.size(); ++t)
    differences.push_back(training_target[t] - training_target[t - 1]);
  const int64_t n = static_cast<int64_t>(differences.size());
  // At least three seasons are needed to see one repeat twice.
  constexpr int64_t most_lags = 1000;
  const int64_t max_lag = std::min(n / 3, most_lags);
  if (max_lag < 2) {
    season.description = "no season: the training part (" + std::to_string(training_target.size()) +
                         " rows) is too short to look for one";
    return season;
  }
  // r up to max_lag + 1, so that r(max_lag) can be a local maximum.
  const std::vector<double> r = autocorrelation(differences, max_lag + 1);

  // White noise has r(k) ≈ N(0, 1/n); testing lags 2 … max_lag at a 5% family-wise level
  // (Bonferroni) puts the bound at z/√n with P(|Z| > z) = 0.05/(max_lag − 1). A peak must also
  // reach 0.1, a correlation of practical size, which a long series alone cannot give.
  const double z = two_sided_normal_quantile(0.05 / static_cast<double>(max_lag - 1));
  season.threshold = std::max(z / std::sqrt(static_cast<double>(n)), 0.1);
  const auto is_peak = [&](int64_t k) {
    return k >= 2 && k <= max_lag && r[k] >= r[k - 1] && r[k] >= r[k + 1] && r[k] > season.threshold;
  };

  int64_t best = 0, largest = 2;
  for (int64_t k = 2; k <= max_lag; ++k) {
    if (r[k] > r[largest]) largest = k;
    if (is_peak(k) && (best == 0 || r[k] > r[best])) best = k;
  }
  const bool calendar_confirmed = calendar_period >= 2 && is_peak(calendar_period);
  const std::string calendar_note =
      calendar_period < 2 ? ""
      : calendar_period > max_lag
          ? "; the calendar's " + std::to_string(calendar_period) + " is beyond the lags tried"
          : "; the calendar's " + std::to_string(calendar_period) + " has r = " + fixed(r[calendar_period]);
  if (calendar_confirmed) best = calendar_period;
  if (best == 0) {
    season.description = "no season: no autocorrelation peak of the differenced training part above " +
                         fixed(season.threshold) + " at lags 2 to " + std::to_string(max_lag) + " (largest r = " +
                         fixed(r[largest]) + " at lag " + std::to_string(largest) + ")" + calendar_note;
    return season;
  }
  season.period = best;
  season.autocorrelation = r[best];
  season.description = "season " + std::to_string(best) + ": autocorrelation peak r = " + fixed(r[best]) +
                       " of the differenced training part, above " + fixed(season.threshold) +
                       (calendar_confirmed ? "; as the calendar says" : calendar_note);
  return season;
}

}  // namespace lstm
