#include "fs/model_cache.h"

namespace modelfs::fs {

std::shared_ptr<const ModelCache::Versions> ModelCache::VersionsOf(const std::string& name) const {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = versions_.find(name);
    if (it != versions_.end()) return it->second;
    generation = generation_;
  }
  auto loaded = std::make_shared<const Versions>(catalog_->ListModels(name));
  std::lock_guard<std::mutex> lock(mu_);
  if (generation == generation_) versions_[name] = loaded;
  return loaded;
}

std::shared_ptr<const ModelCache::Names> ModelCache::AllNames() const {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (names_) return names_;
    generation = generation_;
  }
  auto loaded = std::make_shared<const Names>(catalog_->ListModelNames());
  std::lock_guard<std::mutex> lock(mu_);
  if (generation == generation_) names_ = loaded;
  return loaded;
}

std::optional<ModelRecord> ModelCache::Find(const std::string& name, const std::string& version) const {
  for (const auto& m : *VersionsOf(name)) {
    if (m.version == version) return m;
  }
  return std::nullopt;
}

void ModelCache::Invalidate(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  versions_.erase(name);
  names_.reset();
}

}  // namespace modelfs::fs
