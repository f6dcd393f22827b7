// Sequential: layers run in order; backward in reverse order.
#include <iomanip>
#include <sstream>

#include "lstm/model.h"
#include "train/training.h"

namespace lstm {

Sequential::Sequential() = default;
Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

void Sequential::add(std::unique_ptr<Layer> layer) {
  if (!layer) throw Error("Sequential::add: null layer");
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x, const ForwardContext& ctx) {
  if (layers_.empty()) throw Error("Sequential::forward: the model has no layers");
  Tensor y = layers_.front()->forward(x, ctx);
  for (std::size_t i = 1; i < layers_.size(); ++i) y = layers_[i]->forward(y, ctx);
  return y;
}

Tensor Sequential::backward(const Tensor& d_y) {
  if (layers_.empty()) throw Error("Sequential::backward: the model has no layers");
  Tensor d = layers_.back()->backward(d_y);
  for (std::size_t i = layers_.size() - 1; i-- > 0;) d = layers_[i]->backward(d);
  return d;
}

Tensor Sequential::predict(const Tensor& x, const std::vector<int64_t>* lengths) {
  return forward(x, ForwardContext{.training = false, .lengths = lengths});
}

std::vector<ParameterRef> Sequential::parameters() {
  std::vector<ParameterRef> all;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    for (ParameterRef& p : layers_[i]->parameters())
      all.push_back({std::to_string(i) + "." + p.name, p.value, p.grad});
  return all;
}

int64_t Sequential::parameter_count() {
  int64_t n = 0;
  for (auto& layer : layers_) n += layer->parameter_count();
  return n;
}

void Sequential::zero_grad() {
  for (auto& layer : layers_) layer->zero_grad();
}

std::string Sequential::summary() {
  std::ostringstream out;
  out << std::left << std::setw(4) << "#" << std::setw(64) << "layer"
      << "parameters\n";
  for (std::size_t i = 0; i < layers_.size(); ++i)
    out << std::setw(4) << i << std::setw(64) << layers_[i]->describe()
        << layers_[i]->parameter_count() << '\n';
  out << "total parameters: " << parameter_count() << '\n';
  return out.str();
}

}  // namespace lstm
