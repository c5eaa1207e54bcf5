#pragma once
#include <atomic>
#include <cstdint>
#include <thread>

namespace vmemu {

class Inode;
class Machine;
struct PageFrame;

// Dirty file pages and their way back to the file (mm/page-writeback.c, and the flusher of
// fs/fs-writeback.c).
// - A write fault on a shared file mapping dirties the page (set_page_dirty()) and maps it
//   writable; every other mapping of a clean page is write-protected, so that its first write
//   is seen.
// - Writing a page back takes PG_locked, write-protects every PTE that maps it
//   (page_mkclean()), clears PG_dirty, sets PG_writeback and submits the write. A write after
//   page_mkclean() faults and dirties the page again, so no write is lost.
// - A failed write leaves the page dirty (PG_error) and records the error in the file's
//   wb_err, where msync() finds it.
// - The flusher thread writes back every dirty page each dirty_writeback interval, and at
//   once when dirty pages pass dirty_background_ratio of the frames; a fault that dirties a
//   page beyond dirty_ratio waits for writeback (balance_dirty_pages()).
// Locking: the page lock (PG_locked) per page; the flusher's wake-up state under m_lock,
// which the fault path never takes (it wakes the flusher through an atomic and a futex).
class Writeback {
public:
    static constexpr unsigned kDirtyBackgroundRatio = 10;
    static constexpr unsigned kDirtyRatio = 20;
    static constexpr unsigned kWritebackIntervalMs = 5000; // dirty_writeback_centisecs

    explicit Writeback(Machine& machine);
    // Stops the flusher (the pages stay as they are: the InodeCache writes them back).
    ~Writeback();
    Writeback(const Writeback&) = delete;
    Writeback& operator=(const Writeback&) = delete;

    void start_flusher();
    void stop_flusher();
    // fork(2): the child's flusher, in place of the parent's thread it inherited the handle of.
    void restart_flusher_in_child();

    // folio_mark_dirty(): true if the page was clean. Async-signal-safe.
    bool set_page_dirty(Inode& inode, PageFrame& page);
    // balance_dirty_pages(), after a fault dirtied a page: wakes the flusher past the
    // background threshold, and waits a while past the dirty threshold. Async-signal-safe.
    void balance_dirty_pages();

    // Writes one dirty page back, as above: false when it was clean, or busy and not waited
    // for (wait: the page lock and a write in flight are waited for). The caller holds a
    // reference on the page.
    bool write_page(Inode& inode, PageFrame& page, bool wait);
    // filemap_write_and_wait_range() without the error check: writes the dirty pages of
    // [first, last] and, with wait, waits for every write of the range to end.
    void writeback_range(Inode& inode, std::uint64_t first, std::uint64_t last, bool wait);
    // The page's PG_dirty goes, and the counts with it: true if it was dirty. Async-signal-safe.
    bool clear_page_dirty(Inode& inode, PageFrame& page);
    // cancel_dirty_page(): the page is clean without being written, and write-protected in
    // every mapping, so that a later write dirties it again. For a fork child, whose copies of
    // the parent's dirty pages the parent writes back.
    void cancel_dirty_page(Inode& inode, PageFrame& page);
    // The end of a page's write of expected bytes (the FileIo completion thread).
    void end_write(Inode& inode, PageFrame& page, int result, std::uint32_t expected);

    std::size_t background_thresh() const;
    std::size_t dirty_thresh() const;

private:
    // page_mkclean(): every PTE that maps page is write-protected and loses its dirty bit.
    // False if one could not be (the kernel kept its writable view).
    bool page_mkclean(Inode& inode, PageFrame& page);
    void flusher(std::uint32_t seen);

    Machine& m_machine;
    std::atomic<std::uint32_t> m_kicks { 0 };
    std::atomic<bool> m_stop { false };
    std::atomic<bool> m_error_logged { false };
    std::thread m_thread;
};

} // namespace vmemu
