// bias_act CUDA kernels: elementwise, grid-stride loops, arithmetic in the op-math type
// (float for half, double for double).

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace {

enum Act { kLinear = 0, kRelu = 1, kLrelu = 2 };

template <typename acc_t>
__device__ __forceinline__ acc_t activate(acc_t z, int act, acc_t alpha) {
  if (act == kRelu) return (z > acc_t(0) || z != z) ? z : acc_t(0);  // NaN propagates, as in torch
  if (act == kLrelu) return z > acc_t(0) ? z : z * alpha;
  return z;
}

// Derivative of act at z, with the convention of PyTorch's backward functions at z == 0.
template <typename acc_t>
__device__ __forceinline__ acc_t activate_grad(acc_t z, int act, acc_t alpha) {
  if (act == kRelu) return z > acc_t(0) ? acc_t(1) : acc_t(0);
  if (act == kLrelu) return z > acc_t(0) ? acc_t(1) : alpha;
  return acc_t(1);
}

template <typename scalar_t>
__global__ void bias_act_forward_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ b, scalar_t* __restrict__ y,
    int64_t n, int64_t inner, int64_t channels, int act, at::opmath_type<scalar_t> alpha,
    at::opmath_type<scalar_t> gain, at::opmath_type<scalar_t> clamp) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    acc_t z = static_cast<acc_t>(x[i]);
    if (b != nullptr) z += static_cast<acc_t>(b[(i / inner) % channels]);
    acc_t v = activate(z, act, alpha) * gain;
    if (clamp >= acc_t(0)) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
    y[i] = static_cast<scalar_t>(v);
  }
}

template <typename scalar_t>
__global__ void bias_act_grad_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ b, const scalar_t* __restrict__ ref,
    scalar_t* __restrict__ y, int64_t n, int64_t inner, int64_t channels, int act,
    at::opmath_type<scalar_t> alpha, at::opmath_type<scalar_t> gain, at::opmath_type<scalar_t> clamp) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    acc_t z = static_cast<acc_t>(ref[i]);
    if (b != nullptr) z += static_cast<acc_t>(b[(i / inner) % channels]);
    acc_t d = activate_grad(z, act, alpha) * gain;
    if (clamp >= acc_t(0)) {
      const acc_t v = activate(z, act, alpha) * gain;
      if (v > clamp || v < -clamp) d = acc_t(0);  // clamp passes the gradient on [-c, c]
    }
    y[i] = static_cast<scalar_t>(static_cast<acc_t>(g[i]) * d);
  }
}

}  // namespace

at::Tensor bias_act_cuda_run(
    const at::Tensor& x, const at::Tensor& b, const at::Tensor& ref, at::Tensor& y,
    int64_t inner, int64_t channels, int64_t act, double alpha, double gain, double clamp) {
  const c10::cuda::CUDAGuard device_guard(x.device());
  const int64_t n = x.numel();
  constexpr int threads = 256;
  int sm_count = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, x.get_device()));
  const int64_t max_blocks = static_cast<int64_t>(std::max(sm_count, 1)) * 32;
  const int blocks = static_cast<int>(std::min((n + threads - 1) / threads, max_blocks));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "bias_act_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* bias = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    if (ref.defined()) {
      bias_act_grad_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
          x.data_ptr<scalar_t>(), bias, ref.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), n, inner,
          channels, static_cast<int>(act), static_cast<acc_t>(alpha), static_cast<acc_t>(gain),
          static_cast<acc_t>(clamp));
    } else {
      bias_act_forward_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
          x.data_ptr<scalar_t>(), bias, y.data_ptr<scalar_t>(), n, inner, channels,
          static_cast<int>(act), static_cast<acc_t>(alpha), static_cast<acc_t>(gain),
          static_cast<acc_t>(clamp));
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return y;
}
