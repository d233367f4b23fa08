// interface_tables.h
//
// The KMCL function tables a driver obtains by query-interface
// (VmbsimQueryInterface, vmbsim's stand-in for WdfFdoQueryForInterface). The
// tables live in kmcl_c_api.cc and point at exactly the exported functions
// of vmbuskernelmodeclientlibapi.h, so the query form and the export form
// are one implementation (STYLE.md, "The KMCL C API boundary").
// Runtime::QueryInterface validates the request (type, size, version),
// calls FillKmclInterface, and takes the reference the caller releases
// with InterfaceDereference(Context).

#ifndef VMBSIM_KMCL_INTERFACE_TABLES_H_
#define VMBSIM_KMCL_INTERFACE_TABLES_H_

#include <cstddef>

namespace vmbsim::kmcl {

class Runtime;

// Fills `*out` (caller storage of `size` bytes) with the client
// (server=false, KMCL_CLIENT_INTERFACE_V1) or server (server=true,
// KMCL_SERVER_INTERFACE_V1) table: Size = sizeof the table, Version 1,
// Context = `runtime`, InterfaceReference / InterfaceDereference calling
// Runtime::InterfaceReference / InterfaceDereference on Context. Takes no
// reference itself. Returns the bytes written: sizeof the table, or 0 (and
// nothing written) when `out` is null or `size` is smaller than the table.
size_t FillKmclInterface(bool server, Runtime* runtime, void* out, size_t size);

// The V5 tables (client or server): the V1 members, plus the V2-V5 members
// vmbsim implements (VmbChannelPacketGetClientContext,
// VmbChannelGetParentDeviceObject, VmbChannelInitSetPrimaryChannel,
// VmbClientChannelInitSetTargetProcessorIndex); the rest are NULL (G2).
size_t FillKmclInterfaceV5(bool server, Runtime* runtime, void* out, size_t size);

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_INTERFACE_TABLES_H_
