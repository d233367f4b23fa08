/* kmcl/wdk_shim.h
 *
 * The few Windows Driver Kit types, status codes and annotation macros that
 * vmbuskernelmodeclientlibapi.h needs, declared by vmbsim so that the KMCL
 * header compiles as C11 and as C++20 with gcc and clang on Linux x86-64,
 * without a WDK. Names, widths, numeric values and x64 layouts follow the
 * public WDK definitions because driver code depends on them; everything else
 * here is our own.
 *
 * Data model: Windows is LLP64 and Linux is LP64, so `long` differs. Every
 * WDK type that is 32 bits on Windows (LONG, ULONG, NTSTATUS) is declared from
 * <stdint.h> here and never from `long`. WCHAR is a 16-bit UTF-16 code unit,
 * never `wchar_t` (32 bits on Linux): `char16_t` in C++ so that u"..." literals
 * fit, and `uint16_t` in C, which is the type of u"..." literals there.
 *
 * Our layouts, where the WDK leaves room for choice:
 *   - MDL is the x64 WDK layout (48 bytes: Next 0, Size 8, MdlFlags 10,
 *     Process 16, MappedSystemVa 24, StartVa 32, ByteCount 40, ByteOffset 44),
 *     and the MDL's page frame numbers follow it directly in memory, one
 *     PFN_NUMBER per page, as MmGetMdlPfnArray() says. `Size` is the byte size
 *     of the header plus that array. The simulator allocates and fills MDLs
 *     itself; drivers only read them.
 *   - DEVICE_OBJECT and EPROCESS are incomplete types. Drivers only pass
 *     pointers to them; the simulator's KMCL runtime completes
 *     `struct _DEVICE_OBJECT` for the device objects it hands out.
 *   - LARGE_INTEGER has `QuadPart` and the named `u.LowPart` / `u.HighPart`,
 *     but not the anonymous LowPart/HighPart members, which are not ISO C++.
 *   - REFGUID is `const GUID &` in C++ and `const GUID *` in C, as in the SDK.
 *
 * Opting out: a project that also includes real WDK-style headers defines
 * VMBSIM_NO_WDK_SHIM (drop every WDK name below and supply them all before
 * including the KMCL header), or one of VMBSIM_NO_WDK_SHIM_BASE_TYPES,
 * VMBSIM_NO_WDK_SHIM_KERNEL_TYPES, VMBSIM_NO_WDK_SHIM_WDF_TYPES for the groups
 * its headers already provide. GUID is skipped when GUID_DEFINED is set (the
 * SDK's own guard), and every macro is guarded by its own #ifndef. The
 * VMBSIM_-prefixed helpers at the top are always defined.
 *
 * Left out on purpose: everything the KMCL header does not use (IRPs, memory
 * manager calls, WDF objects other than the WDFDEVICE handle, x86 calling
 * conventions: vmbsim is x64 only, so NTAPI and FASTCALL expand to nothing).
 */
#ifndef VMBSIM_KMCL_WDK_SHIM_H_
#define VMBSIM_KMCL_WDK_SHIM_H_

#include <stddef.h>
#include <stdint.h>

/* Compile-time assertion usable at file scope in C11 and C++. */
#ifdef __cplusplus
#define VMBSIM_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define VMBSIM_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/* True when pointers and ULONG_PTR are 64 bits, the only data model vmbsim
   supports; layout assertions with literal x64 sizes are gated on it. */
#if defined(__LP64__) || defined(_WIN64)
#define VMBSIM_WDK_SHIM_X64_LAYOUT 1
#else
#define VMBSIM_WDK_SHIM_X64_LAYOUT 0
#endif

#ifndef VMBSIM_NO_WDK_SHIM

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Calling conventions and inlining -------------------------------------
   x64 has one calling convention, so the x86 keywords expand to nothing. */

#ifndef NTAPI
#define NTAPI
#endif
#ifndef FASTCALL
#define FASTCALL
#endif
/* C needs `static` so that every translation unit gets its own definition;
   C++ inline functions merge across translation units on their own. */
#ifndef FORCEINLINE
#ifdef __cplusplus
#define FORCEINLINE inline
#else
#define FORCEINLINE static inline
#endif
#endif

