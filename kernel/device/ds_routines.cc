// The device.defs routines as the MIG server calls them (C linkage, MIG's C types), the open
// devices behind their ports, and the conversions device_types.defs names. GNU Mach's
// answers are kept wherever a program could tell the difference (device/ds_routines.c, and
// for disks linux/dev/glue/block.c and device/ramdisk.c); docs/device.md lists them.
//
// An open device (Device) is one disk opened for one access mode. As in GNU Mach, opening a
// disk again with the same access gives the same port, each open counts, and the last
// device_close ends the port: its senders then hold dead names. When the last send right
// goes without a close (a task that died, or deallocated its right), the device is closed
// anyway (device_no_senders).
//
// Locking: a Device's fields, and the list of open devices, are guarded by ipc_lock: they
// change together with the port's state. A device call holds a reference on the Device (the
// intran's) and no lock while its I/O runs, so a close may proceed meanwhile; the call then
// finishes with the memory it already had.
#include "device/ds_routines.h"

#include <device/device_types.h>
#include <mach/mig_errors.h>
#include <mach/vm_prot.h>

#include "device/disk.h"
#include "device/pci.h"
#include "device/virtio_blk.h"
#include "ipc/ipc_right.h"
#include "kern/host.h"
#include "kern/log.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "lib/string.h"
#include "vm/vm_map.h"

struct Device {
  Disk* disk = nullptr;
  dev_mode_t access = 0;  // D_READ and/or D_WRITE
  Port* port = nullptr;   // holds a reference; nullptr once closed
  uint32_t open_count = 0;
  uint32_t refs = 0;      // the port's, and one per conversion or call in progress
  Device* next = nullptr; // on the list of open devices
};

namespace {

// Mica's bound on one device_read or device_write: larger calls get D_INVALID_SIZE rather
// than tie up that much kernel memory at once (GNU Mach: "XXX Need logic to reject
// ridiculously big requests").
constexpr uint64_t kMaxTransfer = 16u << 20;
constexpr dev_mode_t kModeBits = D_READ | D_WRITE | D_NODELAY | D_NOWAIT;

constinit TypedZone<Device> device_zone("device", 0);
Device* open_devices;  // guarded by ipc_lock

// IPC lock held.
void release_locked(Device* d) {
  kassert(d->refs > 0);
  if (--d->refs) return;
  kassert(!d->port);
  d->~Device();
  device_zone.free(d);
}

// Ends the open device: off the list, its port dead. IPC lock held.
void end_locked(Device* d) {
  for (Device** pp = &open_devices; *pp; pp = &(*pp)->next) {
    if (*pp == d) {
      *pp = d->next;
      break;
    }
  }
  Port* p = d->port;
  d->port = nullptr;
  d->open_count = 0;
  p->kotype = KObjectType::kNone;
  p->kobject = nullptr;
  port_destroy(p);
  port_release(p);
  release_locked(d);  // the port's reference
}

// The checks every data call starts with: an open device that allows `need`.
int check_open(Device* d, dev_mode_t need) {
  if (!d) return D_NO_SUCH_DEVICE;
  IpcGuard g;
  if (!d->port) return D_NO_SUCH_DEVICE;  // closed since the call looked it up
  if (!(d->access & need)) return D_INVALID_OPERATION;
  return D_SUCCESS;
}

// Shared by device_read and device_write: checks `recnum` and the byte count, and trims the
// count at the end of the disk, as GNU Mach's disks do. D_INVALID_SIZE for a count that is
// negative, not whole records or above kMaxTransfer; D_INVALID_RECNUM for a first record
// beyond the disk.
int check_range(const Disk* disk, uint64_t recnum, int64_t bytes, uint64_t* trimmed) {
  if (bytes < 0 || bytes % kDiskRecordSize != 0 || static_cast<uint64_t>(bytes) > kMaxTransfer)
    return D_INVALID_SIZE;
  uint64_t records = disk_records(disk);
  if (recnum >= records) return D_INVALID_RECNUM;
  uint64_t n = static_cast<uint64_t>(bytes) / kDiskRecordSize;
  if (n > records - recnum) n = records - recnum;
  *trimmed = n * kDiskRecordSize;
  return D_SUCCESS;
}

kern_return_t open_device(Port* master, dev_mode_t mode, const char* name, Device** out) {
  // Open must be called on the master device port (GNU Mach's ds_device_open).
  if (!port_valid(master) || master != device_master_port()) return D_INVALID_OPERATION;
  if (mode & ~kModeBits) return D_INVALID_OPERATION;
  Disk* disk = disk_lookup(name);
  if (!disk) return D_NO_SUCH_DEVICE;
  // No access bit opens for reading, as GNU Mach's block devices do (O_RDONLY).
  dev_mode_t access = mode & (D_READ | D_WRITE);
  if (!access) access = D_READ;
  if ((access & D_WRITE) && disk_read_only(disk)) return D_READ_ONLY;

  IpcGuard g;
  for (Device* d = open_devices; d; d = d->next) {
    if (d->disk == disk && d->access == access) {
      ++d->open_count;
      ++d->refs;  // for convert_device_to_port
      *out = d;
      return D_SUCCESS;
    }
  }
  void* mem = device_zone.alloc();
  Port* p = mem ? port_alloc() : nullptr;
  if (!p) {
    if (mem) device_zone.free(static_cast<Device*>(mem));
    return D_NO_MEMORY;
  }
  auto* d = new (mem) Device;
  d->disk = disk;
  d->access = access;
  d->port = p;
  d->open_count = 1;
  d->refs = 2;  // the port's, and convert_device_to_port's
  d->next = open_devices;
  open_devices = d;
  p->kotype = KObjectType::kDeviceObject;
  p->kobject = d;
  *out = d;
  return D_SUCCESS;
}

}  // namespace

