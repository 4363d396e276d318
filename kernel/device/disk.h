// Disks as the device server (ds_routines.cc) sees them: a name, a size in 512-byte records,
// and the data path between out-of-line message memory (map copies) and the driver.
//
// Reads land in the pages of a new memory object, which becomes the reply's map copy: the
// device writes straight into the memory the receiver will map, with no copy in between.
// Writes go through bounce pages filled from the request's map copy (vm_map_copy_read), so
// that the pages the device reads cannot change or move while it reads them, whoever else
// maps them.
//
// Partial-record writes (device_write_inband) read the record, change part of it and write it
// back; a disk's write gate makes such a read-modify-write exclusive of every other write, so
// that no concurrent write to the same record is lost in between.
//
// Locking: Disk::gate_lock (spin, interrupts off) guards the gate's counts; it is taken
// before the wait-queue buckets. No lock is held across a transfer.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct VmMapCopy;
struct Disk;

// GNU Mach's record size for block devices: what DEV_GET_SIZE reports and what recnum counts.
inline constexpr uint32_t kDiskRecordSize = 512;

// Names the drivers' disks: the virtio-blk units become vd0, vd1... Boot, after the drivers.
void disk_init();

// The disk called `name`, or nullptr.
Disk* disk_lookup(const char* name);
const char* disk_name(const Disk* disk);
uint64_t disk_records(const Disk* disk);
bool disk_read_only(const Disk* disk);

// Reads `bytes` (> 0, a multiple of kDiskRecordSize) from record `recnum` into a new map copy,
// *data, of exactly `bytes` bytes (the rest of its last page is zero). The caller has checked
// that the range lies inside the disk. Returns D_SUCCESS, D_NO_MEMORY or D_IO_ERROR; on
// failure nothing is left behind. Blocks; no lock may be held.
int disk_read(Disk* disk, uint64_t recnum, uint64_t bytes, VmMapCopy** data);

// Writes the first `bytes` (> 0, a multiple of kDiskRecordSize, at most data->size) of map
// copy `data` from record `recnum` on, a range the caller has checked. The copy is only read:
// the caller still owns it. Returns D_SUCCESS, D_NO_MEMORY or D_IO_ERROR (some records may
// have been written). Blocks; no lock may be held.
int disk_write(Disk* disk, uint64_t recnum, VmMapCopy* data, uint64_t bytes);

// The in-band calls' partial records: the first `len` (<= kDiskRecordSize) bytes of record
// `recnum`, read into or written from `buf` (kernel memory). A write leaves the rest of the
// record as it was. Same returns and conditions as above.
int disk_read_partial(Disk* disk, uint64_t recnum, void* buf, uint32_t len);
int disk_write_partial(Disk* disk, uint64_t recnum, const void* buf, uint32_t len);
