// ntstatus.cc
//
// The two tables behind ntstatus.h. Both are pinned row by row by
// ntstatus_test.cc; changing a row changes what drivers see, so say why in
// the commit and cite the spec section.

#include "kmcl/ntstatus.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "sim/check.h"

namespace vmbsim::kmcl {
namespace {

struct NtStatusRow {
  NTSTATUS value;
  const char* name;
  absl::StatusCode code;  // The canonical code this NTSTATUS is filed under.
};

#define VMBSIM_NT_ROW(status, code) {status, #status, absl::StatusCode::code}

// NTSTATUS -> canonical code, for every value wdk_shim.h defines. The code is
// what generic core logic sees (status.code()); the exact value always rides
// along as the payload, so this column only has to be the best fit.
constexpr NtStatusRow kNtStatusTable[] = {
    VMBSIM_NT_ROW(STATUS_SUCCESS, kOk),
    // A success code (NT_SUCCESS), but a distinct outcome for the core.
    // No KMCL function documents it; KeWait-style waits return it.
    VMBSIM_NT_ROW(STATUS_TIMEOUT, kDeadlineExceeded),
    // VmbChannelPacketGetExternalData, §6.6: "not ready yet, return; the
    // packet is delivered again" -- a transient condition, absl's kUnavailable.
    VMBSIM_NT_ROW(STATUS_PENDING, kUnavailable),
    // VmbChannelSendSynchronousRequest, §6.7: zero timeout and the packet did
    // not fit into the ring (so no space: kResourceExhausted); also
    // VmbChannelSaveContinue, §6.9, "some written, more remains".
    VMBSIM_NT_ROW(STATUS_BUFFER_OVERFLOW, kResourceExhausted),
    // The generic "failure NTSTATUS" of §6 rows that list no code.
    VMBSIM_NT_ROW(STATUS_UNSUCCESSFUL, kUnknown),
    // Stale, foreign, never-issued or NULL handle (API header conventions).
    VMBSIM_NT_ROW(STATUS_INVALID_HANDLE, kNotFound),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_NO_SUCH_DEVICE, kNotFound),
    // VmbChannelSetInterruptLatency on a channel without a monitor id, G25:
    // the channel exists, but this request does not apply to it.
    VMBSIM_NT_ROW(STATUS_INVALID_DEVICE_REQUEST, kFailedPrecondition),
    // VmbChannelRestoreFromBuffer, §6.9: "this chunk restored, more follow":
    // the input ended before the state did, like kOutOfRange's end of file.
    VMBSIM_NT_ROW(STATUS_MORE_PROCESSING_REQUIRED, kOutOfRange),
    // VmbChannelMapGpadl, §6.8: write access to a read-only GPADL.
    VMBSIM_NT_ROW(STATUS_ACCESS_DENIED, kPermissionDenied),
    // VmbChannelSaveContinue, §6.9; G21 completion larger than the buffer.
    VMBSIM_NT_ROW(STATUS_BUFFER_TOO_SMALL, kOutOfRange),
    // A structure or interface revision vmbsim does not implement.
    VMBSIM_NT_ROW(STATUS_REVISION_MISMATCH, kUnimplemented),
    // VmbChannelAllocate, §6.1 [OBS VMS].
    VMBSIM_NT_ROW(STATUS_INSUFFICIENT_RESOURCES, kResourceExhausted),
    // G13 pipe mode, unknown interface queries (§2), G27 TLNPI offers.
    VMBSIM_NT_ROW(STATUS_NOT_SUPPORTED, kUnimplemented),
    // "Parameter N is bad": every Init* setter (§6, G3: _1 also means "wrong
    // state"), VmbPacketSend (§6.7: _3 oversize, _5 flags), _7 for
    // VmbPacketSendWithExternalMdl without WAIT_FOR_COMPLETION.
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_1, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_2, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_3, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_4, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_5, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_6, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_7, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_INVALID_PARAMETER_8, kInvalidArgument),
    // VmbChannelSendSynchronousRequest timed out, §6.7; G9 cancel at Disable.
    VMBSIM_NT_ROW(STATUS_CANCELLED, kCancelled),
    // A call in the wrong channel state: VmbChannelEnable without a
    // ProcessPacket callback (§6.2), G24 GPADL calls outside Opened..Closed,
    // G25 SetInterruptLatency outside the open window.
    VMBSIM_NT_ROW(STATUS_INVALID_DEVICE_STATE, kFailedPrecondition),
    // A send whose packet the channel's ring can never hold, however empty
    // (G10, G23; vmbsim's choice, README "The KMCL API"): the buffer's size,
    // not any one parameter, is what no retry can fix. Distinct from
    // STATUS_BUFFER_OVERFLOW, "does not fit now", so a zero-timeout caller
    // does not retry it forever.
    VMBSIM_NT_ROW(STATUS_INVALID_BUFFER_SIZE, kInvalidArgument),
    VMBSIM_NT_ROW(STATUS_NOT_FOUND, kNotFound),
    // VmbChannelSendSynchronousRequest, §6.7: "the channel is shutting down";
    // G9 completion status after a rescind. The peer is gone, for now.
    VMBSIM_NT_ROW(STATUS_DEVICE_REMOVED, kUnavailable),
};

