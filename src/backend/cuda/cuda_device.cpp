// The CUDA device: the Device interface on the CUDA runtime, one call per method.
//   alloc/free            -> cudaMallocAsync / cudaFreeAsync on the copy stream
//   alloc_pinned/free     -> cudaHostAlloc / cudaFreeHost
//   copy_to_device_async  -> cudaMemcpyAsync(H2D) on the copy stream + cudaEventRecord
//   copy_to_host          -> cudaMemcpyAsync(D2H) on the copy stream + cudaStreamSynchronize
//   compute_wait          -> cudaStreamWaitEvent(compute stream, event)
// Only host code: it compiles with the C++ compiler and links the CUDA runtime. Built when
// the project is configured with -DSTRATA_CUDA=ON.

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "backend/device.h"
#include "core/check.h"
#include "core/log.h"
#include "core/units.h"

namespace strata {
namespace {

constexpr uint64_t kAlignBytes = 4096;

uint64_t round_up(uint64_t n) { return (n + kAlignBytes - 1) / kAlignBytes * kAlignBytes; }

Status cuda_error(cudaError_t err, const std::string& what) {
  return Status::errorf("{}: {} ({})", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

// The copy stream's busy time, summed as copies complete. Shared with the events so an
// event that outlives its device stays safe.
struct CopyClock {
  std::mutex mu;
  double busy_s = 0;  // guarded by mu
};

// One copy's completion: a CUDA event recorded on the copy stream after the copy, and a
// timing event before it so the copy engine's busy time is measured on the GPU's clock.
class CudaEvent final : public DeviceEvent {
 public:
  CudaEvent(std::string device_name, cudaEvent_t start, cudaEvent_t done, uint64_t nbytes,
            std::shared_ptr<CopyClock> clock)
      : name_(std::move(device_name)),
        start_(start),
        done_(done),
        nbytes_(nbytes),
        clock_(std::move(clock)) {}
  ~CudaEvent() override {
    cudaEventDestroy(start_);
    cudaEventDestroy(done_);
  }

  bool query() const override {
    cudaError_t err = cudaEventQuery(done_);
    return err != cudaErrorNotReady;  // done, or failed (synchronize() then says why)
  }

  Status synchronize() override {
    cudaError_t err = cudaEventSynchronize(done_);
    if (err != cudaSuccess) {
      return cuda_error(err, fmt::format("{}: copy of {} bytes to the device", name_, nbytes_));
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!accounted_) {
      accounted_ = true;
      float ms = 0;
      if (cudaEventElapsedTime(&ms, start_, done_) == cudaSuccess) {
        std::lock_guard<std::mutex> clock_lock(clock_->mu);
        clock_->busy_s += ms / 1e3;
      }
    }
    return Status::ok();
  }

  cudaEvent_t handle() const { return done_; }
  cudaEvent_t start_handle() const { return start_; }

 private:
  std::string name_;
  cudaEvent_t start_, done_;
  uint64_t nbytes_;
  std::shared_ptr<CopyClock> clock_;
  std::mutex mu_;
  bool accounted_ = false;  // guarded by mu_
};

// A fresh start/done event pair, owned by the returned CudaEvent (destroyed with it).
Result<std::shared_ptr<CudaEvent>> new_event(const std::string& device_name, uint64_t nbytes,
                                             std::shared_ptr<CopyClock> clock) {
  cudaEvent_t start = nullptr, done = nullptr;
  cudaError_t err = cudaEventCreate(&start);
  if (err == cudaSuccess) err = cudaEventCreate(&done);
  if (err != cudaSuccess) {
    if (start) cudaEventDestroy(start);
    return cuda_error(err, fmt::format("{}: cannot create an event", device_name));
  }
  return std::make_shared<CudaEvent>(device_name, start, done, nbytes, std::move(clock));
}

class CudaDevice final : public Device {
 public:
  static Result<std::unique_ptr<Device>> create(const CudaDeviceOptions& opts) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) return cuda_error(err, "cuda: no usable GPU");
    if (opts.ordinal < 0 || opts.ordinal >= count) {
      return Status::errorf("cuda: GPU {} does not exist ({} found)", opts.ordinal, count);
    }
    if ((err = cudaSetDevice(opts.ordinal)) != cudaSuccess) {
      return cuda_error(err, fmt::format("cuda: cannot use GPU {}", opts.ordinal));
    }
    cudaDeviceProp prop{};
    if ((err = cudaGetDeviceProperties(&prop, opts.ordinal)) != cudaSuccess) {
      return cuda_error(err, "cuda: cannot read the GPU's properties");
    }
    size_t free_b = 0, total_b = 0;
    if ((err = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess) {
      return cuda_error(err, "cuda: cannot read the GPU's free memory");
    }
    auto dev = std::unique_ptr<CudaDevice>(new CudaDevice(opts.ordinal, prop.name));
    dev->capacity_ = opts.capacity_bytes > 0 ? opts.capacity_bytes : free_b;
    if ((err = cudaStreamCreateWithFlags(&dev->copy_stream_, cudaStreamNonBlocking)) != cudaSuccess ||
        (err = cudaStreamCreateWithFlags(&dev->compute_stream_, cudaStreamNonBlocking)) != cudaSuccess) {
      return cuda_error(err, "cuda: cannot create streams");
    }
    return std::unique_ptr<Device>(std::move(dev));
  }

  ~CudaDevice() override {
    cudaSetDevice(ordinal_);
    if (copy_stream_) cudaStreamSynchronize(copy_stream_);
    for (auto& [p, n] : device_blocks_) cudaFree(p);
    for (auto& [p, n] : pinned_blocks_) cudaFreeHost(p);
    if (copy_stream_) cudaStreamDestroy(copy_stream_);
    if (compute_stream_) cudaStreamDestroy(compute_stream_);
  }

  std::string name() const override { return fmt::format("cuda:{} ({})", ordinal_, gpu_name_); }
  bool shares_host_memory() const override { return false; }

  Result<void*> alloc(uint64_t nbytes) override {
    if (nbytes == 0) return static_cast<void*>(nullptr);
    const uint64_t n = round_up(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (used_ + n > capacity_) {
      return Status::errorf("{}: cannot allocate {} MiB: {} MiB of {} MiB in use", name(),
                            n / MiB, used_ / MiB, capacity_ / MiB);
    }
    cudaSetDevice(ordinal_);
    void* p = nullptr;
    cudaError_t err = cudaMallocAsync(&p, n, copy_stream_);
    if (err == cudaSuccess) err = cudaStreamSynchronize(copy_stream_);
    if (err != cudaSuccess) {
      cudaGetLastError();  // allocation failures are not sticky; clear them
      return cuda_error(err, fmt::format("{}: cannot allocate {} MiB", name(), n / MiB));
    }
    device_blocks_[p] = n;
    used_ += n;
    peak_ = std::max(peak_, used_);
    return p;
  }

  void free(void* p) override {
    if (p == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = device_blocks_.find(p);
    STRATA_CHECK(it != device_blocks_.end(), "cuda device: free of a pointer it did not allocate");
    cudaSetDevice(ordinal_);
    cudaFreeAsync(p, copy_stream_);
    used_ -= it->second;
    device_blocks_.erase(it);
  }

  Result<void*> alloc_pinned(uint64_t nbytes) override {
    if (nbytes == 0) return static_cast<void*>(nullptr);
    const uint64_t n = round_up(nbytes);
    void* p = nullptr;
    cudaError_t err = cudaHostAlloc(&p, n, cudaHostAllocDefault);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return cuda_error(err, fmt::format("{}: cannot allocate {} MiB of pinned host memory",
                                         name(), n / MiB));
    }
    std::lock_guard<std::mutex> lock(mu_);
    pinned_blocks_[p] = n;
    pinned_used_ += n;
    pinned_peak_ = std::max(pinned_peak_, pinned_used_);
    return p;
  }

  void free_pinned(void* p) override {
    if (p == nullptr) return;
    uint64_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pinned_blocks_.find(p);
      STRATA_CHECK(it != pinned_blocks_.end(),
                   "cuda device: free_pinned of a pointer it did not allocate");
      n = it->second;
      pinned_blocks_.erase(it);
      pinned_used_ -= n;
    }
    // Copies from this block may still be queued: cudaFreeHost waits for the device.
    cudaFreeHost(p);
  }

  Result<std::shared_ptr<DeviceEvent>> copy_to_device_async(void* dst, const void* src,
                                                            uint64_t nbytes) override {
    if (nbytes > 0 && (dst == nullptr || src == nullptr)) {
      return Status::errorf("{}: copy of {} bytes with a null pointer", name(), nbytes);
    }
    if (nbytes > 0 && !inside_device_block(dst, nbytes)) {
      return Status::errorf("{}: copy destination {} (+{} bytes) is not inside one allocation "
                            "of this device", name(), dst, nbytes);
    }
    cudaSetDevice(ordinal_);
    STRATA_ASSIGN_OR_RETURN(std::shared_ptr<CudaEvent> event, new_event(name(), nbytes, clock_));
    cudaError_t err = cudaEventRecord(event->start_handle(), copy_stream_);
    if (err == cudaSuccess && nbytes > 0) {
      err = cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, copy_stream_);
    }
    if (err == cudaSuccess) err = cudaEventRecord(event->handle(), copy_stream_);
    if (err != cudaSuccess) return cuda_error(err, fmt::format("{}: cannot queue a copy", name()));
    std::lock_guard<std::mutex> lock(mu_);
    bytes_copied_ += nbytes;
    return std::shared_ptr<DeviceEvent>(event);
  }

  Status copy_to_host(void* dst, const void* src, uint64_t nbytes) override {
    if (nbytes == 0) return Status::ok();
    if (dst == nullptr) return Status::errorf("{}: copy to a null host pointer", name());
    if (!inside_device_block(src, nbytes)) {
      return Status::errorf("{}: copy source {} (+{} bytes) is not inside one allocation of "
                            "this device", name(), src, nbytes);
    }
    cudaSetDevice(ordinal_);
    cudaError_t err = cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, copy_stream_);
    if (err == cudaSuccess) err = cudaStreamSynchronize(copy_stream_);
    if (err != cudaSuccess) {
      return cuda_error(err, fmt::format("{}: copy of {} bytes to the host", name(), nbytes));
    }
    std::lock_guard<std::mutex> lock(mu_);
    bytes_copied_ += nbytes;
    return Status::ok();
  }

