#include "sim/core/prng.h"

#include <array>
#include <cstdint>
#include <string_view>

#include "sim/check.h"

namespace vmbsim::sim {

namespace {

constexpr uint64_t kSplitMixIncrement = 0x9e3779b97f4a7c15;
constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325;
constexpr uint64_t kFnvPrime = 0x100000001b3;

// A rejection in Below() happens with probability < n / 2^64 <= 1/2, so 128
// rejections in a row (probability < 2^-128) can only mean a broken
// generator. The bound keeps the loop finite, as every loop in sim/ is.
constexpr int kBelowAttemptsMax = 128;

constexpr uint64_t RotateLeft(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

std::array<uint64_t, 4> ExpandKey(uint64_t stream_key) {
  uint64_t splitmix_state = stream_key;
  std::array<uint64_t, 4> state;
  for (uint64_t& word : state) {
    word = prng_internal::SplitMix64Next(&splitmix_state);
  }
  return state;
}

bool IsAllZero(const std::array<uint64_t, 4>& state) {
  return (state[0] | state[1] | state[2] | state[3]) == 0;
}

}  // namespace

namespace prng_internal {

uint64_t SplitMix64Next(uint64_t* state) {
  *state += kSplitMixIncrement;  // Wraps modulo 2^64 by definition.
  return Mix64(*state);
}

uint64_t Fnv1a64(uint64_t key, std::string_view name) {
  uint64_t hash = kFnvOffsetBasis;
  // Little-endian byte order is spelled out so that the hash does not depend
  // on the host's endianness.
  for (int byte_index = 0; byte_index < 8; ++byte_index) {
    hash ^= (key >> (8 * byte_index)) & 0xff;
    hash *= kFnvPrime;
  }
  for (const char c : name) {
    hash ^= static_cast<uint8_t>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace prng_internal

Prng::Prng(uint64_t stream_key, const std::array<uint64_t, 4>& state)
    : stream_key_(stream_key), state_(state) {
  VMBSIM_CHECK(!IsAllZero(state_));  // xoshiro's one absorbing state.
}

Prng Prng::FromSeed(uint64_t seed) { return Prng(seed, ExpandKey(seed)); }

Prng Prng::FromStateForTest(const std::array<uint64_t, 4>& state) {
  return Prng(0, state);
}

Prng Prng::Fork(std::string_view name) const {
  const uint64_t child_key =
      prng_internal::Mix64(prng_internal::Fnv1a64(stream_key_, name));
  return Prng(child_key, ExpandKey(child_key));
}

uint64_t Prng::Next64() {
  const uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = RotateLeft(state_[3], 45);
  return result;
}

uint64_t Prng::Below(uint64_t n) {
  VMBSIM_CHECK_GT(n, 0u);
  // Map x in [0, 2^64) to floor(x * n / 2^64) in [0, n). Each output has
  // floor(2^64 / n) or that plus one preimages; rejecting products whose low
  // word is below (2^64 - n) mod n leaves exactly floor(2^64 / n) each.
  // The threshold is only computed when the cheap test says it may matter.
  unsigned __int128 product = static_cast<unsigned __int128>(Next64()) *
                              static_cast<unsigned __int128>(n);
  uint64_t low = static_cast<uint64_t>(product);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;  // (2^64 - n) mod n == 2^64 mod n.
    int attempt = 0;
    while (low < threshold) {
      ++attempt;
      VMBSIM_CHECK_LT(attempt, kBelowAttemptsMax);
      product = static_cast<unsigned __int128>(Next64()) *
                static_cast<unsigned __int128>(n);
      low = static_cast<uint64_t>(product);
    }
  }
  const uint64_t result = static_cast<uint64_t>(product >> 64);
  VMBSIM_CHECK_LT(result, n);
  return result;
}

uint64_t Prng::UniformRange(uint64_t lo, uint64_t hi) {
  VMBSIM_CHECK_LE(lo, hi);
  const uint64_t span = hi - lo;
  if (span == UINT64_MAX) return Next64();  // span + 1 would wrap to 0.
  const uint64_t result = lo + Below(span + 1);
  VMBSIM_CHECK_LE(result, hi);
  return result;
}

bool Prng::Chance(Ratio r) {
  VMBSIM_CHECK_GT(r.denominator, 0u);
  VMBSIM_CHECK_LE(r.numerator, r.denominator);
  return Below(r.denominator) < r.numerator;
}

}  // namespace vmbsim::sim
