// kmcl_world.h
//
// A small simulated world for KMCL tests: one simulator, a fabric with one
// root and `guests` guest partitions, and the KMCL runtime over it, current
// on this thread for the world's lifetime. Tests drive drivers through the
// public C header only; the world gives them device objects, VMBus handles
// and a way to run PASSIVE driver code.

#ifndef VMBSIM_KMCL_TESTING_KMCL_WORLD_H_
#define VMBSIM_KMCL_TESTING_KMCL_WORLD_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "kmcl/runtime.h"
#include "sim/core/simulator.h"
#include "sim/fabric/fabric.h"

namespace vmbsim::kmcl::testing {

struct WorldOptions {
  uint64_t seed = 1;
  uint16_t guests = 1;
  uint32_t root_vps = 2;
  uint32_t guest_vps = 2;
  bool zero_costs = false;
  // When set, the cost model (zero_costs is then ignored).
  std::optional<fabric::CostModel> costs;
  RuntimeOptions runtime;
};

class KmclWorld {
 public:
  explicit KmclWorld(const WorldOptions& options = {});
  ~KmclWorld();

  sim::Simulator& sim() { return *sim_; }
  fabric::Fabric& fabric() { return *fabric_; }
  Runtime& runtime() { return *runtime_; }
  PDEVICE_OBJECT host_device() { return runtime_->device(0); }
  PDEVICE_OBJECT guest_device(uint16_t guest = 1) { return runtime_->device(guest); }
  HANDLE vmbus_handle(uint16_t guest = 1) { return runtime_->vmbus_handle(guest); }

  // Runs `body` as PASSIVE driver code on the host (partition 0) or a guest.
  void OnHost(std::function<void()> body) { runtime_->RunPassive(0, 0, std::move(body)); }
  void OnGuest(std::function<void()> body, uint16_t guest = 1) { runtime_->RunPassive(guest, 0, std::move(body)); }
  // Runs the simulator until nothing is left or `end` (absolute) is reached.
  sim::RunResult Run(sim::SimDuration for_at_most = sim::SimDuration::Seconds(10));

 private:
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<fabric::Fabric> fabric_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Runtime::Scope> scope_;
};

}  // namespace vmbsim::kmcl::testing

#endif  // VMBSIM_KMCL_TESTING_KMCL_WORLD_H_