#undef VMBSIM_NT_ROW

const NtStatusRow* FindRow(NTSTATUS status) {
  for (const NtStatusRow& row : kNtStatusTable) {
    if (row.value == status) return &row;
  }
  return nullptr;
}

// Canonical code -> NTSTATUS, used when a status carries no payload (the core
// returned a plain absl error). Each choice names the KMCL call that
// documents the NTSTATUS for that situation.
NTSTATUS NtStatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return STATUS_SUCCESS;
    // SendSynchronousRequest timeout, §6.7; G6/G9 cancel at Disable.
    case absl::StatusCode::kCancelled:
      return STATUS_CANCELLED;
    // §6 rows that say only "or a failure NTSTATUS".
    case absl::StatusCode::kUnknown:
      return STATUS_UNSUCCESSFUL;
    // The generic code: GetExternalData without external data (§6.6), sends
    // above MaximumExternalData (§6.2), G21 odd completion-buffer size.
    // Parameter-indexed codes (_1.._8) need KmclError.
    case absl::StatusCode::kInvalidArgument:
      return STATUS_INVALID_PARAMETER;
    // Not STATUS_TIMEOUT: that is a success code (NT_SUCCESS is true), so a
    // driver would take a failed call for a successful one. The one KMCL
    // call with a timeout, SendSynchronousRequest (§6.7), documents
    // STATUS_CANCELLED for it.
    case absl::StatusCode::kDeadlineExceeded:
      return STATUS_CANCELLED;
    // Lookups by handle (HandleTable), per the API header's conventions.
    case absl::StatusCode::kNotFound:
      return STATUS_INVALID_HANDLE;
    // The object is already in the requested state: a second VmbChannelMapGpadl
    // of one GPADL, §6.8.
    case absl::StatusCode::kAlreadyExists:
      return STATUS_INVALID_DEVICE_STATE;
    // VmbChannelMapGpadl for write on a read-only GPADL, §6.8.
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return STATUS_ACCESS_DENIED;
    // VmbChannelAllocate, §6.1; full handle tables.
    case absl::StatusCode::kResourceExhausted:
      return STATUS_INSUFFICIENT_RESOURCES;
    // Wrong channel state (see STATUS_INVALID_DEVICE_STATE above). The Init*
    // setters' wrong state is STATUS_INVALID_PARAMETER_1 (G3): KmclError.
    case absl::StatusCode::kFailedPrecondition:
      return STATUS_INVALID_DEVICE_STATE;
    // Work abandoned because the channel was torn down under it (G6).
    case absl::StatusCode::kAborted:
      return STATUS_CANCELLED;
    // SaveContinue with no room for a chunk (§6.9); G21 completion larger
    // than the caller's buffer, never truncated.
    case absl::StatusCode::kOutOfRange:
      return STATUS_BUFFER_TOO_SMALL;
    // G13 pipe mode, unknown interface versions (§2).
    case absl::StatusCode::kUnimplemented:
      return STATUS_NOT_SUPPORTED;
    // The channel's peer is gone: SendSynchronousRequest "shutting down"
    // (§6.7), G9 rescind.
    case absl::StatusCode::kUnavailable:
      return STATUS_DEVICE_REMOVED;
    // A vmbsim bug caught without aborting, or bytes the peer wrote into a
    // ring that do not parse: no KMCL call documents a code, so the generic
    // failure.
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
      return STATUS_UNSUCCESSFUL;
    default:
      return STATUS_UNSUCCESSFUL;
  }
}

