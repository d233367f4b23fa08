// prng.h
//
// The simulator's only source of randomness: a seeded, splittable,
// integer-only pseudo-random generator. Every component receives its own
// named stream, forked from the scenario seed, so a run is a pure function of
// (scenario, seed) (DESIGN.md, determinism contract).
//
// Algorithm. The generator is xoshiro256** (Blackman and Vigna, 2018):
// 256 bits of state s[0..3], output rotl(s[1] * 5, 7) * 9, then the linear
// step  t = s[1] << 17; s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2];
// s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45).  From the state {1, 2, 3, 4}
// it yields the published outputs 11520, 0, 1509978240, ... (pinned in the
// test).
//
// Seeding. A Prng is fully determined by its 64-bit *stream key*. The state is
// the first four outputs of splitmix64 (Steele, Lea and Flood, 2014) started
// at the key: the splitmix64 state advances by 0x9e3779b97f4a7c15 and each
// output is the advanced state passed through the finalizer
//   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
//   z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
//   z = z ^ (z >> 31).
// The finalizer is a bijection and the four inputs are distinct, so at most
// one state word is zero and the all-zero state (xoshiro's only forbidden
// state) cannot occur.
//
// Streams. `FromSeed(seed)` uses the seed itself as the stream key. A fork's
// key is a hash of the parent's key and the fork name only:
//   key(child) = Mix64(Fnv1a64(le64(key(parent)) ++ bytes(name)))
// where le64 is the key as 8 little-endian bytes, Fnv1a64 is 64-bit FNV-1a
// (offset basis 0xcbf29ce484222325, prime 0x100000001b3) and Mix64 is the
// splitmix64 finalizer above. A fork therefore does not depend on how many
// numbers the parent has drawn, and adding a new component (a new fork name)
// never shifts any other component's stream. Consequently
// `Prng::FromSeed(p.Fork("x").stream_key())` reproduces `p.Fork("x")`.
//
// Decisions use `Chance(Ratio)` and `Below(n)`, which are exact integer
// operations. Floating-point distributions live in distributions.h, compiled
// separately so that only that file needs the FP determinism flags.
//
// Not provided on purpose: jump()/long_jump() (named forks replace them), and
// any global or default-seeded generator.

#ifndef VMBSIM_SIM_CORE_PRNG_H_
#define VMBSIM_SIM_CORE_PRNG_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace vmbsim::sim {

// A probability numerator/denominator, evaluated exactly (no floating
// point). Example: a 1-in-1000 packet drop is Ratio{1, 1000}.
struct Ratio {
  uint64_t numerator;
  uint64_t denominator;
};

namespace prng_internal {

// The splitmix64 finalizer: a bijective 64-bit mixer.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Advances the splitmix64 `*state` by the golden-ratio increment and returns
// the next output. splitmix64 started at 0 first returns 0xe220a8397b1dcdaf.
uint64_t SplitMix64Next(uint64_t* state);

// 64-bit FNV-1a over the 8 little-endian bytes of `key` followed by the bytes
// of `name`.
uint64_t Fnv1a64(uint64_t key, std::string_view name);

}  // namespace prng_internal

class Prng {
 public:
  // Returns the stream whose key is `seed`. Any seed is valid, including 0.
  static Prng FromSeed(uint64_t seed);

  // Returns a generator with the raw xoshiro256** `state`, for checking the
  // algorithm against published vectors. Its stream_key() is 0 and its forks
  // are therefore those of FromSeed(0); do not fork it.
  // REQUIRES: `state` is not all zero.
  static Prng FromStateForTest(const std::array<uint64_t, 4>& state);

  // Copying duplicates the stream: both copies then return the same numbers.
  // Hand a Prng to its owner by value (moved), or fork a new one.
  Prng(const Prng&) = default;
  Prng& operator=(const Prng&) = default;

  // Returns the child stream named `name`. The result depends only on
  // stream_key() and `name` (see the file comment), never on draws made from
  // this generator, and does not change this generator. Different names give
  // unrelated streams; the same name always gives the same stream. Any byte
  // string, including the empty one, is a valid name.
  Prng Fork(std::string_view name) const;

  // The identity of this stream, fixed at construction.
  uint64_t stream_key() const { return stream_key_; }

  // Returns the next 64 uniformly distributed bits.
  uint64_t Next64();

  // Returns a uniform integer in [0, n), without bias (Lemire's
  // multiply-and-reject: the 128-bit product x * n is rejected while its low
  // word is below 2^64 mod n). Draws one Next64() value, or more on a
  // rejection, whose probability is below n / 2^64.
  // REQUIRES: n > 0.
  uint64_t Below(uint64_t n);

  // Returns a uniform integer in [lo, hi], both inclusive. The full range
  // [0, 2^64 - 1] is allowed.
  // REQUIRES: lo <= hi.
  uint64_t UniformRange(uint64_t lo, uint64_t hi);

  // Returns true with probability exactly r.numerator / r.denominator:
  // Below(r.denominator) < r.numerator. Always draws, even for a ratio of 0
  // or 1, so the number of draws does not depend on the ratio's value.
  // REQUIRES: r.denominator > 0 and r.numerator <= r.denominator.
  bool Chance(Ratio r);

 private:
  Prng(uint64_t stream_key, const std::array<uint64_t, 4>& state);

  uint64_t stream_key_;
  std::array<uint64_t, 4> state_;
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_PRNG_H_
