#include "tools/scenario/driver_plugin.h"

#include <dlfcn.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kmcl/ntstatus.h"
#include "kmcl/vmbsim_driver_plugin.h"
#include "tools/scenario/driver_crash.h"

namespace vmbsim::scenario {
namespace {

// A driver instance made by a library's Create. Its entry points are
// marked for the crash report (driver_crash.h).
class PluginInstance : public DriverInstance {
 public:
  PluginInstance(const VMBSIM_DRIVER* driver, PVOID instance) : driver_(driver), instance_(instance) {}
  void Destroy() override {
    PluginEntryScope entry("the library driver's Destroy");
    if (instance_ != nullptr && driver_->Destroy != nullptr) driver_->Destroy(instance_);
    instance_ = nullptr;
  }
  bool Submit(uint32_t bytes) override {
    PluginEntryScope entry("the library driver's Submit");
    return instance_ != nullptr && driver_->Submit != nullptr && driver_->Submit(instance_, bytes) != FALSE;
  }

 private:
  const VMBSIM_DRIVER* driver_;
  PVOID instance_;
};

BOOLEAN GetInt(PVOID context, const char* name, LONGLONG* value) {
  const DriverSpec* spec = static_cast<const DriverSpec*>(context);
  auto it = spec->int_params.find(name == nullptr ? "" : name);
  if (it == spec->int_params.end() || value == nullptr) return FALSE;
  *value = it->second;
  return TRUE;
}

BOOLEAN GetBool(PVOID context, const char* name, BOOLEAN* value) {
  const DriverSpec* spec = static_cast<const DriverSpec*>(context);
  auto it = spec->bool_params.find(name == nullptr ? "" : name);
  if (it == spec->bool_params.end() || value == nullptr) return FALSE;
  *value = it->second ? TRUE : FALSE;
  return TRUE;
}

struct Registrar {
  std::string library;
  DriverRegistry* registry;
  absl::Status status;
};

bool ValidName(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* c = name; *c != '\0'; ++c) {
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
  }
  return true;
}

NTSTATUS RegisterOne(PVOID registrar_ptr, const VMBSIM_DRIVER* driver) {
  Registrar& r = *static_cast<Registrar*>(registrar_ptr);
  if (!r.status.ok()) return STATUS_UNSUCCESSFUL;
  if (driver == nullptr || !ValidName(driver->Name) || driver->Create == nullptr ||
      (driver->HostSide == FALSE && driver->GuestSide == FALSE)) {
    r.status = absl::InvalidArgumentError(absl::StrCat(
        r.library, ": a VMBSIM_DRIVER needs a name of [a-z0-9_], a Create function and a side"));
    return STATUS_INVALID_PARAMETER;
  }
  DriverDescriptor descriptor;
  descriptor.name = driver->Name;
  descriptor.description = driver->Description != nullptr ? driver->Description : "";
  descriptor.host_side = driver->HostSide != FALSE;
  descriptor.guest_side = driver->GuestSide != FALSE;
  for (const char* const* p = driver->IntParams; p != nullptr && *p != nullptr; ++p) {
    descriptor.params.push_back({*p, ParamType::kInt, ""});
  }
  for (const char* const* p = driver->BoolParams; p != nullptr && *p != nullptr; ++p) {
    descriptor.params.push_back({*p, ParamType::kBool, ""});
  }
  DriverFactory factory = [driver](const DriverContext& c) -> absl::StatusOr<std::unique_ptr<DriverInstance>> {
    const VMBSIM_DRIVER_PARAMS params{const_cast<DriverSpec*>(c.driver), GetInt, GetBool};
    VMBSIM_DRIVER_CONTEXT context = {};
    context.Device = c.device;
    context.VmbusHandle = c.vmbus_handle;
    context.InterfaceType = c.interface_type;
    context.InterfaceInstance = c.interface_instance;
    context.MaxPacketSize = c.channel->max_packet_bytes;
    context.IncomingRingPages = c.channel->incoming_ring_pages;
    context.OutgoingRingPages = c.channel->outgoing_ring_pages;
    context.ProcessAtPassive =
        (c.host_side ? c.channel->host_passive_processing : c.channel->guest_passive_processing) ? TRUE : FALSE;
    context.TransactionQuota =
        (c.host_side ? c.channel->host_transaction_quota : c.channel->guest_transaction_quota).value_or(0);
    context.SubChannels = c.channel->sub_channels;
    context.RequestBytes = c.request_bytes_max;
    if (c.closed_loop != nullptr) {
      context.Outstanding = c.closed_loop->arrival.outstanding;
      context.Requests = c.closed_loop->requests;
    }
    context.Params = &params;
    PVOID instance = nullptr;
    NTSTATUS status;
    {
      PluginEntryScope entry("the library driver's Create");
      status = driver->Create(&context, &instance);
    }
    if (status != STATUS_SUCCESS) {
      // The runner names the driver and the channel.
      return kmcl::KmclError(status, absl::StrCat("Create returned ", kmcl::NtStatusToString(status)));
    }
    return std::make_unique<PluginInstance>(driver, instance);
  };
  r.status = r.registry->Register(std::move(descriptor), std::move(factory));
  if (!r.status.ok()) r.status = absl::InvalidArgumentError(absl::StrCat(r.library, ": ", r.status.message()));
  return r.status.ok() ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER;
}

}  // namespace

absl::Status LoadDriverLibrary(const std::string& path, DriverRegistry* registry) {
  // A bare file name would search the system paths; make it relative.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* library = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return absl::InvalidArgumentError(absl::StrCat("--driver-lib ", path, ": cannot load: ", why != nullptr ? why : "?"));
  }
  // From here on a fault inside the library's code is reported as the
  // driver's (driver_crash.h).
  InstallDriverCrashReport();
  auto entry = reinterpret_cast<PFN_VMBSIM_REGISTER_DRIVERS>(dlsym(library, VMBSIM_REGISTER_DRIVERS_SYMBOL));
  if (entry == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--driver-lib ", path, ": no ", VMBSIM_REGISTER_DRIVERS_SYMBOL, " function (see vmbsim_driver_plugin.h)"));
  }
  Registrar registrar{absl::StrCat("--driver-lib ", path), registry, absl::OkStatus()};
  NTSTATUS status;
  {
    PluginEntryScope scope("the library's VmbsimRegisterDrivers");
    status = entry(VMBSIM_DRIVER_PLUGIN_VERSION, &registrar, RegisterOne);
  }
  if (!registrar.status.ok()) return registrar.status;
  if (status == STATUS_REVISION_MISMATCH) {
    return absl::InvalidArgumentError(absl::StrCat("--driver-lib ", path, ": built for another plugin version (this vmbsim has ",
                                                   VMBSIM_DRIVER_PLUGIN_VERSION, ")"));
  }
  if (status != STATUS_SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("--driver-lib ", path, ": ", VMBSIM_REGISTER_DRIVERS_SYMBOL, " returned ", kmcl::NtStatusToString(status)));
  }
  return absl::OkStatus();
}

}  // namespace vmbsim::scenario
