// SGD, Adam, AdamW, RMSprop and Adagrad: PyTorch's update rules (torch.optim, 1.13), one flat
// loop over each parameter's values. As in PyTorch, the arithmetic is float32 with the scalar
// coefficients computed in double and rounded once; ∇ is the gradient, θ the parameter, γ the
// learning rate and t the step number (1 at the first step).
#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "lstm/optim.h"
#include "optim/check.h"

namespace lstm {

using optim_detail::number;
using optim_detail::require;

namespace {

using Buffers = std::map<std::string, Tensor>;

float to_float(double x) { return static_cast<float>(x); }

// The buffer `name` of `parameter`, created shaped like the parameter and filled with `fill` if
// absent.
float* buffer(Buffers& buffers, const std::string& name, const ParameterRef& parameter,
              float fill = 0.0f) {
  return buffers.try_emplace(name, parameter.value->shape(), fill).first->second.data();
}

void require_non_negative(double value, const std::string& optimizer, const std::string& what) {
  require(value >= 0.0, optimizer + ": invalid " + what + " " + number(value) + " (must be >= 0)");
}

void require_betas(const std::array<double, 2>& betas, const std::string& optimizer) {
  for (std::size_t i = 0; i < betas.size(); ++i)
    require(betas[i] >= 0.0 && betas[i] < 1.0, optimizer + ": invalid beta parameter at index " +
                                                   std::to_string(i) + ": " + number(betas[i]) +
                                                   " (must be in [0, 1))");
}

// What distinguishes Adam and AdamW: only where the weight decay λ acts.
struct AdamRule {
  double lr;
  std::array<double, 2> betas;
  double eps;
  double weight_decay;
  bool decoupled_weight_decay;  // AdamW
  bool amsgrad;
};

std::vector<std::string> adam_buffer_names(bool amsgrad) {
  if (amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

// Adam, and AdamW with its decoupled weight decay:
//   θ ← θ (1 − γλ)                                    AdamW only
//   g ← ∇ + λθ                                        Adam (AdamW: g ← ∇)
//   m ← β₁ m + (1 − β₁) g                             "exp_avg"
//   v ← β₂ v + (1 − β₂) g²                            "exp_avg_sq"
//   v̂ ← max(v̂, v) with amsgrad ("max_exp_avg_sq"), else v̂ = v
//   θ ← θ − γ / (1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
void adam_update(const AdamRule& rule, const ParameterRef& parameter, Buffers& buffers,
                 int64_t step) {
  const double t = static_cast<double>(step);
  const auto [beta1_d, beta2_d] = rule.betas;
  const float decay =
      to_float(rule.decoupled_weight_decay ? 1.0 - rule.lr * rule.weight_decay : 1.0);
  const float l2 = to_float(rule.decoupled_weight_decay ? 0.0 : rule.weight_decay);
  const float beta1 = to_float(beta1_d), one_minus_beta1 = to_float(1.0 - beta1_d);
  const float beta2 = to_float(beta2_d), one_minus_beta2 = to_float(1.0 - beta2_d);
  const float step_size = to_float(rule.lr / (1.0 - std::pow(beta1_d, t)));
  const float bias_correction2_sqrt = to_float(std::sqrt(1.0 - std::pow(beta2_d, t)));
  const float eps = to_float(rule.eps);

  float* theta = parameter.value->data();
  const float* grad = parameter.grad->data();
  float* m = buffer(buffers, "exp_avg", parameter);
  float* v = buffer(buffers, "exp_avg_sq", parameter);
  float* v_max = rule.amsgrad ? buffer(buffers, "max_exp_avg_sq", parameter) : nullptr;
  const int64_t n = parameter.value->numel();
  for (int64_t i = 0; i < n; ++i) {
    theta[i] *= decay;
    const float g = grad[i] + l2 * theta[i];
    m[i] = beta1 * m[i] + one_minus_beta1 * g;
    v[i] = beta2 * v[i] + one_minus_beta2 * g * g;
    if (v_max != nullptr) v_max[i] = std::max(v_max[i], v[i]);
    const float v_hat = v_max != nullptr ? v_max[i] : v[i];
    theta[i] -= step_size * (m[i] / (std::sqrt(v_hat) / bias_correction2_sqrt + eps));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
SGD::SGD(const SGDOptions& options) : Optimizer(options.lr), options_(options) {
  require_non_negative(options.lr, "sgd", "learning rate");
  require_non_negative(options.momentum, "sgd", "momentum");
  require_non_negative(options.weight_decay, "sgd", "weight_decay");
  require(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0),
          "sgd: Nesterov momentum requires a momentum and zero dampening");
}

std::unique_ptr<Optimizer> SGD::clone() const { return std::make_unique<SGD>(*this); }

std::vector<std::string> SGD::buffer_names() const {
  if (options_.momentum == 0.0) return {};
  return {"momentum_buffer"};
}

// With weight decay λ, momentum μ and dampening τ:
//   g ← ∇ + λθ
//   b ← g at the first step, else μ b + (1 − τ) g      "momentum_buffer", with momentum only
//   g ← g + μ b with Nesterov, else g ← b              with momentum only
//   θ ← θ − γ g
void SGD::update(const ParameterRef& parameter, Buffers& buffers, int64_t /*step*/) {
  const float lr = to_float(this->lr()), weight_decay = to_float(options_.weight_decay);
  const float momentum = to_float(options_.momentum);
  const float one_minus_dampening = to_float(1.0 - options_.dampening);
  float* theta = parameter.value->data();
  const float* grad = parameter.grad->data();
  const int64_t n = parameter.value->numel();
  if (options_.momentum == 0.0) {
    for (int64_t i = 0; i < n; ++i) theta[i] -= lr * (grad[i] + weight_decay * theta[i]);
    return;
  }
  const bool first = !buffers.contains("momentum_buffer");
  float* b = buffer(buffers, "momentum_buffer", parameter);
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + weight_decay * theta[i];
    b[i] = first ? g : momentum * b[i] + one_minus_dampening * g;
    theta[i] -= lr * (options_.nesterov ? g + momentum * b[i] : b[i]);
  }
}

// ---------------------------------------------------------------------------------------------
Adam::Adam(const AdamOptions& options) : Optimizer(options.lr), options_(options) {
  require_non_negative(options.lr, "adam", "learning rate");
  require_non_negative(options.eps, "adam", "epsilon value");
  require_betas(options.betas, "adam");
  require_non_negative(options.weight_decay, "adam", "weight_decay value");
}

std::unique_ptr<Optimizer> Adam::clone() const { return std::make_unique<Adam>(*this); }

std::vector<std::string> Adam::buffer_names() const { return adam_buffer_names(options_.amsgrad); }

void Adam::update(const ParameterRef& parameter, Buffers& buffers, int64_t step) {
  adam_update({.lr = lr(),
               .betas = options_.betas,
               .eps = options_.eps,
               .weight_decay = options_.weight_decay,
               .decoupled_weight_decay = false,
               .amsgrad = options_.amsgrad},
              parameter, buffers, step);
}

AdamW::AdamW(const AdamWOptions& options) : Optimizer(options.lr), options_(options) {
  require_non_negative(options.lr, "adamw", "learning rate");
  require_non_negative(options.eps, "adamw", "epsilon value");
  require_betas(options.betas, "adamw");
  require_non_negative(options.weight_decay, "adamw", "weight_decay value");
}

std::unique_ptr<Optimizer> AdamW::clone() const { return std::make_unique<AdamW>(*this); }

std::vector<std::string> AdamW::buffer_names() const { return adam_buffer_names(options_.amsgrad); }

void AdamW::update(const ParameterRef& parameter, Buffers& buffers, int64_t step) {
  adam_update({.lr = lr(),
               .betas = options_.betas,
               .eps = options_.eps,
               .weight_decay = options_.weight_decay,
               .decoupled_weight_decay = true,
               .amsgrad = options_.amsgrad},
              parameter, buffers, step);
}

// ---------------------------------------------------------------------------------------------
RMSprop::RMSprop(const RMSpropOptions& options) : Optimizer(options.lr), options_(options) {
  require_non_negative(options.lr, "rmsprop", "learning rate");
  require_non_negative(options.eps, "rmsprop", "epsilon value");
  require_non_negative(options.momentum, "rmsprop", "momentum value");
  require_non_negative(options.weight_decay, "rmsprop", "weight_decay value");
  require_non_negative(options.alpha, "rmsprop", "alpha value");
}

std::unique_ptr<Optimizer> RMSprop::clone() const { return std::make_unique<RMSprop>(*this); }

std::vector<std::string> RMSprop::buffer_names() const {
  std::vector<std::string> names = {"square_avg"};
  if (options_.momentum > 0.0) names.push_back("momentum_buffer");
  if (options_.centered) names.push_back("grad_avg");
  return names;
}

// With smoothing α, weight decay λ and momentum μ:
//   g ← ∇ + λθ
//   v ← α v + (1 − α) g²                                "square_avg"
//   centered: ḡ ← α ḡ + (1 − α) g ("grad_avg"), d ← √(v − ḡ²) + ε;  else d ← √v + ε
//   momentum: b ← μ b + g / d ("momentum_buffer"), θ ← θ − γ b;  else θ ← θ − γ g / d
void RMSprop::update(const ParameterRef& parameter, Buffers& buffers, int64_t /*step*/) {
  const float lr = to_float(this->lr()), weight_decay = to_float(options_.weight_decay);
  const float alpha = to_float(options_.alpha), one_minus_alpha = to_float(1.0 - options_.alpha);
  const float eps = to_float(options_.eps), momentum = to_float(options_.momentum);
  float* theta = parameter.value->data();
  const float* grad = parameter.grad->data();
  float* v = buffer(buffers, "square_avg", parameter);
  float* b = options_.momentum > 0.0 ? buffer(buffers, "momentum_buffer", parameter) : nullptr;
  float* g_avg = options_.centered ? buffer(buffers, "grad_avg", parameter) : nullptr;
  const int64_t n = parameter.value->numel();
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + weight_decay * theta[i];
    v[i] = alpha * v[i] + one_minus_alpha * g * g;
    float d;
    if (g_avg != nullptr) {
      g_avg[i] = alpha * g_avg[i] + one_minus_alpha * g;
      d = std::sqrt(v[i] - g_avg[i] * g_avg[i]) + eps;
    } else {
      d = std::sqrt(v[i]) + eps;
    }
    if (b != nullptr) {
      b[i] = momentum * b[i] + g / d;
      theta[i] -= lr * b[i];
    } else {
      theta[i] -= lr * (g / d);
    }
  }
}

// ---------------------------------------------------------------------------------------------
Adagrad::Adagrad(const AdagradOptions& options) : Optimizer(options.lr), options_(options) {
  require_non_negative(options.lr, "adagrad", "learning rate");
  require_non_negative(options.lr_decay, "adagrad", "lr_decay value");
  require_non_negative(options.weight_decay, "adagrad", "weight_decay value");
  require_non_negative(options.initial_accumulator_value, "adagrad", "initial_accumulator_value");
  require_non_negative(options.eps, "adagrad", "epsilon value");
}

std::unique_ptr<Optimizer> Adagrad::clone() const { return std::make_unique<Adagrad>(*this); }

std::vector<std::string> Adagrad::buffer_names() const { return {"sum"}; }

// With learning-rate decay η, weight decay λ and s starting at initial_accumulator_value:
//   g ← ∇ + λθ
//   γₜ ← γ / (1 + (t − 1) η)
//   s ← s + g²                                          "sum"
//   θ ← θ − γₜ g / (√s + ε)
void Adagrad::update(const ParameterRef& parameter, Buffers& buffers, int64_t step) {
  const float lr_t = to_float(lr() / (1.0 + static_cast<double>(step - 1) * options_.lr_decay));
  const float weight_decay = to_float(options_.weight_decay), eps = to_float(options_.eps);
  float* theta = parameter.value->data();
  const float* grad = parameter.grad->data();
  float* s = buffer(buffers, "sum", parameter, to_float(options_.initial_accumulator_value));
  const int64_t n = parameter.value->numel();
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + weight_decay * theta[i];
    s[i] += g * g;
    theta[i] -= lr_t * (g / (std::sqrt(s[i]) + eps));
  }
}

}  // namespace lstm
