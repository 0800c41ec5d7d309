#include "cache/index.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/cache.h>
#include <rocksdb/write_batch.h>

#include <vector>

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
  }
  throw Error(code, msg);
}

}  // namespace

struct Index::Impl {
  std::filesystem::path dir;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  ~Impl() {
    for (auto* h : handles) {
      if (db) db->DestroyColumnFamilyHandle(h);
    }
  }
  rocksdb::ColumnFamilyHandle* cf(Column c) const { return handles[static_cast<int>(c)]; }
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
  if (impl_ && impl_->db) {
    // Flushing the memtables on a clean close spares the next Open a WAL
    // replay. RocksDB 7.8 (Debian 12) deletes a WAL only once every column
    // family was flushed past it, and flushing an empty memtable does
    // nothing, so each open without writes left one empty WAL behind, which
    // every later open replayed (a store had 56 after a day of commands).
    // One small write makes the flush real, which moves every family past
    // the older WALs (facebook/rocksdb#11409 fixed this in RocksDB 8.3).
    if (!read_only_) {
      if (CountWalFiles(impl_->dir) > 1) {
        impl_->db->Put(rocksdb::WriteOptions(), impl_->cf(Column::kMeta), kCleanCloseKey, "");
      }
      impl_->db->Flush(rocksdb::FlushOptions(), impl_->handles);
    }
    for (auto* h : impl_->handles) impl_->db->DestroyColumnFamilyHandle(h);
    impl_->handles.clear();
    impl_->db->Close();
  }
}

std::unique_ptr<Index> Index::Open(const std::filesystem::path& dir, bool read_only,
                                   bool create) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / "CURRENT", ec)) {
    if (!create) {
      throw Error(ErrorCode::kNotFound, "no index at " + dir.string());
    }
  }
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

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(8 << 20);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = 8 << 20;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kColumnNames) descriptors.emplace_back(name, cf_options);

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(db_options, dir.string(), descriptors,
                                               &impl->handles, &raw)
                : rocksdb::DB::Open(db_options, dir.string(), descriptors, &impl->handles, &raw);
  if (!s.ok()) ThrowStatus(s, "cannot open the index " + dir.string());
  impl->db.reset(raw);
  return std::unique_ptr<Index>(new Index(std::move(impl), read_only));
}

std::optional<std::string> Index::Get(Column column, std::string_view key) const {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf(column), ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) ThrowStatus(s, "cannot read the index");
  return value;
}

void Index::Scan(Column column, std::string_view prefix,
                 const std::function<bool(std::string_view, std::string_view)>& visit) const {
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(options, impl_->cf(column)));
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    std::string_view key(k.data(), k.size());
    if (key.substr(0, prefix.size()) != prefix) break;
    rocksdb::Slice v = it->value();
    if (!visit(key, std::string_view(v.data(), v.size()))) break;
  }
  if (!it->status().ok()) ThrowStatus(it->status(), "cannot scan the index");
}

void Index::Write(Batch& batch, bool sync) {
  if (read_only_) throw Error(ErrorCode::kIOError, "the index is open read-only");
  rocksdb::WriteBatch wb;
  for (const auto& op : *batch.ops_) {
    if (op.is_put) {
      wb.Put(impl_->cf(op.column), op.key, op.value);
    } else {
      wb.Delete(impl_->cf(op.column), op.key);
    }
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  rocksdb::Status s = impl_->db->Write(options, &wb);
  if (!s.ok()) ThrowStatus(s, "cannot write the index");
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
