#include "harness/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <toml++/toml.h>

#include "harness/registry.h"

namespace talklab {
namespace {

std::string where(const std::filesystem::path& file, const toml::node& node) {
  return fmt::format("{}:{}", file.string(), node.source().begin.line);
}

toml::table parse_file(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) throw InputError(fmt::format("{}: no such file", file.string()));
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}:{}: malformed TOML: {}", file.string(), e.source().begin.line,
                                 e.source().begin.column, e.description()));
  }
}

std::string required_string(const std::filesystem::path& file, const toml::table& t, const std::string& key,
                            const toml::node& owner) {
  const auto* v = t.get_as<std::string>(key);
  if (v == nullptr) throw InputError(fmt::format("{}: missing string field '{}'", where(file, owner), key));
  return v->get();
}

std::optional<AxisValue> to_axis_value(const toml::node& node) {
  if (const auto* i = node.as_integer()) return AxisValue{int64_t(i->get())};
  if (const auto* d = node.as_floating_point()) return AxisValue{d->get()};
  if (const auto* s = node.as_string()) return AxisValue{s->get()};
  return std::nullopt;
}

std::optional<double> optional_number(const std::filesystem::path& file, const toml::table& t, const char* key) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  if (const auto* i = n->as_integer()) return double(i->get());
  if (const auto* d = n->as_floating_point()) return d->get();
  throw InputError(fmt::format("{}: '{}' must be a number", where(file, *n), key));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// `implementations = ["flash_cpu", ...]`: names the sweep is for, each one the experiment has.
std::vector<std::string> parse_implementations(const std::filesystem::path& file, const Experiment& experiment,
                                               const toml::node& v) {
  std::vector<std::string> valid;
  for (const auto& i : experiment.implementations) valid.push_back(i.name);
  const toml::array* names = v.as_array();
  if (names == nullptr) throw InputError(fmt::format("{}: implementations must be a list of names", where(file, v)));
  std::vector<std::string> out;
  for (const auto& n : *names) {
    const auto* str = n.as_string();
    if (str == nullptr || std::find(valid.begin(), valid.end(), str->get()) == valid.end()) {
      throw InputError(fmt::format("{}: '{}' has no implementation {} (valid: {})", where(file, n), experiment.name,
                                   str ? "'" + str->get() + "'" : std::string("of that type"), join(valid)));
    }
    out.push_back(str->get());
  }
  return out;
}

// `zip = [["heads", "kv_heads"], ...]`: groups of axes that advance together.
std::vector<std::vector<std::string>> parse_zip(const std::filesystem::path& file, const Experiment& experiment,
                                                const toml::node& v) {
  const toml::array* groups = v.as_array();
  if (groups == nullptr) throw InputError(fmt::format("{}: zip must be a list of lists of axis names", where(file, v)));
  std::vector<std::vector<std::string>> out;
  for (const auto& g : *groups) {
    const toml::array* names = g.as_array();
    if (names == nullptr) throw InputError(fmt::format("{}: zip must be a list of lists of axis names", where(file, g)));
    std::vector<std::string> group;
    for (const auto& n : *names) {
      const auto* s = n.as_string();
      if (s == nullptr || experiment.find_axis(s->get()) == nullptr) {
        throw InputError(fmt::format("{}: zip names an unknown axis of '{}'", where(file, n), experiment.name));
      }
      group.push_back(s->get());
    }
    out.push_back(std::move(group));
  }
  return out;
}

ExperimentProfile parse_sweep(const std::filesystem::path& file, const Experiment& experiment, const toml::table& t,
                              const toml::node& node) {
  ExperimentProfile ep;
  ep.line = int(node.source().begin.line);
  for (const auto& [k, v] : t) {
    const std::string axis_name(k.str());
    if (axis_name == "implementations") {
      ep.implementations = parse_implementations(file, experiment, v);
      continue;
    }
    if (axis_name == "zip") {
      ep.zip = parse_zip(file, experiment, v);
      continue;
    }
    const Axis* axis = experiment.find_axis(axis_name);
    if (axis == nullptr) {
      std::vector<std::string> valid;
      for (const auto& a : experiment.axes) valid.push_back(a.name);
      throw InputError(fmt::format("{}: unknown axis '{}' of experiment '{}' (valid: {})", where(file, v), axis_name,
                                   experiment.name, join(valid)));
    }
    AxisValues values;
    values.line = int(v.source().begin.line);
    auto add = [&](const toml::node& item) {
      std::string error;
      const std::optional<AxisValue> value = to_axis_value(item);
      if (!value || !axis->accepts(*value, &error)) {
        throw InputError(fmt::format("{}: {}", where(file, item),
                                     value ? error : fmt::format("axis '{}' takes {} values", axis_name,
                                                                 axis_kind_name(axis->kind))));
      }
      // Floating axes keep doubles even when the TOML wrote an integer.
      if (axis->kind == AxisKind::floating && std::holds_alternative<int64_t>(*value)) {
        values.values.emplace_back(double(std::get<int64_t>(*value)));
      } else {
        values.values.push_back(*value);
      }
    };
    if (const toml::array* list = v.as_array()) {
      if (list->empty()) throw InputError(fmt::format("{}: axis '{}' has an empty list", where(file, v), axis_name));
      for (const auto& item : *list) add(item);
    } else {
      add(v);
    }
    ep.axes[axis_name] = std::move(values);
  }
  for (const auto& group : ep.zip) {
    size_t n = 0;
    for (const auto& axis_name : group) {
      const auto it = ep.axes.find(axis_name);
      if (it == ep.axes.end()) continue;  // reported below as missing
      if (n != 0 && it->second.values.size() != n) {
        throw InputError(fmt::format("{}: zipped axes ({}) of '{}' have lists of different lengths", where(file, node),
                                     join(group), experiment.name));
      }
      n = it->second.values.size();
    }
  }
  for (const Axis& axis : experiment.axes) {
    if (ep.axes.count(axis.name) == 0) {
      throw InputError(fmt::format("{}: experiment '{}' gives no values for axis '{}'", where(file, node), experiment.name,
                                   axis.name));
    }
  }
  return ep;
}

}  // namespace

