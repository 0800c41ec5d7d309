// cache/index.h — the store's RocksDB database, seen through a small interface.
//
// Index owns the database and its column families; nothing outside cache/
// includes RocksDB headers. Every write goes through a Batch that is applied
// atomically and, by default, synced to disk before Write() returns: a crash
// leaves either all of a batch or none of it.
//
// A failed write (a full disk) never leaves the index unusable: the batch is
// not applied, Write() throws, and the database is reopened before the next
// write (RocksDB would otherwise refuse every later write of the process).
// While it cannot be reopened for writing, reads go on from a read-only
// opening. RocksDB's own log goes to spdlog, not to a file in the index.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>
#include <string>
#include <string_view>

namespace modelfs::cache {

// The column families. kMeta: store-wide counters and pack lengths; kModels,
// kFiles, kBlobs, kRemotes: the model catalog (owned by src/); kChunks:
// hash -> location; kFetch: progress of lazy fetches (owned by src/).
enum class Column { kMeta = 0, kModels, kFiles, kBlobs, kChunks, kRemotes, kFetch };
inline constexpr int kColumnCount = 7;

class Index {
 public:
  class Batch;

  // Opens (creating when `create` and absent) the database in `dir`. A
  // read-only index may be opened while no writer runs. Throws Error:
  // kNotFound when absent and !create; kCorruption with a message naming
  // `modelfs verify --repair` when RocksDB reports damage.
  static std::unique_ptr<Index> Open(const std::filesystem::path& dir, bool read_only,
                                     bool create);
  // Rebuilds the database in `dir` from whatever of its files RocksDB can
  // still read (a garbage CURRENT or MANIFEST, a damaged table; records of
  // a damaged table are lost). REQUIRES: no Index of `dir` is open. Throws Error.
  static void Repair(const std::filesystem::path& dir);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  std::optional<std::string> Get(Column column, std::string_view key) const;

  // Calls visit(key, value) for every key starting with `prefix`, in key
  // order, until visit returns false.
  void Scan(Column column, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& visit) const;

  // Applies `batch` (then empties it). Throws Error (kNoSpace for a full
  // disk) with nothing applied; the index stays usable (see above).
  void Write(Batch& batch, bool sync = true);

  // Reads every record of every column, checking each block's checksum.
  // Throws Error(kCorruption) naming the first damage.
  void CheckEverything() const;

  // Drops every key of `column` (used when rebuilding the chunk index).
  void Clear(Column column);

  bool read_only() const { return read_only_; }

 private:
  struct Db;
  struct Impl;
  explicit Index(std::unique_ptr<Impl> impl, bool read_only);
  std::unique_ptr<Impl> impl_;
  bool read_only_;
};

// A set of puts and deletes applied atomically by Index::Write.
class Index::Batch {
 public:
  Batch();
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void Put(Column column, std::string_view key, std::string_view value);
  void Delete(Column column, std::string_view key);
  size_t count() const;

 private:
  friend class Index;
  struct Op;
  std::unique_ptr<std::vector<Op>> ops_;
};

}  // namespace modelfs::cache