/* ---- Source annotations ----------------------------------------------------
   The KMCL declarations keep the WDK's SAL and driver annotations as
   documentation; no compiler here checks them, so they expand to nothing. */

#ifndef _In_
#define _In_
#endif
#ifndef _In_opt_
#define _In_opt_
#endif
#ifndef _Out_
#define _Out_
#endif
#ifndef _Inout_
#define _Inout_
#endif
#ifndef _Inout_opt_
#define _Inout_opt_
#endif
#ifndef _In_reads_
#define _In_reads_(count)
#endif
#ifndef _In_reads_bytes_
#define _In_reads_bytes_(size)
#endif
#ifndef _In_reads_bytes_opt_
#define _In_reads_bytes_opt_(size)
#endif
#ifndef _Out_writes_bytes_
#define _Out_writes_bytes_(size)
#endif
#ifndef _Out_writes_bytes_to_
#define _Out_writes_bytes_to_(size, count)
#endif
#ifndef _Out_writes_bytes_to_opt_
#define _Out_writes_bytes_to_opt_(size, count)
#endif
#ifndef _In_range_
#define _In_range_(low, high)
#endif
#ifndef _Pre_satisfies_
#define _Pre_satisfies_(condition)
#endif
#ifndef _Must_inspect_result_
#define _Must_inspect_result_
#endif
#ifndef _Success_
#define _Success_(condition)
#endif
#ifndef _When_
#define _When_(condition, annotations)
#endif
#ifndef _At_
#define _At_(target, annotations)
#endif
#ifndef _Function_class_
#define _Function_class_(name)
#endif
#ifndef _IRQL_requires_
#define _IRQL_requires_(irql)
#endif
#ifndef _IRQL_requires_max_
#define _IRQL_requires_max_(irql)
#endif
#ifndef __drv_allocatesMem
#define __drv_allocatesMem(kind)
#endif
#ifndef __drv_freesMem
#define __drv_freesMem(kind)
#endif
#ifndef __drv_aliasesMem
#define __drv_aliasesMem
#endif

/* ---- Base types (ntdef.h / basetsd.h in the WDK) --------------------------- */

#ifndef VOID
#define VOID void
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

/* Opaque handle type `name`: a pointer to a distinct one-member struct, so
   that handles of different kinds do not convert into each other. */
#ifndef DECLARE_HANDLE
#define DECLARE_HANDLE(name) \
  struct name##__ {          \
    int unused;              \
  };                         \
  typedef struct name##__* name
#endif

#ifndef VMBSIM_NO_WDK_SHIM_BASE_TYPES

typedef uint8_t UCHAR, *PUCHAR;
typedef uint16_t USHORT;
typedef int16_t CSHORT;
typedef int32_t LONG;
typedef uint32_t ULONG, *PULONG;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef uint64_t ULONG64;
typedef uint8_t UINT8;
typedef uint16_t UINT16, *PUINT16;
typedef int32_t INT32;
typedef uint32_t UINT32, *PUINT32;
typedef uint64_t UINT64;
typedef uintptr_t ULONG_PTR;
typedef ULONG_PTR SIZE_T, *PSIZE_T;
typedef void* PVOID;
typedef const void* PCVOID;
typedef UCHAR BOOLEAN;
typedef PVOID HANDLE, *PHANDLE;

/* Windows status code: bit 31 set means failure (severity error or warning). */
typedef LONG NTSTATUS;

#ifdef __cplusplus
typedef char16_t WCHAR;
#else
typedef uint16_t WCHAR;
#endif
typedef WCHAR* PWCH;

