#include "kmcl/testing/kmcl_world.h"

#include <utility>

namespace vmbsim::kmcl::testing {

KmclWorld::KmclWorld(const WorldOptions& options) {
  sim_ = std::make_unique<sim::Simulator>(sim::SimulatorOptions{.seed = options.seed});
  fabric::FabricConfig config;
  config.costs = options.costs.has_value()    ? *options.costs
                 : options.zero_costs         ? fabric::CostModel::Zero()
                                              : fabric::CostModel::Default();
  config.root.vp_count = options.root_vps;
  for (uint16_t g = 0; g < options.guests; ++g) {
    fabric::PartitionConfig guest;
    guest.vp_count = options.guest_vps;
    config.guests.push_back(guest);
  }
  fabric_ = std::make_unique<fabric::Fabric>(sim_.get(), std::move(config));
  runtime_ = std::make_unique<Runtime>(fabric_.get(), options.runtime);
  scope_ = std::make_unique<Runtime::Scope>(runtime_.get());
}

KmclWorld::~KmclWorld() {
  scope_.reset();
  runtime_.reset();
  fabric_.reset();
  sim_.reset();
}

sim::RunResult KmclWorld::Run(sim::SimDuration for_at_most) {
  return sim_->Run(sim::RunLimits{.end_time = sim_->Now() + for_at_most});
}

}  // namespace vmbsim::kmcl::testing