std::vector<Talk> load_talks(const std::filesystem::path& file) {
  const toml::table root = parse_file(file);
  const toml::table* talks = root["talks"].as_table();
  if (talks == nullptr) throw InputError(fmt::format("{}: no [talks.*] tables", file.string()));
  std::vector<Talk> out;
  for (const auto& [key, node] : *talks) {
    const toml::table* t = node.as_table();
    if (t == nullptr) throw InputError(fmt::format("{}: talks.{} must be a table", where(file, node), key.str()));
    Talk talk;
    talk.key = std::string(key.str());
    talk.video_id = required_string(file, *t, "video_id", node);
    talk.title = required_string(file, *t, "title", node);
    talk.url = required_string(file, *t, "url", node);
    talk.category = required_string(file, *t, "category", node);
    talk.reproduces = required_string(file, *t, "reproduces", node);
    const toml::array* speakers = t->get_as<toml::array>("speakers");
    if (speakers == nullptr) throw InputError(fmt::format("{}: missing array field 'speakers'", where(file, node)));
    for (const auto& s : *speakers) {
      const auto* str = s.as_string();
      if (str == nullptr) throw InputError(fmt::format("{}: speakers must be strings", where(file, s)));
      talk.speakers.push_back(str->get());
    }
    out.push_back(std::move(talk));
  }
  return out;
}

const Talk* find_talk(const std::vector<Talk>& talks, const std::string& id) {
  for (const Talk& t : talks) {
    if (t.key == id || t.video_id == id) return &t;
  }
  return nullptr;
}

std::vector<std::string> profile_names(const std::filesystem::path& config_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_dir / "profiles", ec)) {
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Profile load_profile(const std::filesystem::path& config_dir, const std::string& name, const Registry& registry) {
  const std::filesystem::path file = config_dir / "profiles" / (name + ".toml");
  if (!std::filesystem::exists(file)) {
    throw InputError(fmt::format("unknown profile '{}' (available: {}; looked in {})", name,
                                 join(profile_names(config_dir)), (config_dir / "profiles").string()));
  }
  const toml::table root = parse_file(file);
  Profile profile;
  profile.name = name;
  profile.file = file;
  for (const auto& [key, node] : root) {
    const std::string section(key.str());
    if (section == "timing") {
      const toml::table* t = node.as_table();
      if (t == nullptr) throw InputError(fmt::format("{}: 'timing' must be a table", where(file, node)));
      for (const auto& [k, v] : *t) {
        const std::string timing_key(k.str());
        if (timing_key != "min_time_s" && timing_key != "max_time_s" && timing_key != "max_noise") {
          throw InputError(fmt::format("{}: unknown timing setting '{}' (valid: min_time_s, max_time_s, max_noise)",
                                       where(file, v), timing_key));
        }
      }
      profile.min_time_s = optional_number(file, *t, "min_time_s");
      profile.max_time_s = optional_number(file, *t, "max_time_s");
      profile.max_noise = optional_number(file, *t, "max_noise");
      continue;
    }
    const Experiment* experiment = registry.find(section);
    if (experiment == nullptr) {
      std::vector<std::string> known;
      for (const auto& e : registry.experiments()) known.push_back(e.name);
      throw InputError(fmt::format("{}: unknown experiment '{}' (known: {})", where(file, node), section, join(known)));
    }
    if (const toml::array* sweeps = node.as_array()) {
      for (const auto& sweep : *sweeps) {
        const toml::table* st = sweep.as_table();
        if (st == nullptr) throw InputError(fmt::format("{}: [[{}]] entries must be tables", where(file, sweep), section));
        profile.experiments[section].push_back(parse_sweep(file, *experiment, *st, sweep));
      }
      continue;
    }
    const toml::table* t = node.as_table();
    if (t == nullptr) throw InputError(fmt::format("{}: '{}' must be a table", where(file, node), section));
    profile.experiments[section].push_back(parse_sweep(file, *experiment, *t, node));
  }
  return profile;
}

void check_talk_ids(const Registry& registry, const std::vector<Talk>& talks) {
  for (const Experiment& e : registry.experiments()) {
    for (const std::string& id : e.talks) {
      if (find_talk(talks, id) == nullptr) {
        throw InputError(fmt::format("experiment '{}' names talk '{}', which is not in the talk registry", e.name, id));
      }
    }
  }
}

std::filesystem::path default_config_dir() {
  if (const char* env = std::getenv("TALKLAB_CONFIG_DIR"); env != nullptr && *env != '\0') return env;
  return std::filesystem::path(TALKLAB_SOURCE_DIR) / "configs";
}

}  // namespace talklab