typedef union _LARGE_INTEGER {
  struct {
    ULONG LowPart;
    LONG HighPart;
  } u;
  LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

/* Counted UTF-16 string; lengths are in bytes, not characters, and Buffer
   need not be NUL-terminated. */
typedef struct _UNICODE_STRING {
  USHORT Length;
  USHORT MaximumLength;
  PWCH Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING* PCUNICODE_STRING;

VMBSIM_STATIC_ASSERT(sizeof(UCHAR) == 1 && sizeof(BOOLEAN) == 1, "8-bit types");
VMBSIM_STATIC_ASSERT(sizeof(USHORT) == 2 && sizeof(CSHORT) == 2 && sizeof(WCHAR) == 2,
                     "16-bit types; WCHAR is UTF-16, not wchar_t");
VMBSIM_STATIC_ASSERT(sizeof(LONG) == 4 && sizeof(ULONG) == 4 && sizeof(NTSTATUS) == 4,
                     "LONG and ULONG are 32 bits on Windows (LLP64)");
VMBSIM_STATIC_ASSERT(sizeof(LARGE_INTEGER) == 8, "LARGE_INTEGER");
VMBSIM_STATIC_ASSERT(sizeof(ULONG_PTR) == sizeof(PVOID), "ULONG_PTR holds a pointer");
#if VMBSIM_WDK_SHIM_X64_LAYOUT
VMBSIM_STATIC_ASSERT(sizeof(UNICODE_STRING) == 16, "x64 UNICODE_STRING");
VMBSIM_STATIC_ASSERT(offsetof(UNICODE_STRING, Buffer) == 8, "x64 UNICODE_STRING");
#endif

#endif /* VMBSIM_NO_WDK_SHIM_BASE_TYPES */

#ifndef NT_SUCCESS
#define NT_SUCCESS(status) (((NTSTATUS)(status)) >= 0)
#endif

/* ---- NTSTATUS values (ntstatus.h) -------------------------------------------
   Every status the KMCL contract (shared/spec/kmcl-api.md) names, plus the
   generic ones the simulator's status mapping needs. Real Windows values. */

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif
#ifndef STATUS_TIMEOUT
#define STATUS_TIMEOUT ((NTSTATUS)0x00000102L) /* A success code. */
#endif
#ifndef STATUS_PENDING
#define STATUS_PENDING ((NTSTATUS)0x00000103L) /* A success code. */
#endif
#ifndef STATUS_BUFFER_OVERFLOW
#define STATUS_BUFFER_OVERFLOW ((NTSTATUS)0x80000005L) /* A warning: not NT_SUCCESS. */
#endif
#ifndef STATUS_UNSUCCESSFUL
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#endif
#ifndef STATUS_INVALID_HANDLE
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008L)
#endif
#ifndef STATUS_INVALID_PARAMETER
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#endif
#ifndef STATUS_NO_SUCH_DEVICE
#define STATUS_NO_SUCH_DEVICE ((NTSTATUS)0xC000000EL)
#endif
#ifndef STATUS_INVALID_DEVICE_REQUEST
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#endif
#ifndef STATUS_MORE_PROCESSING_REQUIRED
#define STATUS_MORE_PROCESSING_REQUIRED ((NTSTATUS)0xC0000016L)
#endif
#ifndef STATUS_ACCESS_DENIED
#define STATUS_ACCESS_DENIED ((NTSTATUS)0xC0000022L)
#endif
#ifndef STATUS_BUFFER_TOO_SMALL
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#endif
#ifndef STATUS_REVISION_MISMATCH
#define STATUS_REVISION_MISMATCH ((NTSTATUS)0xC0000059L)
#endif
#ifndef STATUS_INSUFFICIENT_RESOURCES
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#endif
#ifndef STATUS_NOT_SUPPORTED
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BBL)
#endif
/* "Invalid parameter N" for the Nth argument (1-based), consecutive codes. */
#ifndef STATUS_INVALID_PARAMETER_1
#define STATUS_INVALID_PARAMETER_1 ((NTSTATUS)0xC00000EFL)
#endif
#ifndef STATUS_INVALID_PARAMETER_2
#define STATUS_INVALID_PARAMETER_2 ((NTSTATUS)0xC00000F0L)
#endif
#ifndef STATUS_INVALID_PARAMETER_3
#define STATUS_INVALID_PARAMETER_3 ((NTSTATUS)0xC00000F1L)
#endif
#ifndef STATUS_INVALID_PARAMETER_4
#define STATUS_INVALID_PARAMETER_4 ((NTSTATUS)0xC00000F2L)
#endif
#ifndef STATUS_INVALID_PARAMETER_5
#define STATUS_INVALID_PARAMETER_5 ((NTSTATUS)0xC00000F3L)
#endif
#ifndef STATUS_INVALID_PARAMETER_6
#define STATUS_INVALID_PARAMETER_6 ((NTSTATUS)0xC00000F4L)
#endif
#ifndef STATUS_INVALID_PARAMETER_7
#define STATUS_INVALID_PARAMETER_7 ((NTSTATUS)0xC00000F5L)
#endif
#ifndef STATUS_INVALID_PARAMETER_8
#define STATUS_INVALID_PARAMETER_8 ((NTSTATUS)0xC00000F6L)
#endif
#ifndef STATUS_CANCELLED
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#endif
#ifndef STATUS_INVALID_DEVICE_STATE
#define STATUS_INVALID_DEVICE_STATE ((NTSTATUS)0xC0000184L)
#endif
#ifndef STATUS_INVALID_BUFFER_SIZE
#define STATUS_INVALID_BUFFER_SIZE ((NTSTATUS)0xC0000206L)
#endif
#ifndef STATUS_NOT_FOUND
#define STATUS_NOT_FOUND ((NTSTATUS)0xC0000225L)
#endif
#ifndef STATUS_DEVICE_REMOVED
#define STATUS_DEVICE_REMOVED ((NTSTATUS)0xC00002B6L)
#endif