void device_init() {
  pci_init();
  virtio_blk_probe();
  disk_init();
}

void device_no_senders(Port* port) {
  auto* d = static_cast<Device*>(port->kobject);
  if (d && d->port == port) end_locked(d);
}

// The C++ VM layer and <device/device_types.h> (which declares device_deallocate on the
// user's device_t) have these names: the MIG entry points get their C symbols through asm
// labels instead, as in vm_server.cc.
extern "C" {
void mig_device_deallocate(Device* d) __asm__("device_deallocate");

Device* dev_port_lookup(Port* p) {
  IpcGuard g;
  if (!port_valid(p) || !p->active || p->kotype != KObjectType::kDeviceObject) return nullptr;
  auto* d = static_cast<Device*>(p->kobject);
  ++d->refs;
  return d;
}

void mig_device_deallocate(Device* d) {
  if (!d) return;
  IpcGuard g;
  release_locked(d);
}

Port* convert_device_to_port(Device* d) {
  if (!d) return nullptr;
  IpcGuard g;
  // A close (or the last send right going) between the open and this leaves no port: the
  // reply then carries MACH_PORT_NULL, as GNU Mach's would carry a dead port.
  Port* p = d->port;
  if (p) {
    port_reference(p);
    port_make_send(p);
  }
  release_locked(d);
  return p;
}

kern_return_t ds_device_open(Port* master, Port* reply, mach_msg_type_name_t reply_poly,
                             dev_mode_t mode, const char* name, Device** device) {
  return open_device(master, mode, name, device);
}

kern_return_t ds_device_open_new(Port* master, Port* reply, mach_msg_type_name_t reply_poly,
                                 dev_mode_t mode, const char* name, Device** device) {
  return open_device(master, mode, name, device);
}

kern_return_t ds_device_close(Device* d) {
  if (!d) return D_NO_SUCH_DEVICE;
  IpcGuard g;
  if (!d->port) return D_NO_SUCH_DEVICE;
  if (--d->open_count == 0) end_locked(d);
  return D_SUCCESS;
}

kern_return_t ds_device_read(Device* d, Port* reply, mach_msg_type_name_t reply_poly,
                             dev_mode_t mode, recnum_t recnum, int bytes_wanted,
                             io_buf_ptr_t* data, mach_msg_type_number_t* count) {
  int rc = check_open(d, D_READ);
  uint64_t bytes = 0;
  if (rc == D_SUCCESS) rc = check_range(d->disk, recnum, bytes_wanted, &bytes);
  if (rc != D_SUCCESS) return rc;
  VmMapCopy* copy = nullptr;
  if (bytes > 0 && (rc = disk_read(d->disk, recnum, bytes, &copy)) != D_SUCCESS) return rc;
  // Out-of-line data travels as the map copy in the pointer slot (vm_server.cc).
  *data = reinterpret_cast<io_buf_ptr_t>(copy);
  *count = static_cast<mach_msg_type_number_t>(bytes);
  return D_SUCCESS;
}

kern_return_t ds_device_write(Device* d, Port* reply, mach_msg_type_name_t reply_poly,
                              dev_mode_t mode, recnum_t recnum, io_buf_ptr_t data,
                              mach_msg_type_number_t count, int* bytes_written) {
  // GNU Mach's order: a dead device, then no data (D_INVALID_SIZE), then the mode.
  int rc = check_open(d, D_WRITE);
  if (rc == D_NO_SUCH_DEVICE) return rc;
  auto* copy = reinterpret_cast<VmMapCopy*>(data);
  // No data, or less than the count claims.
  if (!copy || copy->size < count) return D_INVALID_SIZE;
  if (rc != D_SUCCESS) return rc;
  if (disk_read_only(d->disk)) return D_READ_ONLY;
  uint64_t bytes = 0;
  if ((rc = check_range(d->disk, recnum, count, &bytes)) != D_SUCCESS) return rc;
  if (bytes > 0 && (rc = disk_write(d->disk, recnum, copy, bytes)) != D_SUCCESS) return rc;
  // Success consumes the request's out-of-line memory; on failure the request is destroyed
  // with it (ipc_kobject_server).
  vm_map_copy_discard(copy);
  *bytes_written = static_cast<int>(bytes);
  return D_SUCCESS;
}

kern_return_t ds_device_read_inband(Device* d, Port* reply, mach_msg_type_name_t reply_poly,
                                    dev_mode_t mode, recnum_t recnum, int bytes_wanted,
                                    char* data, mach_msg_type_number_t* count) {
  int rc = check_open(d, D_READ);
  if (rc != D_SUCCESS) return rc;
  // In-band data is at most IO_INBAND_MAX bytes: the start of one record, as GNU Mach's
  // ramdisk answers in-band calls.
  if (bytes_wanted < 0 || bytes_wanted > IO_INBAND_MAX) return D_INVALID_SIZE;
  if (recnum >= disk_records(d->disk)) return D_INVALID_RECNUM;
  uint32_t n = static_cast<uint32_t>(bytes_wanted);
  if (n > 0 && (rc = disk_read_partial(d->disk, recnum, data, n)) != D_SUCCESS) return rc;
  *count = n;
  return D_SUCCESS;
}

kern_return_t ds_device_write_inband(Device* d, Port* reply, mach_msg_type_name_t reply_poly,
                                     dev_mode_t mode, recnum_t recnum, const char* data,
                                     mach_msg_type_number_t count, int* bytes_written) {
  int rc = check_open(d, D_WRITE);
  if (rc != D_SUCCESS) return rc;
  if (disk_read_only(d->disk)) return D_READ_ONLY;
  // MIG checks the count against the message's size only; the type allows IO_INBAND_MAX.
  if (count > IO_INBAND_MAX) return D_INVALID_SIZE;
  if (recnum >= disk_records(d->disk)) return D_INVALID_RECNUM;
  if (count > 0 && (rc = disk_write_partial(d->disk, recnum, data, count)) != D_SUCCESS)
    return rc;
  *bytes_written = static_cast<int>(count);
  return D_SUCCESS;
}

kern_return_t ds_device_get_status(Device* d, dev_flavor_t flavor, int* status,
                                   mach_msg_type_number_t* count) {
  if (!d) return D_NO_SUCH_DEVICE;
  {
    IpcGuard g;
    if (!d->port) return D_NO_SUCH_DEVICE;
  }
  uint64_t records = disk_records(d->disk);
  switch (flavor) {
    case DEV_GET_SIZE: {
      // The size in bytes is an int in GNU Mach's answer: a disk of 2 GiB or more reports
      // the largest whole number of records that fits (DEV_GET_RECORDS has the exact count).
      uint64_t bytes = records * kDiskRecordSize;
      constexpr uint64_t kMaxBytes = 0x7fffffffull & ~uint64_t{kDiskRecordSize - 1};
      status[DEV_GET_SIZE_DEVICE_SIZE] = static_cast<int>(bytes < kMaxBytes ? bytes : kMaxBytes);
      status[DEV_GET_SIZE_RECORD_SIZE] = kDiskRecordSize;
      // Always DEV_GET_SIZE_COUNT, as GNU Mach's drivers answer: the reply has room for
      // DEV_STATUS_MAX integers whatever the caller asked for.
      *count = DEV_GET_SIZE_COUNT;
      return D_SUCCESS;
    }
    case DEV_GET_RECORDS:
      status[DEV_GET_RECORDS_DEVICE_RECORDS] =
          static_cast<int>(records < 0x7fffffffull ? records : 0x7fffffffull);
      status[DEV_GET_RECORDS_RECORD_SIZE] = kDiskRecordSize;
      *count = DEV_GET_RECORDS_COUNT;
      return D_SUCCESS;
    default:
      return D_INVALID_OPERATION;
  }
}

kern_return_t ds_device_set_status(Device* d, dev_flavor_t flavor, const int* status,
                                   mach_msg_type_number_t count) {
  if (!d) return D_NO_SUCH_DEVICE;
  // No settable status on these disks (GNU Mach's take only a cache flush and a partition
  // table re-read, neither of which applies).
  return D_INVALID_OPERATION;
}

kern_return_t ds_device_map(Device* d, vm_prot_t prot, vm_offset_t offset, vm_size_t size,
                            Port** pager, int unmap) {
  if (!d) return D_NO_SUCH_DEVICE;
  // Disks are not mapped (GNU Mach's block devices have no map operation either).
  return D_INVALID_OPERATION;
}

}  // extern "C"
