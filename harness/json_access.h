// Reading result files written by any version: a member that may be missing, or whose parent may not be an object,
// reads as null instead of throwing.
#pragma once

#include <nlohmann/json.hpp>

namespace talklab {

inline const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

}  // namespace talklab
