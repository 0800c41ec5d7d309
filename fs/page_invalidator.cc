// fs/page_invalidator.cc — see page_invalidator.h.
#include "fs/page_invalidator.h"

#include <cerrno>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace modelfs::fs {

PageInvalidator::PageInvalidator(const ModelTree* tree, const InodeTable* inodes)
    : tree_(tree), inodes_(inodes), worker_([this] { Run(); }) {}

PageInvalidator::~PageInvalidator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void PageInvalidator::set_session(fuse_session* session) {
  std::lock_guard<std::mutex> lock(session_mu_);
  session_ = session;
}

void PageInvalidator::Invalidate(std::string remote_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(remote_id));
  }
  wake_.notify_all();
}

void PageInvalidator::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, with nothing left
    std::string id = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    {
      std::lock_guard<std::mutex> session_lock(session_mu_);
      // (A stopped loop answers nothing: its files need no invalidation.)
      if (session_ && !fuse_session_exited(session_)) Drop(id);
    }
    lock.lock();
  }
}

void PageInvalidator::Drop(const std::string& remote_id) {
  std::vector<std::pair<uint64_t, Node>> files;
  inodes_->ForEach([&](uint64_t ino, const Node& node) {
    if (node.kind == NodeKind::kFile) files.emplace_back(ino, node);
  });
  for (const auto& [ino, node] : files) {
    try {
      if (tree_->RemoteIdOf(node) != remote_id) continue;
    } catch (const std::exception&) {
      continue;  // its model is gone
    }
    // Attributes only (offset < 0): never waits for a page lock.
    const int rc = fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
    if (rc != 0 && rc != -ENOENT) {
      spdlog::warn("cannot invalidate the attributes of {}:{}/{}: error {}", node.name, node.version,
                   node.path, rc);
    }
  }
}

}  // namespace modelfs::fs
