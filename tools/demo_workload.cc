#include "tools/demo_workload.h"

#include <deque>

#include "sim/check.h"
#include "sim/core/distributions.h"
#include "sim/core/prng.h"
#include "sim/core/simulator.h"
#include "sim/core/trace.h"

namespace vmbsim::tools {
namespace {

// Trace kinds of the demo (its own numbering; the kernel only carries them).
enum DemoTraceKind : uint16_t {
  kArrive = 1,
  kStartService = 2,
  kFinishService = 3,
};

class Demo {
 public:
  explicit Demo(const DemoOptions& options)
      : options_(options),
        sim_({.seed = options.seed, .tie_break_seed = options.tie_break_seed}),
        arrivals_(sim_.ForkPrng("demo.arrivals")),
        routing_(sim_.ForkPrng("demo.routing")),
        service_(sim_.ForkPrng("demo.service")),
        servers_(options.server_count) {
    VMBSIM_CHECK_GE(options.server_count, 1u);
    VMBSIM_CHECK_GE(options.burst_size, 1u);
    sim_.tracer().EnableFingerprint();
  }

  DemoResult Run() {
    ScheduleBurst();
    sim_.Run({});
    DemoResult result;
    result.events = sim_.events_executed();
    result.requests_completed = completed_;
    result.end_time = sim_.Now();
    result.latency_ns = latency_;
    for (const Server& server : servers_) result.server_busy.push_back(server.busy);
    result.fingerprint = sim_.tracer().fingerprint();
    return result;
  }

 private:
  struct Request {
    uint64_t id;
    sim::SimTime arrival;
  };
  struct Server {
    std::deque<Request> queue;
    Request in_service{};
    bool busy_now = false;
    sim::SimDuration busy;
  };

  void Trace(uint16_t kind, uint32_t server, uint64_t id, uint64_t size) {
    sim_.tracer().Emit({.time = sim_.Now(), .kind = kind, .vp = server, .id0 = id, .size0 = size});
  }

  void ScheduleBurst() {
    if (issued_ >= options_.request_count) return;
    const sim::SimDuration gap = sim::Exponential(arrivals_, options_.burst_interval_mean);
    sim_.ScheduleAfter(gap, [this] {
      // Every request of the burst arrives at this instant, as its own event,
      // so that their order is the kernel's same-time order.
      for (uint32_t i = 0; i < options_.burst_size && issued_ < options_.request_count; ++i) {
        const uint64_t id = issued_++;
        sim_.ScheduleAfter(sim::SimDuration::Zero(), [this, id] { Arrive(id); });
      }
      ScheduleBurst();
    });
  }

  void Arrive(uint64_t id) {
    const uint32_t server_index = static_cast<uint32_t>(routing_.Below(servers_.size()));
    Server& server = servers_[server_index];
    server.queue.push_back({id, sim_.Now()});
    Trace(kArrive, server_index, id, server.queue.size());
    if (!server.busy_now) StartNext(server_index);
  }

  void StartNext(uint32_t server_index) {
    Server& server = servers_[server_index];
    VMBSIM_CHECK(!server.busy_now);
    if (server.queue.empty()) return;
    const Request request = server.queue.front();
    server.queue.pop_front();
    server.busy_now = true;
    server.in_service = request;
    const sim::SimDuration service =
        sim::LogNormalDuration(service_, options_.service_median, options_.service_sigma);
    server.busy += service;
    Trace(kStartService, server_index, request.id, server.queue.size());
    sim_.ScheduleAfter(service, [this, server_index] { Finish(server_index); });
  }

  void Finish(uint32_t server_index) {
    Server& server = servers_[server_index];
    const Request request = server.in_service;
    server.busy_now = false;
    ++completed_;
    latency_.Record((sim_.Now() - request.arrival).nanoseconds());
    Trace(kFinishService, server_index, request.id, server.queue.size());
    StartNext(server_index);
  }

  const DemoOptions options_;
  sim::Simulator sim_;
  sim::Prng arrivals_;
  sim::Prng routing_;
  sim::Prng service_;
  std::vector<Server> servers_;
  sim::Histogram latency_;
  uint64_t issued_ = 0;
  uint64_t completed_ = 0;
};

}  // namespace

DemoResult RunDemo(const DemoOptions& options) { return Demo(options).Run(); }

}  // namespace vmbsim::tools
