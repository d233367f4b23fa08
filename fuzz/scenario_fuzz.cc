// scenario_fuzz.cc
//
// Goal: the scenario loader gives any text a spec or a clear error, and a
// spec it accepts runs to an end (or a status) without an abort, a sanitizer
// report or a causality violation. Method: the text goes to LoadScenario
// with the built-in drivers; an accepted spec has its stop conditions
// capped (kEventsMax events, kTimeNsMax of simulated time) so that each
// execution takes milliseconds, and is run. The custom mutator edits the
// parsed JSON (numbers, booleans, keys, array elements, types, subtrees)
// instead of the bytes, so most mutants are still JSON and many still load:
// the fuzzer reaches the world builder and the runner, not only the parser.
//
// This is the one place outside the loader that parses JSON (DESIGN.md
// keeps nlohmann/json in the loader): the mutator is test tooling that
// edits documents, not a second reader of the scenario format.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "sim/check.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {
namespace {

constexpr uint64_t kEventsMax = 20000;
constexpr int64_t kTimeNsMax = 20'000'000;  // 20 ms of simulated time.

const DriverRegistry& Registry() {
  static const DriverRegistry* registry = new DriverRegistry(DriverRegistry::WithBuiltins());
  return *registry;
}

// Worlds beyond these sizes are loaded but not run: building and tearing
// down a 96-VP, 96-channel world takes about 20 s under ASan + UBSan, which
// would stop the fuzzer at its first such input. The normal suite runs the
// large library scenarios.
constexpr uint32_t kVpsRunMax = 16;
constexpr uint32_t kChannelsRunMax = 8;  // Sub-channels included.
// Work one callback does in a loop is not bounded by the event cap: the
// host driver sends all its greetings from EvtChannelStarted, in one event
// (10^6 of them run for minutes under ASan, and the fuzzer's timeout
// handler can deadlock in the allocator).
constexpr int64_t kGreetingsRunMax = 10000;

bool SmallEnoughToRun(const ScenarioSpec& spec) {
  uint64_t vps = spec.fabric.root_vps;
  for (const GuestSpec& guest : spec.fabric.guests) vps += guest.vps;
  uint64_t channels = 0;
  for (const ChannelSpec& channel : spec.channels) {
    channels += 1 + uint64_t{channel.sub_channels};
    const auto greetings = channel.host_driver.int_params.find("greeting_packets");
    if (greetings != channel.host_driver.int_params.end() && greetings->second > kGreetingsRunMax) return false;
  }
  return vps <= kVpsRunMax && channels <= kChannelsRunMax;
}

void LoadAndRun(absl::string_view text) {
  const DriverRegistry& registry = Registry();
  absl::StatusOr<ScenarioSpec> spec = LoadScenario(text, "fuzz", registry.descriptors());
  if (!spec.ok() || !SmallEnoughToRun(*spec)) return;
  StopSpec& stop = spec->stop;
  stop.events_max = std::min(stop.events_max.value_or(kEventsMax), kEventsMax);
  stop.time_ns = std::min(stop.time_ns.value_or(kTimeNsMax), kTimeNsMax);
  if (stop.warmup_ns.has_value() && *stop.warmup_ns >= *stop.time_ns) stop.warmup_ns.reset();
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry);
  if (!report.ok()) return;
  // The run's own correctness check: a completion seen before its request
  // was processed is a simulator bug, whatever the scenario.
  VMBSIM_CHECK_EQ(report->causality_violations_total, 0u);
}

// ---------------------------------------------------------------------------
// The structure-aware mutator.

// splitmix64: a small, seedable generator for the mutator's choices (the
// fuzzer gives the seed, so mutations replay).
class Choices {
 public:
  explicit Choices(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t count) { return count == 0 ? 0 : static_cast<size_t>(Next() % count); }

 private:
  uint64_t state_;
};

using json = nlohmann::json;

// A node, with its parent (nullptr for the root) so that it can be removed.
struct Site {
  json* node;
  json* parent;
  std::string key;   // When the parent is an object.
  size_t index = 0;  // When the parent is an array.
};

void CollectSites(json* node, json* parent, std::string key, size_t index, std::vector<Site>& sites) {
  if (sites.size() >= 4096) return;  // Bounded walk.
  sites.push_back({node, parent, key, index});
  if (node->is_object()) {
    for (auto it = node->begin(); it != node->end(); ++it) CollectSites(&it.value(), node, it.key(), 0, sites);
  } else if (node->is_array()) {
    for (size_t i = 0; i < node->size(); ++i) CollectSites(&(*node)[i], node, "", i, sites);
  }
}

