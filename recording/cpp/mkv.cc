// A C interface to the part of libwebm's muxer (mkvmuxer) Concord uses: one segment written
// straight to a file descriptor the Rust side created (create_new) and keeps owning.
//
// Why our own binding rather than the `webm` crate's: that one offers VP8/VP9/AV1 video only
// and hides Segment::ForceNewClusterOnNextFrame, which we need so audio reaches the disk while
// a participant's video is stopped. libwebm itself is the copy webm-sys compiles and links;
// this file is compiled against the same headers (see build.rs).

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <new>
#include <vector>

#include "mkvmuxer/mkvmuxer.h"

namespace {

// Buffered: libwebm writes one element at a time (about eight writes per frame), so elements
// collect here and reach the kernel when the Rust side flushes (a few times a second, and
// before every sync), when the buffer fills, and before any seek. `kill -9` loses at most what
// was written since the last flush. The first failing call's errno is kept for the error message.
//
// A write that fails part way (a full disk: ENOSPC, or EFBIG past RLIMIT_FSIZE) leaves part of an
// element at the end of the file, which players report as a truncated file. So the file is cut
// back to where the last flush at an element boundary ended: one the Rust side asked for (between
// frames) or one before a seek (libwebm seeks only after complete elements, to fill in sizes).
// Flushes because the buffer is full may end inside an element and do not count.
class FdWriter : public mkvmuxer::IMkvWriter {
 public:
  explicit FdWriter(int fd) : fd_(fd) { buffer_.reserve(kCapacity); }
  ~FdWriter() override {}

  mkvmuxer::int32 Write(const void* buf, mkvmuxer::uint32 len) override {
    if (error_ != 0) return -1;
    const char* at = static_cast<const char*>(buf);
    if (buffer_.size() + len > kCapacity && FlushBuffer() != 0) return -1;
    if (len >= kCapacity) {
      if (WriteAll(at, len) != 0) return -1;
    } else {
      buffer_.insert(buffer_.end(), at, at + len);
    }
    position_ += len;
    return 0;
  }

  mkvmuxer::int64 Position() const override { return position_; }

  mkvmuxer::int32 Position(mkvmuxer::int64 position) override {
    if (Flush() != 0) return -1;
    if (::lseek(fd_, static_cast<off_t>(position), SEEK_SET) < 0) {
      Fail();
      return -1;
    }
    position_ = position;
    return 0;
  }

  // Seekable: libwebm goes back to fill in cluster sizes, cues and the duration.
  bool Seekable() const override { return true; }

  void ElementStartNotify(mkvmuxer::uint64, mkvmuxer::int64) override {}

  // Hands everything buffered to the kernel. Only at an element boundary (see above).
  int Flush() {
    if (FlushBuffer() != 0) return -1;
    if (position_ > intact_) intact_ = position_;
    return 0;
  }

  int error() const { return error_; }

 private:
  static constexpr size_t kCapacity = 256 * 1024;

  int FlushBuffer() {
    if (error_ != 0) return -1;
    if (buffer_.empty()) return 0;
    const int result = WriteAll(buffer_.data(), buffer_.size());
    buffer_.clear();
    return result;
  }

  int WriteAll(const char* at, size_t len) {
    while (len > 0) {
      const ssize_t n = ::write(fd_, at, len);
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail();
        return -1;
      }
      at += n;
      len -= static_cast<size_t>(n);
    }
    return 0;
  }

  // Keeps the first error and cuts off what follows the last element boundary (nothing more
  // is written after an error). If even that fails, the partial element stays.
  void Fail() {
    if (error_ != 0) return;
    error_ = errno != 0 ? errno : EIO;
    if (::ftruncate(fd_, static_cast<off_t>(intact_)) != 0) return;
  }

  int fd_;
  std::vector<char> buffer_;
  mkvmuxer::int64 position_ = 0;
  // The file's length after the last flush at an element boundary.
  mkvmuxer::int64 intact_ = 0;
  int error_ = 0;
};

}  // namespace

struct concord_mkv {
  explicit concord_mkv(int fd) : writer(fd) {}
  FdWriter writer;
  mkvmuxer::Segment segment;
};

extern "C" {

concord_mkv* concord_mkv_open(int fd, const char* writing_app) {
  concord_mkv* mkv = new (std::nothrow) concord_mkv(fd);
  if (mkv == nullptr) return nullptr;
  if (!mkv->segment.Init(&mkv->writer)) {
    delete mkv;
    return nullptr;
  }
  // File mode: clusters get their sizes as the next one starts, Finalize adds cues and the
  // duration. Until then the segment and the open cluster have "unknown" sizes, which readers
  // accept, so a file cut short still plays.
  mkv->segment.set_mode(mkvmuxer::Segment::kFile);
  mkv->segment.GetSegmentInfo()->set_writing_app(writing_app);
  return mkv;
}

// Returns the track number, 0 on failure. Tracks must all be added before the first frame.
uint64_t concord_mkv_add_video(concord_mkv* mkv, const char* codec_id, int32_t width,
                               int32_t height, const uint8_t* codec_private,
                               size_t codec_private_len) {
  const uint64_t track = mkv->segment.AddVideoTrack(width, height, 0);
  mkvmuxer::Track* const t = track != 0 ? mkv->segment.GetTrackByNumber(track) : nullptr;
  if (t == nullptr) return 0;
  t->set_codec_id(codec_id);
  if (codec_private_len > 0 && !t->SetCodecPrivate(codec_private, codec_private_len)) return 0;
  return track;
}

uint64_t concord_mkv_add_audio(concord_mkv* mkv, const char* codec_id, int32_t sample_rate,
                               int32_t channels, const uint8_t* codec_private,
                               size_t codec_private_len) {
  const uint64_t track = mkv->segment.AddAudioTrack(sample_rate, channels, 0);
  mkvmuxer::Track* const t = track != 0 ? mkv->segment.GetTrackByNumber(track) : nullptr;
  if (t == nullptr) return 0;
  t->set_codec_id(codec_id);
  if (codec_private_len > 0 && !t->SetCodecPrivate(codec_private, codec_private_len)) return 0;
  return track;
}

// 1 on success, 0 if libwebm refused the frame (see concord_mkv_io_error for I/O failures).
int concord_mkv_add_frame(concord_mkv* mkv, uint64_t track, const uint8_t* data, size_t len,
                          uint64_t timestamp_ns, int keyframe) {
  return mkv->segment.AddFrame(data, len, track, timestamp_ns, keyframe != 0) ? 1 : 0;
}

// With a video track libwebm holds audio frames back until the next video frame, so that a
// cluster can begin at a video keyframe with its audio; the next frame after this call starts
// a cluster and writes every held frame first.
void concord_mkv_force_new_cluster(concord_mkv* mkv) {
  mkv->segment.ForceNewClusterOnNextFrame();
}

int concord_mkv_finalize(concord_mkv* mkv) {
  return mkv->segment.Finalize() && mkv->writer.Flush() == 0 ? 1 : 0;
}

int concord_mkv_flush(concord_mkv* mkv) { return mkv->writer.Flush() == 0 ? 1 : 0; }

int concord_mkv_io_error(const concord_mkv* mkv) { return mkv->writer.error(); }

void concord_mkv_free(concord_mkv* mkv) { delete mkv; }

}  // extern "C"
