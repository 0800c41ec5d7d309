#include "cache/index.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "util/error.h"

namespace modelfs::cache {
namespace {

const char* const kColumnNames[kColumnCount] = {rocksdb::kDefaultColumnFamilyName.c_str(),
                                                "models", "files", "blobs", "chunks",
                                                "remotes", "fetch"};

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

// Written at a close that finds old WALs (see ~Index); its value is unused.
constexpr char kCleanCloseKey[] = "index/closed";

// The write-ahead logs (NNNNNN.log) in the database directory `dir`.
size_t CountWalFiles(const std::filesystem::path& dir) {
  size_t count = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".log") ++count;
  }
  return count;
}

[[noreturn]] void ThrowStatus(const rocksdb::Status& s, const std::string& what) {
  ErrorCode code = s.IsCorruption() ? ErrorCode::kCorruption
                   : s.IsNoSpace()  ? ErrorCode::kNoSpace
                                    : ErrorCode::kIOError;
  std::string msg = what + ": " + s.ToString();
  if (code == ErrorCode::kCorruption) {
    msg += " (run `modelfs verify --repair` to rebuild the index from the packs)";
  } else if (code == ErrorCode::kNoSpace) {
    msg += " (the disk holding the store is full: free some space, e.g. with `modelfs cache "
           "evict`, and try again)";
  }
  throw Error(code, msg);
}

// RocksDB's log, to spdlog at debug level (Index reports the failures it
// gets; RocksDB logs some at error level that are none, such as a missing
// directory when it creates one). Not to index/LOG: RocksDB 7.8 aborts on an assertion when it logs to a
// file whose earlier write failed, as on a full disk.
class SpdLogger : public rocksdb::Logger {
 public:
  SpdLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    spdlog::debug("index: {}", line);
  }
};

// Turns RocksDB's recovery from a failed write off: it waits for 8 MiB free
// (polled every 5 s), and a Resume() with empty memtables keeps the failed
// write-ahead log, whose next write aborts on an assertion (RocksDB 7.8).
// Index reopens the database instead.
class NoAutoRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

rocksdb::DBOptions MakeDbOptions(bool create) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = create;
  db_options.create_missing_column_families = create;
  db_options.paranoid_checks = true;
  db_options.max_open_files = 256;
  db_options.keep_log_file_num = 2;
  db_options.max_background_jobs = 2;
  // The default starts 16 threads at every open to read a dozen small
  // tables' footers; that made `models list` 29 ms instead of 21.
  db_options.max_file_opening_threads = 1;
  // No preallocation: a write-ahead log took 4 MiB at creation, which a gc
  // on a nearly full disk needed for the packs it compacts.
  db_options.allow_fallocate = false;
  // An open replays the log into memory instead of flushing it to a new
  // table, so that reopening after a failed write needs little space.
  db_options.avoid_flush_during_recovery = true;
  db_options.info_log = std::make_shared<SpdLogger>();
  db_options.listeners.push_back(std::make_shared<NoAutoRecovery>());
  return db_options;
}

std::vector<rocksdb::ColumnFamilyDescriptor> MakeDescriptors() {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(8 << 20);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = 8 << 20;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kColumnNames) descriptors.emplace_back(name, cf_options);
  return descriptors;
}

// How long a reopen waits for the reads in progress on the old database.
constexpr auto kReopenWait = std::chrono::seconds(10);

}  // namespace

// One opening of the database.
struct Index::Db {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  bool read_only = false;

  // Opens `dir`; a non-OK status leaves `db` null.
  static rocksdb::Status Open(const std::filesystem::path& dir, bool read_only, bool create,
                              std::shared_ptr<Db>* out) {
    auto fresh = std::make_shared<Db>();
    fresh->read_only = read_only;
    rocksdb::DB* raw = nullptr;
    const rocksdb::DBOptions options = MakeDbOptions(create);
    rocksdb::Status s =
        read_only ? rocksdb::DB::OpenForReadOnly(options, dir.string(), MakeDescriptors(),
                                                 &fresh->handles, &raw)
                  : rocksdb::DB::Open(options, dir.string(), MakeDescriptors(), &fresh->handles, &raw);
    if (s.ok()) {
      fresh->db.reset(raw);
      *out = std::move(fresh);
    }
    return s;
  }
  ~Db() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    db->Close().PermitUncheckedError();
  }
  rocksdb::ColumnFamilyHandle* cf(Column c) const { return handles[static_cast<int>(c)]; }
};

