// backend.cc

#include "tools/scenario/backend.h"

#include <algorithm>
#include <utility>

#include "sim/check.h"

namespace vmbsim::scenario {

Backend::Backend(sim::Simulator* sim, std::string name, uint32_t servers, DistributionSampler service, sim::Prng prng)
    : sim_(sim),
      name_(std::move(name)),
      servers_(servers),
      service_(std::move(service)),
      prng_(prng),
      window_start_(sim->Now()),
      accumulated_to_(sim->Now()) {
  VMBSIM_CHECK_GE(servers, 1u);
}

void Backend::Submit(const void* owner, sim::SimTime at, Done done) {
  VMBSIM_CHECK_GE(at.nanoseconds(), sim_->Now().nanoseconds());
  const uint32_t slot = TakeSlot();
  requests_[slot] = Request{.owner = owner, .done = std::move(done), .arrived = at};
  if (at == sim_->Now()) {
    Arrive(slot);
  } else {
    sim_->ScheduleAt(at, [this, slot] { Arrive(slot); });
  }
}

uint32_t Backend::TakeSlot() {
  if (free_slots_.empty()) {
    requests_.emplace_back();
    return static_cast<uint32_t>(requests_.size() - 1);
  }
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void Backend::FreeSlot(uint32_t slot) {
  Request& request = requests_[slot];
  request.owner = nullptr;
  request.done.Reset();
  free_slots_.push_back(slot);
}

size_t Backend::CancelOwned(const void* owner) {
  // A free slot holds no `done`, so it is never counted.
  size_t count = 0;
  for (Request& request : requests_) {
    if (request.owner != owner || !request.done) continue;
    request.done.Reset();
    ++count;
  }
  // Cancelled requests that wait leave the queue; the others are dropped
  // when their arrival or service end comes.
  Accumulate();
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [this](uint32_t slot) {
                                if (requests_[slot].done) return false;
                                FreeSlot(slot);
                                return true;
                              }),
               queue_.end());
  return count;
}

void Backend::Arrive(uint32_t slot) {
  VMBSIM_CHECK_LT(slot, requests_.size());
  if (!requests_[slot].done) {  // Cancelled before it arrived.
    FreeSlot(slot);
    return;
  }
  Accumulate();
  ++arrivals_;
  if (busy_ < servers_) {
    StartService(slot);
    return;
  }
  queue_.push_back(slot);
  queue_length_max_ = std::max<uint64_t>(queue_length_max_, queue_.size());
}

void Backend::StartService(uint32_t slot) {
  const Request& request = requests_[slot];
  const int64_t service_ns = service_.Sample(prng_);
  ++busy_;
  ++started_;
  wait_sum_ns_ += (sim_->Now() - request.arrived).nanoseconds();
  service_sum_ns_ += service_ns;
  sim_->ScheduleAfter(sim::SimDuration::Nanoseconds(service_ns), [this, slot] { EndService(slot); });
}

void Backend::EndService(uint32_t slot) {
  Accumulate();
  VMBSIM_CHECK_LT(slot, requests_.size());
  Done done = std::move(requests_[slot].done);
  FreeSlot(slot);
  --busy_;
  ++served_;
  if (!queue_.empty()) {
    const uint32_t next = queue_.front();
    queue_.pop_front();
    StartService(next);
  }
  if (done) done();
}

void Backend::Accumulate() {
  const int64_t elapsed = (sim_->Now() - accumulated_to_).nanoseconds();
  busy_area_ns_ += elapsed * busy_;
  queue_area_ns_ += elapsed * static_cast<int64_t>(queue_.size());
  accumulated_to_ = sim_->Now();
}

void Backend::RestartFigures() {
  Accumulate();
  window_start_ = sim_->Now();
  busy_area_ns_ = 0;
  queue_area_ns_ = 0;
  arrivals_ = 0;
  served_ = 0;
  started_ = 0;
  wait_sum_ns_ = 0;
  service_sum_ns_ = 0;
  queue_length_max_ = queue_.size();
}

BackendFigures Backend::Figures() const {
  const int64_t pending = (sim_->Now() - accumulated_to_).nanoseconds();
  const int64_t busy_area = busy_area_ns_ + pending * busy_;
  const int64_t queue_area = queue_area_ns_ + pending * static_cast<int64_t>(queue_.size());
  BackendFigures f;
  f.servers = servers_;
  f.arrivals = arrivals_;
  f.served = served_;
  f.window_ns = (sim_->Now() - window_start_).nanoseconds();
  if (f.window_ns > 0) {
    f.utilisation = static_cast<double>(busy_area) / (static_cast<double>(servers_) * static_cast<double>(f.window_ns));
    f.queue_length_mean = static_cast<double>(queue_area) / static_cast<double>(f.window_ns);
  }
  f.queue_length_max = queue_length_max_;
  if (started_ > 0) {
    f.wait_mean_ns = static_cast<double>(wait_sum_ns_) / static_cast<double>(started_);
    f.service_mean_ns = static_cast<double>(service_sum_ns_) / static_cast<double>(started_);
  }
  return f;
}

}  // namespace vmbsim::scenario