/* ---- GUID (guiddef.h) --------------------------------------------------------
   Windows layout: 16 bytes, Data1..Data3 in host (little-endian) order. */

#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID {
  uint32_t Data1;
  uint16_t Data2;
  uint16_t Data3;
  uint8_t Data4[8];
} GUID;
VMBSIM_STATIC_ASSERT(sizeof(GUID) == 16, "GUID is 16 bytes");
#endif /* GUID_DEFINED */

/* Repeating an identical typedef is valid C11 and C++, so these need no guard
   even when a real guiddef.h came first. */
typedef GUID* LPGUID;
typedef const GUID* LPCGUID;
#ifndef REFGUID
#ifdef __cplusplus
#define REFGUID const GUID&
#else
#define REFGUID const GUID*
#endif
#endif

/* ---- Kernel types (wdm.h) --------------------------------------------------- */

#ifndef PASSIVE_LEVEL
#define PASSIVE_LEVEL 0
#endif
#ifndef APC_LEVEL
#define APC_LEVEL 1
#endif
#ifndef DISPATCH_LEVEL
#define DISPATCH_LEVEL 2
#endif

#ifndef VMBSIM_NO_WDK_SHIM_KERNEL_TYPES

typedef UCHAR KIRQL;
typedef ULONG_PTR PFN_NUMBER, *PPFN_NUMBER;
typedef LARGE_INTEGER PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

typedef struct _EPROCESS* PEPROCESS;
typedef struct _DEVICE_OBJECT DEVICE_OBJECT, *PDEVICE_OBJECT;

/* Memory descriptor list: one piece of a (possibly chained) buffer, described
   by its first virtual address and the physical pages under it. The PFN
   array (one entry per page spanned by ByteOffset + ByteCount) follows the
   struct directly; see the file comment. */
typedef struct _MDL {
  struct _MDL* Next;     /* Next piece of a chain, or NULL. */
  CSHORT Size;           /* sizeof(MDL) + sizeof(PFN_NUMBER) * page count. */
  CSHORT MdlFlags;
  PEPROCESS Process;
  PVOID MappedSystemVa;
  PVOID StartVa;         /* Page-aligned virtual address of the first page. */
  ULONG ByteCount;       /* Bytes described, starting at StartVa + ByteOffset. */
  ULONG ByteOffset;      /* Offset of the first byte within the first page. */
} MDL, *PMDL;

#ifndef MmGetMdlPfnArray
#define MmGetMdlPfnArray(mdl) ((PPFN_NUMBER)((mdl) + 1))
#endif
#ifndef MmGetMdlByteCount
#define MmGetMdlByteCount(mdl) ((mdl)->ByteCount)
#endif
#ifndef MmGetMdlByteOffset
#define MmGetMdlByteOffset(mdl) ((mdl)->ByteOffset)
#endif
#ifndef MmGetMdlVirtualAddress
#define MmGetMdlVirtualAddress(mdl) ((PVOID)((PUCHAR)((mdl)->StartVa) + (mdl)->ByteOffset))
#endif

/* Reference counting of a queried interface; called with INTERFACE.Context. */
typedef VOID (*PINTERFACE_REFERENCE)(PVOID Context);
typedef VOID (*PINTERFACE_DEREFERENCE)(PVOID Context);

