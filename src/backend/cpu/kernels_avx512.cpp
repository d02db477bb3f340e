// The AVX-512 kernel path (AVX2 + FMA + F16C + AVX-512 F/BW/VL/DQ + VNNI): kernels_x86.inc compiled
// for that instruction set only here, so the rest of the binary stays at the x86-64 baseline and
// this code runs only where cpu_features.cpp found those instructions. The AMX path is the same
// kernels with the batch panels' integer sums on AMX-INT8 tiles (tiles_amx.inc), chosen only
// where the kernel granted the tile state and amx_tiles_self_test passed.
#include <string>

#include "backend/cpu/cpu_types.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <setjmp.h>
#include <signal.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/quant/blocks.h"

#if defined(__clang__)
#pragma clang attribute push(                                                               \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
// GCC 12's 512-bit conversion intrinsics pass _mm512_undefined_ps() as their unused merge
// source, which -W(maybe-)uninitialized reports inside avx512fintrin.h.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace strata::cpu {
namespace {
using namespace quant;
#define STRATA_VNNI 1
#include "backend/cpu/gemm_driver.inc"
#include "backend/cpu/kernels_x86.inc"
#undef STRATA_VNNI
}  // namespace

void register_avx512_kernels(TypeKernels* types, VecKernels* vec) {
  register_x86<void>(types, vec);
}
void register_amx_kernels(TypeKernels* types, VecKernels* vec) {
  register_x86<AmxTiles>(types, vec);
}
void register_tile_emulation_kernels(TypeKernels* types, VecKernels* vec) {
  register_x86<EmulatedTiles>(types, vec);
}

namespace {
sigjmp_buf g_probe_jump;
void probe_fault(int) { siglongjmp(g_probe_jump, 1); }

// The start-up check with Tiles standing for the instructions (AmxTiles; EmulatedTiles in the
// tests, where it must pass), against the products computed directly.
template <class Tiles>
bool tiles_self_test(std::string* why) {
  // Operands with every byte value in play (signed -128..127 against unsigned 0..255).
  alignas(64) int8_t a[16 * 64];
  alignas(64) uint8_t b[512];
  uint32_t r = 12345;
  auto next = [&r] {
    r = r * 1664525u + 1013904223u;
    return static_cast<uint8_t>(r >> 24);
  };
  for (int8_t& v : a) v = static_cast<int8_t>(next());
  for (uint8_t& v : b) v = next();
  a[0] = -128;
  b[0] = 255;
  // [0]: dot_halves' two 16 x 16 results, [1]: dot_k32's one (the rest of it the fill in both).
  alignas(64) int32_t want[2][512], got[2][512];
  std::memset(want, 0x55, sizeof(want));
  std::memset(got, 0x55, sizeof(got));
  ReferenceTiles::dot_halves(a, 64, b, want[0]);
  ReferenceTiles::dot_k32(a + 32, 64, b, want[1]);
  // A fault (an instruction the CPU or kernel refuses, a configuration it rejects) ends the
  // probe instead of the process.
  struct sigaction sa = {}, old_ill = {}, old_segv = {}, old_bus = {};
  sa.sa_handler = probe_fault;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGILL, &sa, &old_ill);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  bool faulted = false;
  if (sigsetjmp(g_probe_jump, 1) == 0) {
    Tiles::configure();
    Tiles::dot_halves(a, 64, b, got[0]);
    Tiles::dot_k32(a + 32, 64, b, got[1]);
    Tiles::release();
  } else {
    faulted = true;
  }
  sigaction(SIGILL, &old_ill, nullptr);
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  if (faulted) {
    *why = "the tile instructions faulted in the start-up check";
    return false;
  }
  if (std::memcmp(want, got, sizeof(want)) != 0) {
    *why = "the tile instructions' sums differed from their documented arithmetic";
    return false;
  }
  return true;
}
}  // namespace

bool amx_tiles_self_test(std::string* why) { return tiles_self_test<AmxTiles>(why); }
bool emulated_tiles_self_test(std::string* why) { return tiles_self_test<EmulatedTiles>(why); }
void inject_tile_emulation_error(bool on) { EmulatedOps::state().inject_error = on; }

}  // namespace strata::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else  // not x86-64: the path is never chosen

namespace strata::cpu {
void register_avx512_kernels(TypeKernels*, VecKernels*) {}
void register_amx_kernels(TypeKernels*, VecKernels*) {}
void register_tile_emulation_kernels(TypeKernels*, VecKernels*) {}
bool amx_tiles_self_test(std::string* why) {
  *why = "not an x86-64 build";
  return false;
}
bool emulated_tiles_self_test(std::string* why) {
  *why = "not an x86-64 build";
  return false;
}
void inject_tile_emulation_error(bool) {}
}  // namespace strata::cpu

#endif
