// fs/inode_table.h — the inodes the kernel currently knows, and their lookup
// counts (FUSE's contract: an inode stays resolvable until forgotten).
//
// Thread-safe. Inode numbers come from InodeOf(node), so re-looking up a
// path gives the same number and a forgotten inode can come back unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "fs/model_tree.h"

namespace modelfs::fs {

class InodeTable {
 public:
  InodeTable();

  // Records one more kernel reference to `node`; returns its inode number.
  uint64_t Remember(const Node& node);
  void Forget(uint64_t ino, uint64_t count);
  std::optional<Node> Find(uint64_t ino) const;
  // Calls visit for every known node (under the table's lock: keep it short).
  void ForEach(const std::function<void(uint64_t, const Node&)>& visit) const;

 private:
  struct Entry {
    Node node;
    uint64_t lookups = 0;
  };
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace modelfs::fs
