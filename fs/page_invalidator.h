// fs/page_invalidator.h — drops the kernel's cached pages of the files whose
// remote content failed its digest, so that a handle open on such a file
// (or a mapping of it) cannot read those pages again: its next read reaches
// the daemon, which fails it with EIO (see remote_file_reader.h).
//
// Invalidate() only queues the content: a thread of its own finds the
// inodes the kernel knows whose file names it and calls
// fuse_lowlevel_notify_inval_inode for each. The kernel waits for the reads
// in flight on those pages, and the caller may be one of them (the read
// that found the mismatch), so this must not happen on the caller's thread.
// Thread-safe; the destructor finishes what is queued.
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "fs/inode_table.h"
#include "fs/model_tree.h"

namespace modelfs::fs {

class PageInvalidator {
 public:
  // *tree and *inodes must outlive the invalidator.
  PageInvalidator(const ModelTree* tree, const InodeTable* inodes);
  ~PageInvalidator();
  PageInvalidator(const PageInvalidator&) = delete;
  PageInvalidator& operator=(const PageInvalidator&) = delete;

  // The session to notify (null: queued contents are skipped).
  void set_session(fuse_session* session);
  // Queues remote content `remote_id` (see catalog_records.h).
  void Invalidate(std::string remote_id);

 private:
  void Run();
  void Drop(const std::string& remote_id);  // under session_mu_

  const ModelTree* const tree_;
  const InodeTable* const inodes_;
  std::mutex session_mu_;           // held while the session is notified
  fuse_session* session_ = nullptr;  // guarded by session_mu_
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
  std::thread worker_;
};

}  // namespace modelfs::fs