/* Header of every interface returned by an IRP_MN_QUERY_INTERFACE request. */
typedef struct _INTERFACE {
  USHORT Size;     /* Bytes of the whole interface structure filled. */
  USHORT Version;  /* Interface version provided. */
  PVOID Context;   /* Provider's context, passed to the two functions below. */
  PINTERFACE_REFERENCE InterfaceReference;
  PINTERFACE_DEREFERENCE InterfaceDereference;
} INTERFACE, *PINTERFACE;

#if VMBSIM_WDK_SHIM_X64_LAYOUT
VMBSIM_STATIC_ASSERT(sizeof(MDL) == 48, "x64 MDL header");
VMBSIM_STATIC_ASSERT(offsetof(MDL, Size) == 8 && offsetof(MDL, MdlFlags) == 10,
                     "x64 MDL layout");
VMBSIM_STATIC_ASSERT(offsetof(MDL, StartVa) == 32 && offsetof(MDL, ByteCount) == 40 &&
                         offsetof(MDL, ByteOffset) == 44,
                     "x64 MDL layout");
VMBSIM_STATIC_ASSERT(sizeof(INTERFACE) == 32, "x64 INTERFACE");
VMBSIM_STATIC_ASSERT(offsetof(INTERFACE, Context) == 8 &&
                         offsetof(INTERFACE, InterfaceReference) == 16 &&
                         offsetof(INTERFACE, InterfaceDereference) == 24,
                     "x64 INTERFACE layout");
#endif

/* 100-ns units of simulated time since the run began; vmbsim implements it
   from the current runtime. */
ULONGLONG KeQueryInterruptTime(VOID);

/* The processor (wdm.h PROCESSOR_NUMBER): group and number in the group. */
typedef struct _PROCESSOR_NUMBER {
  USHORT Group;
  UCHAR Number;
  UCHAR Reserved;
} PROCESSOR_NUMBER, *PPROCESSOR_NUMBER;

/* The calling processor's system-wide index (wdm.h); fills *ProcNumber when
   not NULL (vmbsim: group 0, number the VP index, up to 255). vmbsim answers
   with the index of the VP the caller runs on in its partition; outside
   driver context, 0. */
ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber);

/* Busy-waits the calling processor for MicroSeconds (wdm.h; the WDK asks for
   at most 50 us per call, vmbsim does not enforce it). vmbsim charges the
   time to the VP the caller runs on, so a driver models its own work per
   packet with it (the scenario drivers' service times); nothing else
   happens meanwhile on that VP. Outside driver context it does nothing. */
VOID KeStallExecutionProcessor(ULONG MicroSeconds);

/* Page priority for MmGetSystemAddressForMdlSafe (wdm.h MM_PAGE_PRIORITY);
   vmbsim never runs short of system PTEs, so it is accepted and ignored. */
typedef enum _MM_PAGE_PRIORITY {
  LowPagePriority = 0,
  NormalPagePriority = 16,
  HighPagePriority = 32
} MM_PAGE_PRIORITY;

/* The system address of the buffer Mdl describes, for CPU access (wdm.h,
   where it is a macro over MmMapLockedPagesSpecifyCache); NULL on failure.
   DISPATCH_LEVEL or below. vmbsim: a function. For the MDL of a GPADL the
   server mapped (VmbChannelMapGpadl) it is the client's buffer while the
   mapping lasts; after VmbChannelUnmapGpadl it is NULL, and KMCL's verifier
   reports gpadl_use_after_unmap. Any other MDL gives its MappedSystemVa,
   or its virtual address when that is NULL. */
PVOID MmGetSystemAddressForMdlSafe(PMDL Mdl, ULONG Priority);

#endif /* VMBSIM_NO_WDK_SHIM_KERNEL_TYPES */

/* ---- WDF handle (wdftypes.h) ------------------------------------------------ */

#ifndef VMBSIM_NO_WDK_SHIM_WDF_TYPES
DECLARE_HANDLE(WDFDEVICE);
#endif

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* VMBSIM_NO_WDK_SHIM */

#endif /* VMBSIM_KMCL_WDK_SHIM_H_ */
