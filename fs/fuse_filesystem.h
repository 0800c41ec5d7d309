// fs/fuse_filesystem.h — the FUSE low-level operations of the read-only
// model filesystem, over a ModelTree.
//
// Everything inside a version is immutable, so entries, attributes, pages
// and directory listings are cached by the kernel for a long time; the parts
// that change (models/, models/<name>/, latest) are invalidated explicitly by
// ModelChanged(), which the store calls after every save and delete. Pages
// of a remote file whose fetched bytes proved wrong are dropped through
// ContentDiscarded() (see page_invalidator.h).
#pragma once

#include <fuse_lowlevel.h>

#include <string>

#include "fs/inode_table.h"
#include "fs/model_tree.h"
#include "fs/page_invalidator.h"

namespace modelfs::fs {

class FuseFilesystem {
 public:
  // *tree must outlive the filesystem.
  explicit FuseFilesystem(ModelTree* tree) : tree_(tree), invalidator_(tree, &inodes_) {}
  FuseFilesystem(const FuseFilesystem&) = delete;
  FuseFilesystem& operator=(const FuseFilesystem&) = delete;

  // The operation table; userdata for fuse_session_new must be `this`.
  static const fuse_lowlevel_ops& Operations();

  // Sets the session used for kernel cache invalidation (null to stop).
  void set_session(fuse_session* session) {
    session_ = session;
    invalidator_.set_session(session);
  }
  // Drops the kernel's cached view of model `name` and of models/.
  void ModelChanged(const std::string& name);
  // Makes the kernel drop its cached pages of the files naming remote
  // content `remote_id`, whose fetched bytes proved wrong (soon, on another
  // thread; see page_invalidator.h).
  void ContentDiscarded(const std::string& remote_id) { invalidator_.Invalidate(remote_id); }

 private:
  friend struct FuseCallbacks;
  ModelTree* tree_;
  InodeTable inodes_;
  fuse_session* session_ = nullptr;
  PageInvalidator invalidator_;  // after inodes_, which it reads
};

}  // namespace modelfs::fs
