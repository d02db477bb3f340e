#include "backend/cpu/cpu_features.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define STRATA_X86 1
#endif

#include "backend/cpu/cpu_types.h"
#include "core/log.h"

namespace strata {

namespace {

#ifdef STRATA_X86
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef STRATA_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  __cpuid(1, a, b, c, d);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (osxsave && avx) {
    const uint64_t xcr0 = xgetbv0();
    f.os_avx = (xcr0 & 0x6) == 0x6;          // SSE and AVX state
    f.os_avx512 = (xcr0 & 0xE6) == 0xE6;     // plus opmask, ZMM_Hi256, Hi16_ZMM
    f.os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG (bit 17) and XTILEDATA (bit 18)
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = b & (1u << 5);
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512_vnni = c & (1u << 11);
    f.amx_bf16 = d & (1u << 22);
    f.amx_tile = d & (1u << 24);
    f.amx_int8 = d & (1u << 25);
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = a & (1u << 5);
  }
  char brand[49] = {};
  __get_cpuid(0x80000000, &a, &b, &c, &d);
  if (a >= 0x80000004) {
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __cpuid(0x80000002 + leaf, a, b, c, d);
      std::memcpy(brand + 16 * leaf, &a, 4);
      std::memcpy(brand + 16 * leaf + 4, &b, 4);
      std::memcpy(brand + 16 * leaf + 8, &c, 4);
      std::memcpy(brand + 16 * leaf + 12, &d, 4);
    }
  }
  f.brand = brand;
  while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
#endif
  return f;
}

// Linux hands out the AMX tile state (8 KiB per thread) only to a process that asks
// (arch_prctl, Linux 5.16 and later); a tile instruction before that faults. The grant is for
// the whole process and enlarges its signal frames, so an alternate signal stack of the old
// minimum size (SIGSTKSZ) is too small afterwards (a program embedding strata that uses one:
// STRATA_CPU=avx512 keeps the request from being made).
bool request_amx_permission(std::string* why) {
#if defined(__linux__) && defined(__x86_64__)
  constexpr int kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) {
    *why = std::string("the kernel refused the tile state (arch_prctl ARCH_REQ_XCOMP_PERM: ") +
           std::strerror(errno) + ")";
    return false;
  }
  unsigned long mask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &mask) != 0 ||
      !(mask & (1ul << kXfeatureXtiledata))) {
    *why = "the kernel did not grant the tile state (ARCH_GET_XCOMP_PERM)";
    return false;
  }
  return true;
#else
  *why = "tile state permission is only requested on Linux x86-64";
  return false;
#endif
}

AmxStatus detect_amx() {
  AmxStatus s;
  const CpuFeatures& f = cpu_features();
  if (!f.amx_tile || !f.amx_int8) return s;
  if (!cpu_path_supported(CpuPath::kAvx512)) {
    s.why = "the AVX-512 VNNI path it extends is not available";
  } else if (!f.os_amx) {
    s.why = "the OS does not enable the tile state (XCR0)";
  } else if (request_amx_permission(&s.why) && cpu::amx_tiles_self_test(&s.why)) {
    s.usable = true;
  }
  return s;
}

CpuPath choose_path() {
  const char* env = std::getenv("STRATA_CPU");
  if (env && *env) {
    for (CpuPath p : {CpuPath::kScalar, CpuPath::kAvx2, CpuPath::kAvx512, CpuPath::kAmx}) {
      if (std::strcmp(env, cpu_path_name(p)) != 0) continue;
      if (cpu_path_supported(p)) return p;
      STRATA_LOG_WARN("STRATA_CPU={}: this CPU cannot run it; using {}", env,
                      cpu_path_name(best_cpu_path()));
      return best_cpu_path();
    }
    STRATA_LOG_WARN("STRATA_CPU={}: not scalar, avx2, avx512 or amx; using {}", env,
                    cpu_path_name(best_cpu_path()));
  }
  return best_cpu_path();
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool cpu_path_supported(CpuPath p) {
  const CpuFeatures& f = cpu_features();
  const bool avx2 = f.os_avx && f.avx2 && f.fma && f.f16c;
  switch (p) {
    case CpuPath::kScalar:
      return true;
    case CpuPath::kAvx2:
      return avx2;
    case CpuPath::kAvx512:
      return avx2 && f.os_avx512 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
             f.avx512_vnni;
    case CpuPath::kAmx:
      return amx_status().usable;
  }
  return false;
}

const AmxStatus& amx_status() {
  static const AmxStatus s = detect_amx();
  return s;
}

CpuPath best_cpu_path() {
  for (CpuPath p : {CpuPath::kAmx, CpuPath::kAvx512, CpuPath::kAvx2}) {
    if (cpu_path_supported(p)) return p;
  }
  return CpuPath::kScalar;
}

CpuPath active_cpu_path() {
  static const CpuPath p = choose_path();
  return p;
}

const char* cpu_path_name(CpuPath p) {
  switch (p) {
    case CpuPath::kScalar:
      return "scalar";
    case CpuPath::kAvx2:
      return "avx2";
    case CpuPath::kAvx512:
      return "avx512";
    case CpuPath::kAmx:
      return "amx";
  }
  return "?";
}

std::string cpu_description() {
  const CpuFeatures& f = cpu_features();
  const CpuPath p = active_cpu_path();
  std::string s = cpu_path_name(p);
  std::string extra;
  if (p == CpuPath::kAvx512 || p == CpuPath::kAmx) {
    extra = "AVX-512 VNNI";
    if (p == CpuPath::kAmx) extra += ", AMX-INT8 tiles for prompt batches";
    if (f.avx512_bf16) extra += ", BF16 present, unused";
  }
  if (f.amx_tile && p != CpuPath::kAmx) {
    // (Not amx_status() when STRATA_CPU chose the path: that would ask for the tile state.)
    std::string note = "AMX present, unused";
    const char* env = std::getenv("STRATA_CPU");
    if (env && *env) {
      note += " (STRATA_CPU)";
    } else if (!f.amx_int8) {
      note += " (no AMX-INT8)";
    } else if (!amx_status().why.empty()) {
      note += ": " + amx_status().why;
    }
    extra += std::string(extra.empty() ? "" : ", ") + note;
  }
  if (!f.brand.empty()) extra += std::string(extra.empty() ? "" : "; ") + f.brand;
  if (!extra.empty()) s += " (" + extra + ")";
  return s;
}

}  // namespace strata
