// bias_act CUDA plugin: Python binding and argument checks.
//
// Forward mode (ref None):    y = clamp(act(x + b) * gain)
// Gradient mode (ref given):  y = x * act'(ref + b) * gain * [|act(ref + b) * gain| <= clamp]
// where x is then the incoming gradient and ref the saved input of the forward call. act is
// 0 = linear, 1 = relu, 2 = lrelu (slope alpha); b (optional, may be None) is broadcast along
// dimension dim; clamp < 0 means no clamping. Semantics match
// stylegan2_ops/bias_act.py::_bias_act_torch.

#include <torch/extension.h>

#include <optional>

#include "messages.h"

using latentreenact_messages::device;
using latentreenact_messages::num;
using latentreenact_messages::shape;

at::Tensor bias_act_cuda_run(
    const at::Tensor& x, const at::Tensor& b, const at::Tensor& ref, at::Tensor& y,
    int64_t inner, int64_t channels, int64_t act, double alpha, double gain, double clamp);

at::Tensor bias_act(
    torch::Tensor x, const std::optional<torch::Tensor>& bias, const std::optional<torch::Tensor>& reference,
    int64_t dim, int64_t act, double alpha, double gain, double clamp) {
  torch::Tensor b = bias.has_value() ? *bias : torch::Tensor();
  torch::Tensor ref = reference.has_value() ? *reference : torch::Tensor();
  TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor, got one on ", device(x));
  TORCH_CHECK(act >= 0 && act <= 2, "bias_act: act must be 0 (linear), 1 (relu) or 2 (lrelu), got ", num(act));
  TORCH_CHECK(x.dim() == 0 || (dim >= 0 && dim < x.dim()),
              "bias_act: dim must be in [0, ", num(x.dim()), ") for x of shape ", shape(x.sizes()), ", got ", num(dim));
  const bool has_bias = b.defined();
  const bool grad_mode = ref.defined();
  const int64_t channels = x.dim() == 0 ? 1 : x.size(dim);
  if (has_bias) {
    TORCH_CHECK(b.is_cuda() && b.device() == x.device(), "bias_act: the bias must be on x's device ",
                device(x), ", got ", device(b));
    TORCH_CHECK(b.scalar_type() == x.scalar_type(), "bias_act: the bias (", b.scalar_type(),
                ") and x (", x.scalar_type(), ") must have the same dtype");
    TORCH_CHECK(b.dim() == 1 && b.size(0) == channels, "bias_act: the bias must have shape [",
                num(channels), "] (x has shape ", shape(x.sizes()), " and dim is ", num(dim), "), got ",
                shape(b.sizes()));
    b = b.contiguous();
  }
  if (grad_mode) {
    TORCH_CHECK(ref.is_cuda() && ref.device() == x.device(), "bias_act: ref must be on x's device ",
                device(x), ", got ", device(ref));
    TORCH_CHECK(ref.scalar_type() == x.scalar_type(), "bias_act: ref (", ref.scalar_type(),
                ") and the gradient (", x.scalar_type(), ") must have the same dtype");
    TORCH_CHECK(ref.sizes() == x.sizes(), "bias_act: ref must have the gradient's shape ",
                shape(x.sizes()), ", got ", shape(ref.sizes()));
    ref = ref.contiguous();
  }
  x = x.contiguous();
  int64_t inner = 1;
  for (int64_t i = dim + 1; i < x.dim(); ++i) inner *= x.size(i);

  auto y = torch::empty_like(x, at::MemoryFormat::Contiguous);
  if (y.numel() == 0) return y;
  return bias_act_cuda_run(x, has_bias ? b : at::Tensor(), grad_mode ? ref : at::Tensor(), y,
                           inner, channels, act, alpha, gain, clamp);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("bias_act", &bias_act,
        "bias_act(x, b, ref, dim, act, alpha, gain, clamp): fused bias + activation + gain + clamp; "
        "with ref given, the gradient x * act'(ref + b) * gain * clamp-mask",
        py::arg("x"), py::arg("b"), py::arg("ref"), py::arg("dim"), py::arg("act"), py::arg("alpha"),
        py::arg("gain"), py::arg("clamp"));
}
