// make_faulty_reader: injects a FaultPlan's faults in front of a real reader, with the real
// readers' error messages (file_reader_internal.h words both), so the engine's fault tests
// exercise the same paths a dying disk would.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "store/file_reader_internal.h"

namespace strata {
namespace {

using file_reader_internal::NamedFileReader;
using file_reader_internal::read_error;
using file_reader_internal::short_read_error;

// Owns the inner reader. Thread-safe as the inner reader is: the plan is immutable and the
// call counter atomic.
class FaultyReader final : public NamedFileReader {
 public:
  FaultyReader(std::unique_ptr<FileReader> inner, const FaultPlan& plan)
      : inner_(std::move(inner)), plan_(plan) {
    named_inner_ = dynamic_cast<const NamedFileReader*>(inner_.get());
  }

  Status read(std::span<const ReadRequest> requests) override {
    const int64_t call = n_calls_.fetch_add(1, std::memory_order_relaxed);
    if (plan_.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(plan_.delay_ms));
    }
    if (plan_.fail_after_reads >= 0 && call >= plan_.fail_after_reads && !requests.empty()) {
      return read_error(path(requests[0].file_index), requests[0].offset, EIO);
    }
    for (const ReadRequest& r : requests) STRATA_TRY(check(r));
    return inner_->read(requests);
  }

  std::string describe() const override {
    std::string faults;
    auto add = [&](const std::string& s) { faults += (faults.empty() ? "" : ", ") + s; };
    if (plan_.eio_at_offset >= 0) add(fmt::format("EIO at {}", plan_.eio_at_offset));
    if (plan_.short_at_offset >= 0) add(fmt::format("short read at {}", plan_.short_at_offset));
    if (plan_.shrink_to_bytes >= 0) add(fmt::format("shrunk to {} bytes", plan_.shrink_to_bytes));
    if (plan_.fail_after_reads >= 0) add(fmt::format("EIO from read #{}", plan_.fail_after_reads));
    if (plan_.delay_ms > 0) add(fmt::format("{} ms delay", plan_.delay_ms));
    return inner_->describe() + " with injected faults (" + (faults.empty() ? "none" : faults) +
           ")";
  }
  uint64_t file_size(uint32_t file_index) const override { return inner_->file_size(file_index); }
  const std::string& path(uint32_t file_index) const override {
    if (named_inner_) return named_inner_->path(file_index);
    std::lock_guard<std::mutex> lock(names_mu_);
    while (fallback_names_.size() <= file_index) {
      fallback_names_.push_back(fmt::format("file #{}", fallback_names_.size()));
    }
    return fallback_names_[file_index];
  }

 private:
  // A fault "covers" a request when it falls in the bytes the request must read from the file
  // (below the size at open); bytes past the end are zeros and cannot fail.
  Status check(const ReadRequest& r) const {
    const uint64_t size = inner_->file_size(r.file_index);
    if (r.offset >= size || r.nbytes == 0) return Status::ok();
    const uint64_t end = std::min(r.offset + r.nbytes, size);
    auto covers = [&](int64_t at) {
      return at >= 0 && static_cast<uint64_t>(at) >= r.offset && static_cast<uint64_t>(at) < end;
    };
    if (covers(plan_.eio_at_offset)) {
      return read_error(path(r.file_index), static_cast<uint64_t>(plan_.eio_at_offset), EIO);
    }
    if (covers(plan_.short_at_offset)) {  // the disk returned less; the file is intact
      return short_read_error(path(r.file_index), r.offset,
                              static_cast<uint64_t>(plan_.short_at_offset) - r.offset,
                              end - r.offset, size, size);
    }
    if (plan_.shrink_to_bytes >= 0 && end > static_cast<uint64_t>(plan_.shrink_to_bytes)) {
      const uint64_t now = static_cast<uint64_t>(plan_.shrink_to_bytes);
      return short_read_error(path(r.file_index), r.offset, now > r.offset ? now - r.offset : 0,
                              end - r.offset, now, size);
    }
    return Status::ok();
  }

  std::unique_ptr<FileReader> inner_;
  const NamedFileReader* named_inner_ = nullptr;  // inner_ if it knows its paths
  const FaultPlan plan_;
  std::atomic<int64_t> n_calls_{0};
  mutable std::mutex names_mu_;
  mutable std::deque<std::string> fallback_names_;  // guarded by names_mu_; grows only, so
                                                    // references to it stay valid
};

}  // namespace

std::unique_ptr<FileReader> make_faulty_reader(std::unique_ptr<FileReader> inner,
                                               const FaultPlan& plan) {
  return std::make_unique<FaultyReader>(std::move(inner), plan);
}

}  // namespace strata
