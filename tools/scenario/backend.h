// backend.h
//
// A shared device back-end (the scenario's "backends[]"): `servers`
// identical servers in front of one first-come-first-served queue, shared
// by every channel that names it. A request holds a server for a service
// time drawn from the back-end's distribution, on its own seeded stream
// ("backend.<name>"), drawn when its service starts, so that the draws go to
// requests in service order. A disk array behind several storage channels,
// or a NIC behind several network queues, is where a scaling curve
// flattens: however many VPs and sub-channels feed it, the back-end serves
// at most servers / mean service time requests per second.
//
// It is a plain queueing resource on the simulator's clock: the host driver
// hands a request over (Submit) at the time its VP reaches it and gets a
// callback when the request has been served; what runs then (the driver's
// completion, as a DPC on the host VP that took the request) is the
// caller's business (tools/scenario/drivers.cc). It uses no CPU of its own.
//
// Measured (Figures): arrivals, requests served, the utilisation (server
// time busy over servers x the window), the time-average and largest queue
// length (requests waiting, not in service), and the mean wait and service.
// RestartFigures() starts the window again (the run's warm-up ends).

#ifndef VMBSIM_TOOLS_SCENARIO_BACKEND_H_
#define VMBSIM_TOOLS_SCENARIO_BACKEND_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "sim/core/inline_function.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"
#include "tools/scenario/distribution.h"

namespace vmbsim::scenario {

struct BackendFigures {
  uint32_t servers = 0;
  uint64_t arrivals = 0;  // Requests that arrived in the window.
  uint64_t served = 0;    // Requests whose service ended in the window.
  int64_t window_ns = 0;
  double utilisation = 0;         // Busy server time / (servers x window).
  double queue_length_mean = 0;   // Time-average of the requests waiting.
  uint64_t queue_length_max = 0;  // Largest number waiting at once.
  double wait_mean_ns = 0;        // Arrival to start of service, over those started.
  double service_mean_ns = 0;     // Over those started.
};

class Backend {
 public:
  // Stored inline (at most 24 bytes of captures), so a request allocates
  // nothing: capture a pointer to larger state.
  using Done = sim::InlineFunction;

  // `*sim` must outlive this object, and so must every event it scheduled:
  // destroy the back-end after the run. REQUIRES: servers >= 1.
  Backend(sim::Simulator* sim, std::string name, uint32_t servers, DistributionSampler service, sim::Prng prng);
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }

  // A request arrives at `at` (at or after Now(): the submitting VP's local
  // clock); `done` runs, as an event, when its service ends. `owner` names
  // the object `done` points into (see CancelOwned).
  void Submit(const void* owner, sim::SimTime at, Done done);

  // Forgets `owner`'s requests: they leave the queue (or never join it), and
  // one in service keeps its server until its service ends (the device
  // finishes what it started) but its `done` does not run. Returns how many.
  size_t CancelOwned(const void* owner);

  // Starts the measured window now: Figures() covers only what follows.
  void RestartFigures();
  // The figures from the window's start to Now().
  BackendFigures Figures() const;

  size_t queue_length() const { return queue_.size(); }
  uint32_t busy_servers() const { return busy_; }

 private:
  struct Request {
    const void* owner = nullptr;
    Done done;
    sim::SimTime arrived;
  };

  // A request lives in a slot of requests_ from Submit until it is served
  // or forgotten; its slot is then free for the next one (free_slots_). No
  // event refers to a slot once it is free, and nothing observable depends
  // on which slot a request takes.
  uint32_t TakeSlot();
  void FreeSlot(uint32_t slot);
  void Arrive(uint32_t slot);
  void StartService(uint32_t slot);
  void EndService(uint32_t slot);
  // Adds the areas (busy servers, queue length) up to Now().
  void Accumulate();

  sim::Simulator* sim_;
  std::string name_;
  uint32_t servers_;
  DistributionSampler service_;
  sim::Prng prng_;

  std::vector<Request> requests_;     // Slots: not yet served (pending, queued, in service) or free.
  std::vector<uint32_t> free_slots_;  // Free slots of requests_, the last freed last.
  std::deque<uint32_t> queue_;        // Slots waiting, in arrival order.
  uint32_t busy_ = 0;

  // The window.
  sim::SimTime window_start_;
  sim::SimTime accumulated_to_;
  int64_t busy_area_ns_ = 0;   // Integral of busy servers over time.
  int64_t queue_area_ns_ = 0;  // Integral of the queue length.
  uint64_t arrivals_ = 0;
  uint64_t served_ = 0;
  uint64_t started_ = 0;
  int64_t wait_sum_ns_ = 0;
  int64_t service_sum_ns_ = 0;
  uint64_t queue_length_max_ = 0;
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_BACKEND_H_
