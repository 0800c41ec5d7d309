// fs/model_cache.h — the catalog's models as the mount sees them, kept in
// memory so that walking the tree does not decode the same records again and
// again. Entries are dropped per model name when the store reports a change
// (the daemon owns the store, so every change passes through it).
//
// Thread-safe. A load that races with Invalidate() is not cached (generation
// check), so a stale list can never outlive the change that made it stale.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/catalog.h"

namespace modelfs::fs {

class ModelCache {
 public:
  using Versions = std::vector<ModelRecord>;
  using Names = std::vector<std::string>;

  // *catalog must outlive the cache.
  explicit ModelCache(const Catalog* catalog) : catalog_(catalog) {}

  // Every version of `name`, newest first (empty when there is none).
  std::shared_ptr<const Versions> VersionsOf(const std::string& name) const;
  // The model names, sorted.
  std::shared_ptr<const Names> AllNames() const;
  std::optional<ModelRecord> Find(const std::string& name, const std::string& version) const;

  void Invalidate(const std::string& name);

 private:
  const Catalog* catalog_;
  mutable std::mutex mu_;
  uint64_t generation_ = 0;
  mutable std::unordered_map<std::string, std::shared_ptr<const Versions>> versions_;
  mutable std::shared_ptr<const Names> names_;
};

}  // namespace modelfs::fs
