// src/chunk_pins.h — chunks that must survive garbage collection because an
// open file is still reading them, though no model may reference them.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/garbage_collector.h"
#include "src/catalog_records.h"

namespace modelfs {

class ChunkPins {
 public:
  // Unpins its blob when destroyed. Movable; an empty Pin pins nothing.
  class Pin {
   public:
    Pin() = default;
    Pin(Pin&& other) noexcept : pins_(other.pins_), key_(std::move(other.key_)) { other.pins_ = nullptr; }
    Pin& operator=(Pin&& other) noexcept;
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    ~Pin();

   private:
    friend class ChunkPins;
    Pin(ChunkPins* pins, std::string key) : pins_(pins), key_(std::move(key)) {}
    ChunkPins* pins_ = nullptr;
    std::string key_;
  };

  // Pins the chunks of `blob` (known by its sha256) until the Pin dies.
  // The ChunkPins must outlive every Pin it hands out.
  Pin Acquire(const std::string& sha256, const BlobRecord& blob);
  // Adds every pinned chunk to `live`.
  void AddTo(cache::ChunkSet* live) const;

 private:
  void Release(const std::string& key);

  struct Entry {
    int count = 0;
    std::vector<cache::ChunkHash> chunks;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> pinned_;
};

}  // namespace modelfs
