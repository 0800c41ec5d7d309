#include "fs/inode_table.h"

namespace modelfs::fs {

InodeTable::InodeTable() {
  entries_[1] = {Node{NodeKind::kRoot, {}, {}, {}}, 1};  // the root is never forgotten
}

uint64_t InodeTable::Remember(const Node& node) {
  const uint64_t ino = InodeOf(node);
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[ino];
  e.node = node;
  ++e.lookups;
  return ino;
}

void InodeTable::Forget(uint64_t ino, uint64_t count) {
  if (ino == 1) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end()) return;
  if (it->second.lookups <= count) {
    entries_.erase(it);
  } else {
    it->second.lookups -= count;
  }
}

std::optional<Node> InodeTable::Find(uint64_t ino) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end()) return std::nullopt;
  return it->second.node;
}

void InodeTable::ForEach(const std::function<void(uint64_t, const Node&)>& visit) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [ino, e] : entries_) visit(ino, e.node);
}

}  // namespace modelfs::fs
