// Goal: pin the absl::Status <-> NTSTATUS translation both ways, row by row,
// so that no change to what a driver sees goes unnoticed. Method: a copy of
// each table written out here, checked against the implementation, plus
// round trips over every known value and a spread of unknown ones.
#include "kmcl/ntstatus.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "gtest/gtest.h"

namespace vmbsim::kmcl {
namespace {

struct Row {
  NTSTATUS value;
  const char* name;
  absl::StatusCode code;
};

// Every NTSTATUS wdk_shim.h defines, with its name and canonical code.
constexpr Row kExpectedTable[] = {
    {STATUS_SUCCESS, "STATUS_SUCCESS", absl::StatusCode::kOk},
    {STATUS_TIMEOUT, "STATUS_TIMEOUT", absl::StatusCode::kDeadlineExceeded},
    {STATUS_PENDING, "STATUS_PENDING", absl::StatusCode::kUnavailable},
    {STATUS_BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW", absl::StatusCode::kResourceExhausted},
    {STATUS_UNSUCCESSFUL, "STATUS_UNSUCCESSFUL", absl::StatusCode::kUnknown},
    {STATUS_INVALID_HANDLE, "STATUS_INVALID_HANDLE", absl::StatusCode::kNotFound},
    {STATUS_INVALID_PARAMETER, "STATUS_INVALID_PARAMETER", absl::StatusCode::kInvalidArgument},
    {STATUS_NO_SUCH_DEVICE, "STATUS_NO_SUCH_DEVICE", absl::StatusCode::kNotFound},
    {STATUS_INVALID_DEVICE_REQUEST, "STATUS_INVALID_DEVICE_REQUEST",
     absl::StatusCode::kFailedPrecondition},
    {STATUS_MORE_PROCESSING_REQUIRED, "STATUS_MORE_PROCESSING_REQUIRED",
     absl::StatusCode::kOutOfRange},
    {STATUS_ACCESS_DENIED, "STATUS_ACCESS_DENIED", absl::StatusCode::kPermissionDenied},
    {STATUS_BUFFER_TOO_SMALL, "STATUS_BUFFER_TOO_SMALL", absl::StatusCode::kOutOfRange},
    {STATUS_REVISION_MISMATCH, "STATUS_REVISION_MISMATCH", absl::StatusCode::kUnimplemented},
    {STATUS_INSUFFICIENT_RESOURCES, "STATUS_INSUFFICIENT_RESOURCES",
     absl::StatusCode::kResourceExhausted},
    {STATUS_NOT_SUPPORTED, "STATUS_NOT_SUPPORTED", absl::StatusCode::kUnimplemented},
    {STATUS_INVALID_PARAMETER_1, "STATUS_INVALID_PARAMETER_1", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_2, "STATUS_INVALID_PARAMETER_2", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_3, "STATUS_INVALID_PARAMETER_3", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_4, "STATUS_INVALID_PARAMETER_4", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_5, "STATUS_INVALID_PARAMETER_5", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_6, "STATUS_INVALID_PARAMETER_6", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_7, "STATUS_INVALID_PARAMETER_7", absl::StatusCode::kInvalidArgument},
    {STATUS_INVALID_PARAMETER_8, "STATUS_INVALID_PARAMETER_8", absl::StatusCode::kInvalidArgument},
    {STATUS_CANCELLED, "STATUS_CANCELLED", absl::StatusCode::kCancelled},
    {STATUS_INVALID_DEVICE_STATE, "STATUS_INVALID_DEVICE_STATE",
     absl::StatusCode::kFailedPrecondition},
    {STATUS_INVALID_BUFFER_SIZE, "STATUS_INVALID_BUFFER_SIZE", absl::StatusCode::kInvalidArgument},
    {STATUS_NOT_FOUND, "STATUS_NOT_FOUND", absl::StatusCode::kNotFound},
    {STATUS_DEVICE_REMOVED, "STATUS_DEVICE_REMOVED", absl::StatusCode::kUnavailable},
};

TEST(NtStatusTest, NumericValuesMatchNtStatusH) {
  // The spec's §0.3 list, so that a typo in wdk_shim.h cannot hide here.
  EXPECT_EQ(static_cast<uint32_t>(STATUS_PENDING), 0x00000103u);
  EXPECT_EQ(static_cast<uint32_t>(STATUS_BUFFER_OVERFLOW), 0x80000005u);
  EXPECT_EQ(static_cast<uint32_t>(STATUS_INVALID_PARAMETER), 0xC000000Du);
  EXPECT_EQ(static_cast<uint32_t>(STATUS_INVALID_HANDLE), 0xC0000008u);
  EXPECT_EQ(static_cast<uint32_t>(STATUS_INVALID_PARAMETER_1), 0xC00000EFu);
  EXPECT_EQ(static_cast<uint32_t>(STATUS_INVALID_DEVICE_STATE), 0xC0000184u);
  EXPECT_EQ(static_cast<uint32_t>(STATUS_INVALID_BUFFER_SIZE), 0xC0000206u);  // ntstatus.h.

}

TEST(NtStatusTest, NtStatusToCanonicalCodeAndName) {
  for (const Row& row : kExpectedTable) {
    SCOPED_TRACE(row.name);
    EXPECT_STREQ(NtStatusName(row.value), row.name);
    EXPECT_EQ(CanonicalCodeForNtStatus(row.value), row.code);
  }
}

TEST(NtStatusTest, EveryKnownValueRoundTripsExactly) {
  for (const Row& row : kExpectedTable) {
    SCOPED_TRACE(row.name);
    const absl::Status status = FromNtStatus(row.value, "EvtChannelOpened");
    EXPECT_EQ(status.code(), row.code);
    EXPECT_EQ(ToNtStatus(status), row.value);
    if (row.value != STATUS_SUCCESS) {
      EXPECT_EQ(status.message(), "EvtChannelOpened: " + NtStatusToString(row.value));
    }
  }
}

TEST(NtStatusTest, CanonicalCodeToNtStatusWithoutPayload) {
  // Statuses built by plain absl helpers carry no payload; the code decides.
  struct CodeRow {
    absl::StatusCode code;
    NTSTATUS expected;
  };
  constexpr CodeRow kCodes[] = {
      {absl::StatusCode::kOk, STATUS_SUCCESS},
      {absl::StatusCode::kCancelled, STATUS_CANCELLED},
      {absl::StatusCode::kUnknown, STATUS_UNSUCCESSFUL},
      {absl::StatusCode::kInvalidArgument, STATUS_INVALID_PARAMETER},
      // Not STATUS_TIMEOUT, which NT_SUCCESS() would take for success.
      {absl::StatusCode::kDeadlineExceeded, STATUS_CANCELLED},
      {absl::StatusCode::kNotFound, STATUS_INVALID_HANDLE},
      {absl::StatusCode::kAlreadyExists, STATUS_INVALID_DEVICE_STATE},
      {absl::StatusCode::kPermissionDenied, STATUS_ACCESS_DENIED},
      {absl::StatusCode::kResourceExhausted, STATUS_INSUFFICIENT_RESOURCES},
      {absl::StatusCode::kFailedPrecondition, STATUS_INVALID_DEVICE_STATE},
      {absl::StatusCode::kAborted, STATUS_CANCELLED},
      {absl::StatusCode::kOutOfRange, STATUS_BUFFER_TOO_SMALL},
      {absl::StatusCode::kUnimplemented, STATUS_NOT_SUPPORTED},
      {absl::StatusCode::kInternal, STATUS_UNSUCCESSFUL},
      {absl::StatusCode::kUnavailable, STATUS_DEVICE_REMOVED},
      {absl::StatusCode::kDataLoss, STATUS_UNSUCCESSFUL},
      {absl::StatusCode::kUnauthenticated, STATUS_ACCESS_DENIED},
  };
  for (const CodeRow& row : kCodes) {
    SCOPED_TRACE(absl::StatusCodeToString(row.code));
    EXPECT_EQ(ToNtStatus(absl::Status(row.code, "plain")), row.expected);
  }
  // A code outside the canonical set (absl allows any int) is a generic failure.
  EXPECT_EQ(ToNtStatus(absl::Status(static_cast<absl::StatusCode>(42), "odd")),
            STATUS_UNSUCCESSFUL);
  // Every failure maps to a failure: no failed call looks successful.
  for (int code = 1; code <= 16; ++code) {
    EXPECT_FALSE(NT_SUCCESS(ToNtStatus(absl::Status(static_cast<absl::StatusCode>(code), "x"))))
        << code;
  }
}

TEST(NtStatusTest, KmclErrorCarriesTheExactValue) {
  const absl::Status status =
      KmclError(STATUS_INVALID_PARAMETER_2, "VmbChannelInitSetFlags: bits 0x4 at t=10ns");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "VmbChannelInitSetFlags: bits 0x4 at t=10ns");
  EXPECT_EQ(ToNtStatus(status), STATUS_INVALID_PARAMETER_2);
  ASSERT_TRUE(NtStatusPayload(status).has_value());
  EXPECT_EQ(*NtStatusPayload(status), STATUS_INVALID_PARAMETER_2);
  EXPECT_EQ(std::string(*status.GetPayload(kNtStatusPayloadUrl)), "0xC00000F0");
  // Without the payload the same code would give the generic value.
  absl::Status stripped = status;
  stripped.ErasePayload(kNtStatusPayloadUrl);
  EXPECT_EQ(ToNtStatus(stripped), STATUS_INVALID_PARAMETER);
}

TEST(NtStatusTest, SuccessCodesOtherThanSuccessAreNotOk) {
  // STATUS_PENDING from GetExternalData must stay distinguishable from success.
  const absl::Status pending = KmclError(STATUS_PENDING, "external data not pinned yet");
  EXPECT_FALSE(pending.ok());
  EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ToNtStatus(pending), STATUS_PENDING);
  EXPECT_TRUE(NT_SUCCESS(ToNtStatus(pending)));
  EXPECT_TRUE(FromNtStatus(STATUS_SUCCESS, "ctx").ok());
  EXPECT_FALSE(FromNtStatus(STATUS_TIMEOUT, "ctx").ok());
}

TEST(NtStatusTest, PayloadWinsOverTheCode) {
  absl::Status status = absl::NotFoundError("gpadl 7 not found");
  status.SetPayload(kNtStatusPayloadUrl, absl::Cord("0xC00000F1"));
  EXPECT_EQ(ToNtStatus(status), STATUS_INVALID_PARAMETER_3);
}

TEST(NtStatusTest, UnknownValuesRoundTripWithoutAName) {
  const uint32_t kValues[] = {0x00000001u, 0x40000000u, 0x80000001u, 0xC0001234u,
                              0x80000000u, 0xFFFFFFFFu, 0x7FFFFFFFu, 0xE0000001u};
  for (uint32_t raw : kValues) {
    const NTSTATUS value = static_cast<NTSTATUS>(raw);
    SCOPED_TRACE(raw);
    EXPECT_STREQ(NtStatusName(value), "STATUS_<unknown>");
    EXPECT_EQ(CanonicalCodeForNtStatus(value), absl::StatusCode::kUnknown);
    const absl::Status status = FromNtStatus(value, "");
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(ToNtStatus(status), value);
  }
  EXPECT_EQ(NtStatusToString(static_cast<NTSTATUS>(0xC0001234u)),
            "STATUS_<unknown> (0xC0001234)");
  EXPECT_EQ(FromNtStatus(static_cast<NTSTATUS>(0xC0001234u), "").message(),
            "STATUS_<unknown> (0xC0001234)");
}

TEST(NtStatusTest, InvalidHandleHelpers) {
  const absl::Status status = InvalidHandleError("channel handle is NULL");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ToNtStatus(status), STATUS_INVALID_HANDLE);
  EXPECT_TRUE(IsInvalidHandle(status));
  EXPECT_TRUE(IsInvalidHandle(absl::NotFoundError("plain")));  // Canonical mapping.
  EXPECT_FALSE(IsInvalidHandle(KmclError(STATUS_NOT_FOUND, "exact")));
  EXPECT_FALSE(IsInvalidHandle(absl::OkStatus()));
}

TEST(NtStatusTest, NameAndString) {
  EXPECT_STREQ(NtStatusName(STATUS_INVALID_PARAMETER_2), "STATUS_INVALID_PARAMETER_2");
  EXPECT_EQ(NtStatusToString(STATUS_INVALID_PARAMETER_2),
            "STATUS_INVALID_PARAMETER_2 (0xC00000F0)");
  EXPECT_EQ(NtStatusToString(STATUS_SUCCESS), "STATUS_SUCCESS (0x00000000)");
}

TEST(NtStatusDeathTest, SuccessIsNotAnError) {
  EXPECT_DEATH(KmclError(STATUS_SUCCESS, "x"), "STATUS_SUCCESS");
}

TEST(NtStatusDeathTest, MalformedPayloadIsASimulatorBug) {
  absl::Status status = absl::InternalError("x");
  status.SetPayload(kNtStatusPayloadUrl, absl::Cord("bogus"));
  EXPECT_DEATH(ToNtStatus(status), "malformed vmbsim/ntstatus payload");
}

}  // namespace
}  // namespace vmbsim::kmcl
