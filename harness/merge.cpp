#include "harness/merge.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "harness/config.h"

namespace talklab {
namespace {

using json = nlohmann::json;

// A context field as text for messages and comparisons; "null" when absent.
std::string field(const json& context, const json::json_pointer& where) {
  return context.contains(where) ? context.at(where).dump() : "null";
}

// The part of a context that says which machine ran it, in the context's own shape (compare reads it so).
json machine_context(const json& context) {
  const json& t = context.at("talklab");
  json talklab = {{"cpu", t.value("cpu", json())}, {"gpu", t.value("gpu", json())},
                  {"cuda_visible_devices", t.value("cuda_visible_devices", json())}};
  return {{"host_name", context.value("host_name", json())}, {"talklab", talklab}};
}

std::string machine_text(const json& machine) {
  const json& t = machine.at("talklab");
  const std::string cpu = t.contains("cpu") && t["cpu"].is_object() ? t["cpu"].value("model", "unknown CPU") : "unknown CPU";
  const std::string gpu = t.contains("gpu") && t["gpu"].is_object() ? t["gpu"].value("name", "GPU") : "no GPU";
  const json& visible = t.value("cuda_visible_devices", json());
  return fmt::format("{}: {}, {}{}", machine.value("host_name", "unknown host"), cpu, gpu,
                     visible.is_string() ? fmt::format(" (CUDA_VISIBLE_DEVICES={})", visible.get<std::string>()) : "");
}

// The files must agree on what they measured: the same build, profile and inputs.
void check_same(const std::vector<ResultDoc>& docs, const MergeOptions& o, Merged& m) {
  const std::pair<const char*, const char*> fields[] = {
      {"/talklab/git/commit", "commit"}, {"/talklab/profile", "profile"}, {"/talklab/seed", "seed"}};
  for (const auto& [where, what] : fields) {
    const json::json_pointer ptr(where);
    const std::string first = field(docs.front().context, ptr);
    for (const ResultDoc& d : docs) {
      const std::string value = field(d.context, ptr);
      if (value == first) continue;
      const std::string why = fmt::format("{} ran with {} {}, {} with {}", docs.front().path, what, first, d.path, value);
      if (!o.allow_mixed) {
        throw InputError(fmt::format("{}: files of different {}s measure different things{} (--allow-mixed merges "
                                     "them anyway)", why, what,
                                     std::string(what) == "seed" ? "; give every shard the same --seed" : ""));
      }
      m.notes.push_back(fmt::format("mixed {}: {}", what, why));
    }
  }
}

}  // namespace

const json& machine_of(const json& entry, const json& file_context) {
  const json::json_pointer ptr("/talklab/machine");
  return entry.contains(ptr) && entry.at(ptr).is_object() ? entry.at(ptr) : file_context;
}

Merged merge_results(const std::vector<ResultDoc>& docs, const MergeOptions& o) {
  if (docs.empty()) throw InputError("bench merge: no files to merge");
  for (const ResultDoc& d : docs) {
    if (d.truncated) {
      throw InputError(fmt::format("{}: truncated after {} complete cases (its run was cut short): run that shard "
                                   "again before merging", d.path, d.entries.size()));
    }
    if (!d.context.is_object() || !d.context.contains("talklab")) {
      throw InputError(fmt::format("{}: no talklab context: not a file bench run wrote", d.path));
    }
  }
  Merged m;
  check_same(docs, o, m);

  // Shards: one selection, one count, each index once.
  const json::json_pointer shard_ptr("/talklab/shard");
  const ResultDoc* first_shard = nullptr;
  std::map<int, const ResultDoc*> by_index;
  for (const ResultDoc& d : docs) {
    if (!d.context.contains(shard_ptr) || !d.context.at(shard_ptr).is_object()) continue;
    const json& s = d.context.at(shard_ptr);
    if (first_shard == nullptr) first_shard = &d;
    const json& s0 = first_shard->context.at(shard_ptr);
    if (s.at("count") != s0.at("count")) {
      throw InputError(fmt::format("{} is shard {} of {}, {} one of {}: shards of different splits", d.path,
                                   s.at("index").dump(), s.at("count").dump(), first_shard->path, s0.at("count").dump()));
    }
    if (s.at("selection") != s0.at("selection")) {
      throw InputError(fmt::format("{} and {} are shards of different selections (another filter, profile, --set "
                                   "or device): their case lists differ", first_shard->path, d.path));
    }
    const int index = s.at("index").get<int>();
    if (const auto [it, fresh] = by_index.emplace(index, &d); !fresh) {
      throw InputError(fmt::format("{} and {} are both shard {} of {}", it->second->path, d.path, index,
                                   s.at("count").dump()));
    }
  }

  // Every entry once, with the machine it ran on.
  std::map<std::string, std::pair<const ResultDoc*, json>> entries;
  std::vector<std::string> order;
  std::vector<std::string> duplicates;
  json files = json::array(), machines = json::array();
  std::set<std::string> machine_texts;
  for (const ResultDoc& d : docs) {
    const json machine = machine_context(d.context);
    if (machine_texts.insert(machine_text(machine)).second) machines.push_back(machine);
    files.push_back({{"path", d.path}, {"host_name", d.context.value("host_name", json())},
                     {"date", d.context.value("date", json())},
                     {"shard", d.context.contains(shard_ptr) ? d.context.at(shard_ptr).value("index", json()) : json()},
                     {"cases", d.entries.size()}});
    for (const json& e : d.entries) {
      const std::string name = e.value("name", "");
      if (const auto it = entries.find(name); it != entries.end()) {
        duplicates.push_back(fmt::format("{} (in {} and {})", name, it->second.first->path, d.path));
        continue;
      }
      json copy = e;
      copy["talklab"]["machine"] = machine;
      entries.emplace(name, std::make_pair(&d, std::move(copy)));
      order.push_back(name);
    }
  }
  if (!duplicates.empty()) {
    throw InputError(fmt::format("{} case{} in more than one file: {}", duplicates.size(),
                                 duplicates.size() == 1 ? " is" : "s are", fmt::join(duplicates, "; ")));
  }

  // The selection's order where shards say what it was; cases it lacks (merged plain runs) follow.
  std::vector<std::string> names;
  std::set<std::string> placed;
  if (first_shard != nullptr) {
    const json& s0 = first_shard->context.at(shard_ptr);
    for (const json& n : s0.at("selection")) {
      const std::string name = n.get<std::string>();
      if (entries.contains(name)) {
        names.push_back(name);
        placed.insert(name);
      } else {
        m.missing.push_back(name);
      }
    }
    const int count = s0.at("count").get<int>();
    for (int i = 0; i < count; ++i) {
      if (!by_index.contains(i)) m.missing_shards.push_back(fmt::format("{} of {}", i, count));
    }
  } else if (o.expect_complete) {
    throw InputError("--expect-complete: none of the files is a shard (bench run --shard), so none says what the "
                     "whole selection was");
  }
  for (const std::string& name : order) {
    if (!placed.contains(name)) names.push_back(name);
  }

  json context = (first_shard != nullptr ? *first_shard : docs.front()).context;
  context["talklab"]["shard"] = nullptr;
  context["talklab"]["merged"] = {
      {"files", files},
      {"machines", machines},
      {"selection_size", first_shard != nullptr ? json(first_shard->context.at(shard_ptr).at("selection").size()) : json()},
      {"missing", m.missing},
      {"notes", m.notes}};
  json benchmarks = json::array();
  int family = 0;
  for (const std::string& name : names) {
    json e = std::move(entries.at(name).second);
    e["family_index"] = family++;  // Google Benchmark's tools number the entries of one file
    benchmarks.push_back(std::move(e));
  }
  m.document = {{"context", std::move(context)}, {"benchmarks", std::move(benchmarks)}};
  return m;
}

}  // namespace talklab
