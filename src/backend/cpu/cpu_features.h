#pragma once
// Which SIMD kernels this CPU runs, decided at run time: the binary is built for the x86-64
// baseline and carries every kernel path, so it runs (fast) on any x86-64 machine, whatever
// machine built it.

#include <string>

namespace strata {

// Kernel paths, slowest to fastest. Each is a complete set of kernels (backend/cpu/kernels_*.cpp).
enum class CpuPath {
  kScalar,  // portable C++: the reference the SIMD paths are tested against
  kAvx2,    // AVX2 + FMA + F16C (Haswell, Zen 1 and later)
  kAvx512,  // AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later): 8-bit dot products in one
            // instruction
  kAmx,     // kAvx512 with prompt batches' 8-bit products on AMX-INT8 tiles (Sapphire Rapids
            // and later), once the kernel grants the tile state and a start-up check passes
};

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;  // present in CPUID
  bool os_avx = false, os_avx512 = false, os_amx = false;     // XCR0 enables the state
  std::string brand;                                          // "AMD EPYC 9R14 ..."
};

// Read once (CPUID, XGETBV); thread-safe.
const CpuFeatures& cpu_features();

// The fastest path this CPU and OS support.
CpuPath best_cpu_path();
// Whether the AMX path can run, and if not (on a CPU that has AMX) why: the OS does not enable
// the tile state, the kernel refused arch_prctl(ARCH_REQ_XCOMP_PERM), or the start-up check of
// the tile instructions failed. Decided once (it requests the permission for the process).
struct AmxStatus {
  bool usable = false;
  std::string why;  // empty when usable or when the CPU has no AMX-INT8
};
const AmxStatus& amx_status();

// The path the kernels use: best_cpu_path(), or $STRATA_CPU (scalar, avx2, avx512, amx) when set
// to one this CPU supports (a request for one it does not is ignored with a warning).
CpuPath active_cpu_path();
bool cpu_path_supported(CpuPath p);
const char* cpu_path_name(CpuPath p);

// "avx512 (AVX-512 VNNI, BF16 present, unused; AMD EPYC ...)" or "amx (AVX-512 VNNI, AMX-INT8
// tiles for prompt batches; Intel Xeon ...)" for the stats line and --verbose.
std::string cpu_description();

}  // namespace strata