  Status compute_wait(DeviceEvent& event) override {
    auto* e = dynamic_cast<CudaEvent*>(&event);
    if (e == nullptr) return Status::errorf("{}: compute_wait on another device's event", name());
    cudaSetDevice(ordinal_);
    cudaError_t err = cudaStreamWaitEvent(compute_stream_, e->handle(), 0);
    if (err != cudaSuccess) return cuda_error(err, fmt::format("{}: cannot wait on a copy", name()));
    return Status::ok();
  }

  Result<std::shared_ptr<DeviceEvent>> record_compute() override {
    cudaSetDevice(ordinal_);
    // Not a copy: its clock is a throwaway so it adds nothing to the copy busy time.
    STRATA_ASSIGN_OR_RETURN(std::shared_ptr<CudaEvent> event,
                            new_event(name(), 0, std::make_shared<CopyClock>()));
    cudaError_t err = cudaEventRecord(event->start_handle(), compute_stream_);
    if (err == cudaSuccess) err = cudaEventRecord(event->handle(), compute_stream_);
    if (err != cudaSuccess) {
      return cuda_error(err, fmt::format("{}: cannot record an event on the compute stream", name()));
    }
    return std::shared_ptr<DeviceEvent>(std::move(event));
  }

  Status copy_wait(DeviceEvent& event) override {
    auto* e = dynamic_cast<CudaEvent*>(&event);
    if (e == nullptr) return Status::errorf("{}: copy_wait on another device's event", name());
    cudaSetDevice(ordinal_);
    cudaError_t err = cudaStreamWaitEvent(copy_stream_, e->handle(), 0);
    if (err != cudaSuccess) return cuda_error(err, fmt::format("{}: cannot order copies", name()));
    return Status::ok();
  }

  DeviceStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    DeviceStats s;
    s.capacity_bytes = capacity_;
    s.used_bytes = used_;
    s.peak_bytes = peak_;
    s.pinned_bytes = pinned_used_;
    s.peak_pinned_bytes = pinned_peak_;
    s.bytes_copied = bytes_copied_;
    std::lock_guard<std::mutex> clock_lock(clock_->mu);
    s.copy_busy_s = clock_->busy_s;
    return s;
  }

 private:
  CudaDevice(int ordinal, std::string gpu_name) : ordinal_(ordinal), gpu_name_(std::move(gpu_name)) {}

  bool inside_device_block(const void* p, uint64_t nbytes) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = device_blocks_.upper_bound(const_cast<void*>(p));
    if (it == device_blocks_.begin()) return false;
    --it;
    const auto base = reinterpret_cast<uintptr_t>(it->first);
    const auto q = reinterpret_cast<uintptr_t>(p);
    return q >= base && nbytes <= it->second && q - base <= it->second - nbytes;
  }

  int ordinal_;
  std::string gpu_name_;
  cudaStream_t copy_stream_ = nullptr, compute_stream_ = nullptr;
  mutable std::mutex mu_;
  uint64_t capacity_ = 0;
  std::map<void*, uint64_t> device_blocks_;  // guarded by mu_
  std::map<void*, uint64_t> pinned_blocks_;  // guarded by mu_
  uint64_t used_ = 0, peak_ = 0, pinned_used_ = 0, pinned_peak_ = 0;  // guarded by mu_
  uint64_t bytes_copied_ = 0;  // guarded by mu_
  std::shared_ptr<CopyClock> clock_ = std::make_shared<CopyClock>();
};

}  // namespace

bool cuda_backend_built() { return true; }

Result<std::unique_ptr<Device>> make_cuda_device(const CudaDeviceOptions& opts) {
  return CudaDevice::create(opts);
}

}  // namespace strata