std::string PayloadText(NTSTATUS status) {
  return absl::StrFormat("0x%08X", static_cast<uint32_t>(status));
}

// Parses exactly what PayloadText writes.
std::optional<NTSTATUS> ParsePayloadText(absl::string_view text) {
  if (text.size() != 10 || text[0] != '0' || text[1] != 'x') return std::nullopt;
  uint32_t value = 0;
  for (size_t i = 2; i < text.size(); ++i) {
    const char c = text[i];
    uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return static_cast<NTSTATUS>(value);
}

}  // namespace

absl::StatusCode CanonicalCodeForNtStatus(NTSTATUS status) {
  const NtStatusRow* row = FindRow(status);
  return row != nullptr ? row->code : absl::StatusCode::kUnknown;
}

absl::Status KmclError(NTSTATUS status, absl::string_view message) {
  VMBSIM_CHECK_MSG(status != STATUS_SUCCESS, "success is absl::OkStatus(), not a KmclError");
  const absl::StatusCode code = CanonicalCodeForNtStatus(status);
  VMBSIM_CHECK(code != absl::StatusCode::kOk);  // Else the payload is lost.
  absl::Status result(code, message);
  result.SetPayload(kNtStatusPayloadUrl, absl::Cord(PayloadText(status)));
  return result;
}

absl::Status InvalidHandleError(absl::string_view message) {
  return KmclError(STATUS_INVALID_HANDLE, message);
}

bool IsInvalidHandle(const absl::Status& status) {
  return ToNtStatus(status) == STATUS_INVALID_HANDLE;
}

std::optional<NTSTATUS> NtStatusPayload(const absl::Status& status) {
  const auto payload = status.GetPayload(kNtStatusPayloadUrl);  // absl::optional here.
  if (!payload.has_value()) return std::nullopt;
  const std::optional<NTSTATUS> parsed = ParsePayloadText(std::string(*payload));
  // Only KmclError writes this URL, so a malformed payload is our bug.
  VMBSIM_CHECK_MSG(parsed.has_value(), absl::StrCat("malformed ", kNtStatusPayloadUrl,
                                                    " payload '", std::string(*payload), "'"));
  return parsed;
}

NTSTATUS ToNtStatus(const absl::Status& status) {
  if (status.ok()) return STATUS_SUCCESS;  // absl drops payloads on OK.
  const std::optional<NTSTATUS> exact = NtStatusPayload(status);
  if (exact.has_value()) return *exact;
  return NtStatusForCode(status.code());
}

absl::Status FromNtStatus(NTSTATUS status, absl::string_view context) {
  if (status == STATUS_SUCCESS) return absl::OkStatus();
  const std::string description = NtStatusToString(status);
  return KmclError(status, context.empty() ? description
                                           : absl::StrCat(context, ": ", description));
}

const char* NtStatusName(NTSTATUS status) {
  const NtStatusRow* row = FindRow(status);
  return row != nullptr ? row->name : "STATUS_<unknown>";
}

std::string NtStatusToString(NTSTATUS status) {
  return absl::StrCat(NtStatusName(status), " (", PayloadText(status), ")");
}

}  // namespace vmbsim::kmcl
