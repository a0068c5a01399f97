// upfirdn2d CUDA plugin: Python binding and argument checks.
//
// y = downsample(conv(pad(upsample(x, ux, uy), px0, px1, py0, py1), f), dx, dy) per channel of
// an [N, C, H, W] tensor; conv is a true ('valid') convolution with the [kh, kw] kernel f.
// Semantics match stylegan2_ops/upfirdn2d.py::_upfirdn2d_torch.

#include <torch/extension.h>

#include "messages.h"

#include <cstdlib>
#include <limits>

torch::Tensor upfirdn2d_cuda_forward(
    const torch::Tensor& x, const torch::Tensor& f, torch::Tensor& y,
    int64_t ux, int64_t uy, int64_t dx, int64_t dy,
    int64_t px0, int64_t px1, int64_t py0, int64_t py1);

namespace {

using latentreenact_messages::device;
using latentreenact_messages::num;
using latentreenact_messages::shape;

int64_t output_length(int64_t size, int64_t up, int64_t down, int64_t p0, int64_t p1, int64_t taps) {
  const int64_t span = size * up + p0 + p1 - taps;  // last valid start of the kernel window
  if (span < 0) return 0;
  return span / down + 1;
}

}  // namespace

torch::Tensor upfirdn2d(
    torch::Tensor x, torch::Tensor f,
    int64_t ux, int64_t uy, int64_t dx, int64_t dy,
    int64_t px0, int64_t px1, int64_t py0, int64_t py1) {
  TORCH_CHECK(x.is_cuda(), "upfirdn2d: x must be a CUDA tensor, got one on ", device(x));
  TORCH_CHECK(f.is_cuda(), "upfirdn2d: the kernel f must be a CUDA tensor, got one on ", device(f));
  TORCH_CHECK(x.device() == f.device(), "upfirdn2d: x (", device(x), ") and f (", device(f),
              ") must be on the same device");
  TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must have shape [N, C, H, W], got ", shape(x.sizes()));
  TORCH_CHECK(f.dim() == 2, "upfirdn2d: the kernel f must have shape [kh, kw], got ", shape(f.sizes()));
  TORCH_CHECK(x.scalar_type() == f.scalar_type(), "upfirdn2d: x (", x.scalar_type(),
              ") and f (", f.scalar_type(), ") must have the same dtype");
  TORCH_CHECK(ux >= 1 && uy >= 1, "upfirdn2d: up factors must be >= 1, got (", num(ux), ", ", num(uy), ")");
  TORCH_CHECK(dx >= 1 && dy >= 1, "upfirdn2d: down factors must be >= 1, got (", num(dx), ", ", num(dy), ")");
  TORCH_CHECK(f.numel() > 0, "upfirdn2d: the kernel f is empty");

  const int64_t in_h = x.size(2), in_w = x.size(3);
  const int64_t kh = f.size(0), kw = f.size(1);
  const int64_t out_h = output_length(in_h, uy, dy, py0, py1, kh);
  const int64_t out_w = output_length(in_w, ux, dx, px0, px1, kw);
  TORCH_CHECK(out_h >= 1 && out_w >= 1, "upfirdn2d: the output would be empty (", num(out_h), "x", num(out_w),
              ") for input ", shape(x.sizes()), ", kernel ", shape(f.sizes()), ", up (", num(ux), ", ", num(uy),
              "), down (", num(dx), ", ", num(dy), ") and pad (", num(px0), ", ", num(px1), ", ", num(py0), ", ",
              num(py1), ")");
  constexpr int64_t int_max = std::numeric_limits<int>::max();
  TORCH_CHECK(in_h * uy + std::abs(py0) + std::abs(py1) + kh < int_max &&
              in_w * ux + std::abs(px0) + std::abs(px1) + kw < int_max,
              "upfirdn2d: the padded, upsampled image is too large for 32-bit coordinates");

  x = x.contiguous();
  f = f.contiguous();
  auto y = torch::empty({x.size(0), x.size(1), out_h, out_w}, x.options());
  if (y.numel() == 0) return y;  // N == 0 or C == 0
  return upfirdn2d_cuda_forward(x, f, y, ux, uy, dx, dy, px0, px1, py0, py1);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("upfirdn2d", &upfirdn2d,
        "upfirdn2d(x, f, ux, uy, dx, dy, px0, px1, py0, py1): upsample, pad, FIR-filter, downsample",
        py::arg("x"), py::arg("f"), py::arg("ux"), py::arg("uy"), py::arg("dx"), py::arg("dy"),
        py::arg("px0"), py::arg("px1"), py::arg("py0"), py::arg("py1"));
}
