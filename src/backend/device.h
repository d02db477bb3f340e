#pragma once
// The device interface: the only way store/ talks to compute memory. It maps one to one
// onto CUDA so the CUDA backend is a drop-in:
//   alloc/free                -> cudaMallocAsync / cudaFreeAsync
//   alloc_pinned/free_pinned  -> cudaHostAlloc / cudaFreeHost
//   copy_to_device_async      -> cudaMemcpyAsync(H2D) on the copy stream + cudaEventRecord
//   DeviceEvent::synchronize  -> cudaEventSynchronize;  query -> cudaEventQuery
//   compute_wait              -> cudaStreamWaitEvent(compute stream, event)
//   record_compute            -> cudaEventRecord(event, compute stream)
//   copy_wait                 -> cudaStreamWaitEvent(copy stream, event)
//   copy_to_host              -> cudaMemcpyAsync(D2H) on the copy stream + synchronize
// Implementations: the CPU (device memory is host RAM; copies run on a copy thread) and a
// simulated device (a separate arena with its own capacity and a copy engine with optional
// bandwidth and latency limits) that lets the whole pipeline run and be tested without a GPU.

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "strata/options.h"

namespace strata {

// Completion of work queued on a device's copy stream. Thread-safe.
class DeviceEvent {
 public:
  virtual ~DeviceEvent() = default;
  virtual bool query() const = 0;    // done?
  virtual Status synchronize() = 0;  // blocks until done; the copy's error if it failed
};

struct DeviceStats {
  uint64_t capacity_bytes = 0;  // device memory the device may hand out (0 = unlimited)
  uint64_t used_bytes = 0;      // allocated now
  uint64_t peak_bytes = 0;      // high-water mark of used_bytes (measured, not estimated)
  uint64_t pinned_bytes = 0;    // pinned host memory allocated now
  uint64_t peak_pinned_bytes = 0;
  uint64_t bytes_copied = 0;  // moved by the copy stream (both directions), total
  double copy_busy_s = 0;     // time the copy engine spent copying
};

// Owns its memory pools and its copy stream (thread). All methods are thread-safe.
class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;  // "cpu", "sim", "cuda:0"
  // True when device pointers are ordinary host pointers (the CPU backend): disk reads may
  // then land in device memory directly, with no staging copy.
  virtual bool shares_host_memory() const = 0;

  // Device memory, 4096-byte aligned on the CPU and simulated devices (O_DIRECT reads land in
  // it there) and at least 256-byte aligned on CUDA; an error (not a crash) when it would
  // exceed capacity.
  virtual Result<void*> alloc(uint64_t nbytes) = 0;
  virtual void free(void* p) = 0;
  // 4096-byte aligned host memory, page-locked where the OS allows (mlock; best effort).
  virtual Result<void*> alloc_pinned(uint64_t nbytes) = 0;
  virtual void free_pinned(void* p) = 0;

  // Queues a host -> device copy on the copy stream (FIFO). The event completes when this
  // copy and every copy queued before it are done.
  virtual Result<std::shared_ptr<DeviceEvent>> copy_to_device_async(void* dst, const void* src,
                                                                    uint64_t nbytes) = 0;
  // Copies device memory back to the host, after every copy queued before it; blocks until
  // done. For reading results (and checking copies) off the device.
  virtual Status copy_to_host(void* dst, const void* src, uint64_t nbytes) = 0;
  // Orders compute after `event`. The CPU and simulated devices compute on the host, so this
  // blocks the calling thread until the event completes.
  virtual Status compute_wait(DeviceEvent& event) = 0;
  // An event that completes when the compute queued so far is done. On the CPU and simulated
  // devices compute is synchronous, so it is complete at once.
  virtual Result<std::shared_ptr<DeviceEvent>> record_compute() = 0;
  // Orders copies queued from now on after `event` (a slot is reused only once the compute
  // reading it has finished). Does not block the caller.
  virtual Status copy_wait(DeviceEvent& event) = 0;

  virtual DeviceStats stats() const = 0;
};

std::unique_ptr<Device> make_cpu_device();
std::unique_ptr<Device> make_sim_device(const SimDeviceOptions& opts);

// A CUDA GPU (src/backend/cuda/, built with -DSTRATA_CUDA=ON): device memory from
// cudaMallocAsync, pinned memory from cudaHostAlloc, copies on its own copy stream with
// CUDA events. capacity_bytes caps what alloc() hands out (0 = what the GPU has free when the
// device is made). An error when this build has no CUDA backend or there is no usable GPU.
struct CudaDeviceOptions {
  int ordinal = 0;
  uint64_t capacity_bytes = 0;
};
bool cuda_backend_built();
[[nodiscard]] Result<std::unique_ptr<Device>> make_cuda_device(const CudaDeviceOptions& opts);

}  // namespace strata
