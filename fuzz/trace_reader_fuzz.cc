// trace_reader_fuzz.cc
//
// Goal: the trace reader meets any file (a damaged recording, another
// format, a truncation, a length or varint that lies) with a record or a
// status naming the offset, never an abort or a read past what it holds.
// Method: the input is written to a scratch file (the reader works on
// paths), opened, and read to its end or its first error; at the end the
// footer must be there.

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "fuzz/scratch_file.h"
#include "sim/check.h"
#include "sim/core/trace.h"
#include "tools/recording/trace_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vmbsim::recording::TraceReader;
  static vmbsim::fuzz::ScratchFile* scratch = new vmbsim::fuzz::ScratchFile("trace");
  scratch->Write(data, size);
  absl::StatusOr<std::unique_ptr<TraceReader>> reader = TraceReader::Open(scratch->path());
  if (!reader.ok()) return 0;
  vmbsim::sim::TraceRecord record;
  // Every event takes at least one byte, so the file bounds the loop.
  for (size_t i = 0; i <= size; ++i) {
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    if (!more.ok()) return 0;
    if (!*more) {
      VMBSIM_CHECK_EQ((*reader)->offset(), size);  // The footer ends the file.
      (void)(*reader)->footer();
      return 0;
    }
  }
  VMBSIM_CHECK_MSG(false, "more events than bytes");
  return 0;
}