json InterestingNumber(Choices& choices, const json& old) {
  static constexpr int64_t kValues[] = {0,          1,           -1,         2,
                                        7,          8,           64,         4095,
                                        4096,       65535,       65536,      1000000,
                                        2147483647, -2147483648, 4294967295, 4294967296,
                                        INT64_MAX,  INT64_MIN};
  const int64_t base = old.is_number_integer() ? old.get<int64_t>() : 0;
  switch (choices.Below(6)) {
    case 0:
      return kValues[choices.Below(std::size(kValues))];
    case 1:
      return base / 2;
    case 2:
      return base > INT64_MAX / 2 || base < INT64_MIN / 2 ? base : base * 2;  // No overflow either way.
    case 3:
      return base == INT64_MAX ? base : base + 1;
    case 4:
      return base == INT64_MIN ? base : base - 1;
    default:
      return static_cast<double>(base) + 0.5;
  }
}

json OtherType(Choices& choices) {
  switch (choices.Below(7)) {
    case 0:
      return nullptr;
    case 1:
      return "";
    case 2:
      return json::array();
    case 3:
      return json::object();
    case 4:
      return true;
    case 5:
      return "x";
    default:
      return -1;
  }
}

// Applies one structural mutation to `doc`. Returns false if it found
// nothing to do.
bool MutateDocument(json& doc, Choices& choices) {
  std::vector<Site> sites;
  CollectSites(&doc, nullptr, "", 0, sites);
  const Site site = sites[choices.Below(sites.size())];
  json& node = *site.node;
  switch (choices.Below(7)) {
    case 0:  // Change a number (or make one).
      node = InterestingNumber(choices, node);
      return true;
    case 1:  // Flip a boolean; a non-boolean becomes one.
      node = node.is_boolean() ? json(!node.get<bool>()) : json(choices.Below(2) == 0);
      return true;
    case 2:  // Delete the key or the element.
      if (site.parent == nullptr) return false;
      if (site.parent->is_object()) {
        site.parent->erase(site.key);
      } else {
        site.parent->erase(site.index);
      }
      return true;
    case 3:  // Duplicate an array element.
      if (site.parent == nullptr || !site.parent->is_array() || site.parent->size() >= 256) return false;
      site.parent->insert(site.parent->begin() + static_cast<std::ptrdiff_t>(site.index), node);
      return true;
    case 4:  // Another type.
      node = OtherType(choices);
      return true;
    case 5: {  // Copy a subtree over this node (never an ancestor over itself).
      const Site& from = sites[choices.Below(sites.size())];
      if (from.node == site.node) return false;
      json copy = *from.node;
      node = std::move(copy);
      return true;
    }
    default: {  // A string: another string of the document, or edited.
      if (!node.is_string()) return false;
      std::vector<const json*> strings;
      for (const Site& other : sites) {
        if (other.node->is_string()) strings.push_back(other.node);
      }
      if (choices.Below(2) == 0 && !strings.empty()) {
        json copy = *strings[choices.Below(strings.size())];
        node = std::move(copy);
      } else {
        std::string text = node.get<std::string>();
        if (!text.empty() && choices.Below(2) == 0) {
          text.erase(choices.Below(text.size()), 1);
        } else {
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(choices.Below(text.size() + 1)),
                      "_0-a"[choices.Below(4)]);
        }
        node = text;
      }
      return true;
    }
  }
}

}  // namespace
}  // namespace vmbsim::scenario

// Provided by libFuzzer; absent from the replay test, which never mutates.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size) __attribute__((weak));

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmbsim::scenario::LoadAndRun(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  using vmbsim::scenario::json;
  vmbsim::scenario::Choices choices(seed);
  json doc = json::parse(data, data + size, /*cb=*/nullptr, /*allow_exceptions=*/false);
  // One mutation in eight works on the bytes even for JSON, which reaches
  // the loader's syntax errors and text the document model cannot express.
  if (!doc.is_discarded() && choices.Below(8) != 0) {
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (!vmbsim::scenario::MutateDocument(doc, choices)) continue;
      const std::string text = doc.dump(-1, ' ', false, json::error_handler_t::replace);
      if (text.size() > max_size) break;
      std::memcpy(data, text.data(), text.size());
      return text.size();
    }
  }
  return LLVMFuzzerMutate != nullptr ? LLVMFuzzerMutate(data, size, max_size) : size;
}
