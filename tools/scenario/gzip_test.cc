// Goal: GzipCompress writes gzip that zlib and the gzip format read back to
// the same bytes, the same input always gives the same file, and damaged
// input is refused with DataLoss rather than read wrongly.
// Method: round trips of empty, small, repetitive and incompressible inputs
// (the last larger than one output chunk); a truncated and a corrupted file.

#include "tools/scenario/gzip.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace vmbsim::scenario {
namespace {

std::string Incompressible(size_t size) {
  std::string out(size, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (char& c : out) {
    x ^= x << 13;  // xorshift64: bytes with no pattern for deflate to find.
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return out;
}

TEST(GzipTest, RoundTrips) {
  std::string repetitive;
  for (int i = 0; i < 100000; ++i) repetitive += "{\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":1.5},\n";
  for (const std::string& input : {std::string(), std::string("x"), repetitive, Incompressible(300000)}) {
    const std::string gz = GzipCompress(input);
    ASSERT_GE(gz.size(), 18u);  // Header (10) and trailer (8) at least (RFC 1952).
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    absl::StatusOr<std::string> back = GzipDecompress(gz);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, input);
  }
  EXPECT_LT(GzipCompress(repetitive).size() * 50, repetitive.size());
}

TEST(GzipTest, IsDeterministic) {
  const std::string input = Incompressible(1000) + std::string(5000, 'a');
  EXPECT_EQ(GzipCompress(input), GzipCompress(input));
}

TEST(GzipTest, RefusesDamagedInput) {
  const std::string gz = GzipCompress(std::string(10000, 'z') + Incompressible(1000));
  EXPECT_EQ(GzipDecompress(gz.substr(0, gz.size() - 4)).status().code(), absl::StatusCode::kDataLoss);
  std::string corrupt = gz;
  corrupt[corrupt.size() - 6] ^= 0x40;  // Inside the CRC-32 trailer.
  EXPECT_EQ(GzipDecompress(corrupt).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(GzipDecompress("not gzip at all").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(GzipDecompress("").status().code(), absl::StatusCode::kDataLoss);
}

TEST(GzipTest, KnowsAGzipPath) {
  EXPECT_TRUE(IsGzipPath("t.json.gz"));
  EXPECT_FALSE(IsGzipPath("t.json"));
  EXPECT_FALSE(IsGzipPath("gz"));
}

}  // namespace
}  // namespace vmbsim::scenario
