// drivers.h
//
// The drivers a scenario can name: a registry from driver name to a
// descriptor (parameters, which side it may run on; the loader validates
// scenario files against it) and a factory that creates the driver on one end
// of a channel. The built-in entries wrap the sample drivers of kmcl/drivers/;
// `--driver-lib` adds the ones a shared object registers (driver_plugin.h).
//
// A factory runs as PASSIVE driver code on a worker of the channel's
// partition (it may block), and gets everything the driver needs: the
// partition's device object, the guest's VMBus handle, the channel's GUIDs,
// its parameters, and the scenario's channel settings.

#ifndef VMBSIM_TOOLS_SCENARIO_DRIVERS_H_
#define VMBSIM_TOOLS_SCENARIO_DRIVERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmcl/runtime.h"
#include "tools/scenario/backend.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {

// One driver on one end of one channel.
class DriverInstance {
 public:
  virtual ~DriverInstance() = default;
  // Tears the driver down (Disable, Cleanup). PASSIVE.
  virtual void Destroy() = 0;
  // Open-loop workloads: send one request of `bytes` now. DISPATCH. False
  // when the request was not sent: the driver takes no submissions, or it
  // refused this one (its send failed). The runner counts every false as a
  // refused arrival, which fails "no_lost_packets".
  virtual bool Submit(uint32_t bytes) { return false; }
  // Requests this driver issued and those that ended (success or failure),
  // for the no-lost-packets expectation; -1 when it does not issue requests.
  virtual int64_t requests_issued() const { return -1; }
  virtual int64_t requests_ended() const { return -1; }
  // Driver-specific figures for the report ("processed": 12, ...).
  virtual std::map<std::string, int64_t> figures() const { return {}; }
  // Save / restore (the save_restore fault; KMCL spec §6.9), host drivers
  // only. Whether this driver can save its channel.
  virtual bool CanSave() const { return false; }
  // Starts a save: pauses the channel, VmbChannelSaveBegin. PASSIVE.
  virtual absl::Status SaveBegin() { return absl::UnimplementedError("the driver does not save"); }
  // Finishes it: the saved bytes (VmbChannelSaveContinue until done,
  // VmbChannelSaveEnd), for a new instance's DriverContext::restore.
  // Destroy during a save ends the save first. PASSIVE.
  virtual absl::StatusOr<std::vector<uint8_t>> SaveEnd() {
    return absl::UnimplementedError("the driver does not save");
  }
};

struct DriverContext {
  kmcl::Runtime* runtime = nullptr;
  PDEVICE_OBJECT device = nullptr;
  HANDLE vmbus_handle = nullptr;  // The guest's (server side).
  GUID interface_type = {};
  GUID interface_instance = {};
  const ChannelSpec* channel = nullptr;
  const DriverSpec* driver = nullptr;
  bool host_side = false;
  // The closed-loop workload of this channel, if any (guest side only; at
  // most one, with a fixed size: CheckWorkloadRequests in loader.h).
  const WorkloadSpec* closed_loop = nullptr;
  // The largest request any workload of this channel sends: the closed
  // loop's size when there is one, else the largest open-loop request; 64
  // without workloads (or RequestBytesMax(*channel) when smaller). At most
  // RequestBytesMax(*channel).
  uint32_t request_bytes_max = 64;
  // VPs of the channel's guest partition (drivers that spread over them).
  uint32_t guest_vps = 1;
  // The channel's shared back-end ("channels[].backend"), or null. Host
  // drivers whose descriptor says uses_backend hand their requests to it.
  Backend* backend = nullptr;
  // A host driver created to take over a saved one (DriverInstance::SaveEnd):
  // it restores its channel from these bytes before it enables it. Null
  // otherwise. Only drivers whose CanSave holds are given one.
  const std::vector<uint8_t>* restore = nullptr;
  // The scenario injects save_restore faults: host drivers that can be
  // saved prepare for it (the echo VSP registers its save callbacks, an
  // init-time call that a run without such faults does not make).
  bool save_restore = false;
};

using DriverFactory = std::function<absl::StatusOr<std::unique_ptr<DriverInstance>>(const DriverContext&)>;

class DriverRegistry {
 public:
  // The built-in drivers: echo_vsp, rr_vsc, sync_client, streaming_vsc.
  static DriverRegistry WithBuiltins();

  // AlreadyExists for a name that is taken.
  absl::Status Register(DriverDescriptor descriptor, DriverFactory factory);
  const DriverFactory* Find(const std::string& name) const;
  const DriverDescriptor* Descriptor(const std::string& name) const;
  std::vector<DriverDescriptor> descriptors() const;

 private:
  struct Entry {
    DriverDescriptor descriptor;
    DriverFactory factory;
  };
  std::map<std::string, Entry> entries_;
};

// Parameter lookups with defaults (the loader has checked names and types).
int64_t IntParam(const DriverSpec& driver, const std::string& name, int64_t fallback);
bool BoolParam(const DriverSpec& driver, const std::string& name, bool fallback);

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_DRIVERS_H_