struct Index::Impl {
  std::filesystem::path dir;
  std::mutex mu;
  std::condition_variable swapped;  // `reopening` went false
  std::shared_ptr<Db> db;           // guarded by mu; null while reopening or unopenable
  bool reopening = false;           // guarded by mu
  bool failed = false;              // a write failed: reopen before the next; guarded by mu
  std::string open_error;           // why the last reopen for writing failed; guarded by mu
  std::mutex reopen_mu;             // one reopen at a time

  // The current database, for one read or write.
  std::shared_ptr<Db> Acquire() {
    std::unique_lock<std::mutex> lock(mu);
    swapped.wait(lock, [&] { return !reopening; });
    if (!db) {
      throw Error(ErrorCode::kNoSpace, "the index " + dir.string() + " cannot be opened: " +
                                           open_error + " (free some disk space and try again)");
    }
    return db;
  }

  // After a failed write: closes the database and opens it again, once the
  // reads in progress finished; read-only when it cannot be opened for
  // writing (then the next write tries again).
  void Reopen() {
    std::lock_guard<std::mutex> one(reopen_mu);
    std::shared_ptr<Db> old;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!failed) return;
      reopening = true;
      old = std::move(db);
    }
    const auto deadline = std::chrono::steady_clock::now() + kReopenWait;
    while (old && old.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::shared_ptr<Db> fresh;
    std::string error;
    if (old && old.use_count() > 1) {
      fresh = std::move(old);  // still in use: the next write tries again
      error = "reads of the index are still in progress";
    } else {
      old.reset();  // closes it
      rocksdb::Status s = Db::Open(dir, /*read_only=*/false, /*create=*/false, &fresh);
      if (!s.ok()) {
        error = s.ToString();
        spdlog::error("cannot reopen the index {} for writing: {}", dir.string(), error);
        Db::Open(dir, /*read_only=*/true, /*create=*/false, &fresh).PermitUncheckedError();
      } else {
        spdlog::info("reopened the index {} after a failed write", dir.string());
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      db = std::move(fresh);
      failed = !error.empty();
      open_error = error;
      reopening = false;
    }
    swapped.notify_all();
  }
};

struct Index::Batch::Op {
  bool is_put;
  Column column;
  std::string key;
  std::string value;
};

Index::Batch::Batch() : ops_(std::make_unique<std::vector<Op>>()) {}
Index::Batch::~Batch() = default;

void Index::Batch::Put(Column column, std::string_view key, std::string_view value) {
  ops_->push_back({true, column, std::string(key), std::string(value)});
}
void Index::Batch::Delete(Column column, std::string_view key) {
  ops_->push_back({false, column, std::string(key), {}});
}
size_t Index::Batch::count() const { return ops_->size(); }

Index::Index(std::unique_ptr<Impl> impl, bool read_only)
    : impl_(std::move(impl)), read_only_(read_only) {}

Index::~Index() {
  std::shared_ptr<Db> db;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->failed) return;  // closed without a flush: the next open replays the log
    db = std::move(impl_->db);
  }
  if (!db || db->read_only) return;
  // Flushing the memtables on a clean close spares the next Open a WAL
  // replay. RocksDB 7.8 (Debian 12) deletes a WAL only once every column
  // family was flushed past it, and flushing an empty memtable does
  // nothing, so each open without writes left one empty WAL behind, which
  // every later open replayed (a store had 56 after a day of commands).
  // One small write makes the flush real, which moves every family past
  // the older WALs (facebook/rocksdb#11409 fixed this in RocksDB 8.3).
  if (CountWalFiles(impl_->dir) > 1 &&
      !db->db->Put(rocksdb::WriteOptions(), db->cf(Column::kMeta), kCleanCloseKey, "").ok()) {
    return;  // a full disk: closed without a flush
  }
  db->db->Flush(rocksdb::FlushOptions(), db->handles).PermitUncheckedError();
}

