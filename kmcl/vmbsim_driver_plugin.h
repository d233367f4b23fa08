/* kmcl/vmbsim_driver_plugin.h
 *
 * How a shared library brings its own drivers into `vmbsim run --driver-lib
 * LIB.so` (C11 and C++). The library is built against
 * vmbuskernelmodeclientlibapi.h and this header only; the KMCL functions it
 * calls are resolved against the vmbsim binary when it is loaded.
 *
 * The library exports one function,
 *
 *   NTSTATUS VmbsimRegisterDrivers(UINT32 Version, PVOID Registrar,
 *                                  PFN_VMBSIM_REGISTER_DRIVER Register);
 *
 * which calls Register(Registrar, &driver) once per driver it provides and
 * returns STATUS_SUCCESS. Version is VMBSIM_DRIVER_PLUGIN_VERSION of the
 * loading binary; a library built for another version returns
 * STATUS_REVISION_MISMATCH. A scenario then names the driver like a built-in
 * one ("host_driver": {"name": "my_vsp", "params": {...}}); its parameters are
 * the ones the driver declares (IntParams / BoolParams), read back with
 * Params->GetInt / GetBool.
 *
 * Contexts: Create and Destroy run at PASSIVE_LEVEL on a worker of the
 * channel's partition (they may block); Submit runs at DISPATCH_LEVEL on the
 * guest VP when an open-loop workload issues a request. The VMBSIM_DRIVER
 * struct and the strings it points at must stay valid while the library is
 * loaded (static storage). */
#ifndef VMBSIM_KMCL_VMBSIM_DRIVER_PLUGIN_H_
#define VMBSIM_KMCL_VMBSIM_DRIVER_PLUGIN_H_

#include "vmbuskernelmodeclientlibapi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMBSIM_DRIVER_PLUGIN_VERSION 1u

/* A driver's scenario parameters. */
typedef struct _VMBSIM_DRIVER_PARAMS {
  PVOID Context;
  /* TRUE and *Value when the scenario set the parameter. */
  BOOLEAN (*GetInt)(PVOID Context, const char* Name, LONGLONG* Value);
  BOOLEAN (*GetBool)(PVOID Context, const char* Name, BOOLEAN* Value);
} VMBSIM_DRIVER_PARAMS;

/* Everything a driver gets about the channel it serves or opens. */
typedef struct _VMBSIM_DRIVER_CONTEXT {
  PDEVICE_OBJECT Device;  /* The partition's device object, for VmbChannelAllocate. */
  HANDLE VmbusHandle;     /* The guest's VMBus handle (host side). */
  GUID InterfaceType;
  GUID InterfaceInstance;
  UINT32 MaxPacketSize;
  UINT32 IncomingRingPages; /* Data pages of each ring (VmbClientChannelInitSetRingBufferPageCount). */
  UINT32 OutgoingRingPages;
  BOOLEAN ProcessAtPassive;
  UINT32 TransactionQuota; /* 0: the library default. */
  UINT32 SubChannels;
  UINT32 RequestBytes;     /* Guest: the largest request its workload sends. */
  UINT32 Outstanding;      /* Guest: closed-loop window (0: open loop). */
  ULONGLONG Requests;      /* Guest: requests the workload sends in all. */
  const VMBSIM_DRIVER_PARAMS* Params;
} VMBSIM_DRIVER_CONTEXT;

typedef struct _VMBSIM_DRIVER {
  const char* Name;        /* Unique; [a-z0-9_]+. */
  const char* Description;
  BOOLEAN HostSide;        /* May serve offers (root partition). */
  BOOLEAN GuestSide;       /* May open offers (guest partitions). */
  const char* const* IntParams;   /* NULL-terminated, or NULL. */
  const char* const* BoolParams;  /* NULL-terminated, or NULL. */
  NTSTATUS (*Create)(const VMBSIM_DRIVER_CONTEXT* Context, PVOID* Instance);
  VOID (*Destroy)(PVOID Instance);
  /* Optional (NULL): open-loop submission of one request of Bytes bytes. */
  BOOLEAN (*Submit)(PVOID Instance, UINT32 Bytes);
} VMBSIM_DRIVER;

typedef NTSTATUS (*PFN_VMBSIM_REGISTER_DRIVER)(PVOID Registrar, const VMBSIM_DRIVER* Driver);
typedef NTSTATUS (*PFN_VMBSIM_REGISTER_DRIVERS)(UINT32 Version, PVOID Registrar,
                                                PFN_VMBSIM_REGISTER_DRIVER Register);

#define VMBSIM_REGISTER_DRIVERS_SYMBOL "VmbsimRegisterDrivers"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_VMBSIM_DRIVER_PLUGIN_H_ */
