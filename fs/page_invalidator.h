// fs/page_invalidator.h — makes the kernel drop its cached pages of the
// files whose remote content failed its digest, so that a handle open on
// such a file cannot read those pages again: its next read reaches the
// daemon, which fails it with EIO (see remote_file_reader.h).
//
// It does so without waiting on the kernel's page locks, which are held by
// reads only the FUSE loop answers (a daemon stopping mid-invalidation would
// wait for ever): Invalidate() queues the content; a thread of its own finds
// the inodes the kernel knows whose file names it and invalidates only
// their attributes. The file's mtime now differs by the content's discard
// count (ModelTree::Attributes), and with FUSE_CAP_AUTO_INVAL_DATA the
// kernel drops the pages at the next read or stat of the file, on the
// reader's side. (A mapping of the file may keep the pages it has mapped.)
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
  // Queues remote content `remote_id` (see catalog_records.h), whose
  // discard count (Store::DiscardCount) has just grown.
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
