// ntstatus.h
//
// The single translation between the KMCL core's absl::Status and the
// NTSTATUS a driver sees (STYLE.md, "The KMCL C API boundary"). The C thunks
// call ToNtStatus() on every result; the core calls KmclError() when the
// KMCL contract (shared/spec/kmcl-api.md, §6) documents an NTSTATUS that no
// canonical absl code expresses exactly (STATUS_INVALID_PARAMETER_2,
// STATUS_BUFFER_OVERFLOW, STATUS_PENDING, ...); and FromNtStatus() turns an
// NTSTATUS a driver returned (EvtChannelOpened, a save callback) into an
// absl::Status for the core.
//
// How an exact NTSTATUS travels: KmclError() builds a non-OK absl::Status
// whose canonical code is the one kNtStatusTable below gives for that
// NTSTATUS, and attaches the NTSTATUS as a payload under the type URL
// kNtStatusPayloadUrl ("vmbsim/ntstatus"), as text "0xC00000F0" so that it
// reads well in Status::ToString(). ToNtStatus() prefers that payload and
// otherwise maps the canonical code (the table in ntstatus.cc, each row tied
// to the spec function that documents it). Round trip: for every 32-bit
// value s, ToNtStatus(FromNtStatus(s, ...)) == s.
//
// This header is the KMCL core's only way to NTSTATUS: it takes the type and
// the STATUS_* values from wdk_shim.h (the WDK subset, which also brings its
// macros such as VOID, TRUE and _In_), never from the API header
// vmbuskernelmodeclientlibapi.h. Core code names an NTSTATUS only to build a
// KmclError or to record what a call returned (verifier.h's Finding).
//
// Left out on purpose: facility/customer bits of NTSTATUS have no meaning
// here; unknown values survive the round trip but have no name.

#ifndef VMBSIM_KMCL_NTSTATUS_H_
#define VMBSIM_KMCL_NTSTATUS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kmcl/wdk_shim.h"

namespace vmbsim::kmcl {

// Type URL of the payload that carries an exact NTSTATUS.
inline constexpr absl::string_view kNtStatusPayloadUrl = "vmbsim/ntstatus";

// Returns a non-OK status carrying `status` exactly, with the canonical code
// CanonicalCodeForNtStatus(status) and `message` (which should name the
// function, the object and the sim time, as STYLE.md asks).
// REQUIRES: status != STATUS_SUCCESS (success is absl::OkStatus()). Non-zero
// success codes (STATUS_PENDING, STATUS_TIMEOUT) are allowed: the core needs
// them as distinct outcomes, and they are not OK in absl terms.
absl::Status KmclError(NTSTATUS status, absl::string_view message);

// A stale, foreign, never-issued or NULL handle: STATUS_INVALID_HANDLE
// (canonical code kNotFound). HandleTable returns this; the thunks of VOID
// functions test for it with IsInvalidHandle() to emit their trace line.
absl::Status InvalidHandleError(absl::string_view message);
bool IsInvalidHandle(const absl::Status& status);

// The NTSTATUS for `status`: STATUS_SUCCESS when OK; else the payload when
// present; else the canonical-code mapping documented in ntstatus.cc.
// A payload that is not of the form KmclError writes is a simulator bug
// (VMBSIM_CHECK): only this file's helpers write that URL.
NTSTATUS ToNtStatus(const absl::Status& status);

// An absl::Status for an NTSTATUS a driver returned. OK exactly when
// `status == STATUS_SUCCESS`; every other value (including the non-zero
// success codes and values unknown to the table) gives a non-OK status with
// the exact value as payload and the message
// "<context>: STATUS_NAME (0x........)".
absl::Status FromNtStatus(NTSTATUS status, absl::string_view context);

// The exact NTSTATUS payload of `status`, if it has one.
std::optional<NTSTATUS> NtStatusPayload(const absl::Status& status);

// The canonical absl code vmbsim files `status` under (see ntstatus.cc):
// kOk only for STATUS_SUCCESS; kUnknown for values not in the table.
absl::StatusCode CanonicalCodeForNtStatus(NTSTATUS status);

// The ntstatus.h name of `status` ("STATUS_INVALID_PARAMETER_2") for every
// value wdk_shim.h defines, else "STATUS_<unknown>". Static storage.
const char* NtStatusName(NTSTATUS status);

// "STATUS_INVALID_PARAMETER_2 (0xC00000F0)", for reports and messages.
std::string NtStatusToString(NTSTATUS status);

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_NTSTATUS_H_