std::unique_ptr<Index> Index::Open(const std::filesystem::path& dir, bool read_only,
                                   bool create) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / "CURRENT", ec)) {
    if (!create) {
      throw Error(ErrorCode::kNotFound, "no index at " + dir.string());
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  rocksdb::Status s = Db::Open(dir, read_only, create, &impl->db);
  if (!s.ok()) ThrowStatus(s, "cannot open the index " + dir.string());
  return std::unique_ptr<Index>(new Index(std::move(impl), read_only));
}

void Index::Repair(const std::filesystem::path& dir) {
  rocksdb::Options options(MakeDbOptions(/*create=*/false), rocksdb::ColumnFamilyOptions());
  rocksdb::Status s = rocksdb::RepairDB(dir.string(), options, MakeDescriptors());
  if (!s.ok()) ThrowStatus(s, "cannot repair the index " + dir.string());
}

std::optional<std::string> Index::Get(Column column, std::string_view key) const {
  std::shared_ptr<Db> db = impl_->Acquire();
  std::string value;
  rocksdb::Status s = db->db->Get(rocksdb::ReadOptions(), db->cf(column), ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) ThrowStatus(s, "cannot read the index");
  return value;
}

void Index::Scan(Column column, std::string_view prefix,
                 const std::function<bool(std::string_view, std::string_view)>& visit) const {
  std::shared_ptr<Db> db = impl_->Acquire();
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->db->NewIterator(options, db->cf(column)));
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    std::string_view key(k.data(), k.size());
    if (key.substr(0, prefix.size()) != prefix) break;
    rocksdb::Slice v = it->value();
    if (!visit(key, std::string_view(v.data(), v.size()))) break;
  }
  if (!it->status().ok()) ThrowStatus(it->status(), "cannot scan the index");
}

void Index::CheckEverything() const {
  std::shared_ptr<Db> db = impl_->Acquire();
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  options.verify_checksums = true;
  for (auto* handle : db->handles) {
    std::unique_ptr<rocksdb::Iterator> it(db->db->NewIterator(options, handle));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
    }
    if (!it->status().ok()) ThrowStatus(it->status(), "the index is damaged");
  }
}

void Index::Write(Batch& batch, bool sync) {
  if (read_only_) throw Error(ErrorCode::kIOError, "the index is open read-only");
  impl_->Reopen();  // after an earlier failure
  rocksdb::Status s;
  {
    std::shared_ptr<Db> db = impl_->Acquire();
    if (db->read_only) {
      throw Error(ErrorCode::kNoSpace, "cannot write the index " + impl_->dir.string() +
                                           ": it cannot be reopened for writing (free some disk "
                                           "space and try again)");
    }
    rocksdb::WriteBatch wb;
    for (const auto& op : *batch.ops_) {
      if (op.is_put) {
        wb.Put(db->cf(op.column), op.key, op.value);
      } else {
        wb.Delete(db->cf(op.column), op.key);
      }
    }
    rocksdb::WriteOptions options;
    options.sync = sync;
    s = db->db->Write(options, &wb);
  }
  if (!s.ok()) {
    // Nothing of the batch was applied, but RocksDB refuses every later
    // write until the database is opened again.
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->failed = true;
    }
    impl_->Reopen();
    ThrowStatus(s, "cannot write the index");
  }
  batch.ops_->clear();
}

void Index::Clear(Column column) {
  Batch batch;
  Scan(column, "", [&](std::string_view key, std::string_view) {
    batch.Delete(column, key);
    return true;
  });
  Write(batch);
}

}  // namespace modelfs::cache
