// The device interface of GNU Mach (device.defs, subsystem 2800), served by the kernel: the
// device master port opens devices by name, and each open device is a kernel port that
// takes device_read, device_write and the rest. docs/device.md lists what is served.
#pragma once

struct Port;

// Probes the buses and brings up the drivers, then names their devices. Boot, on the boot
// CPU, after host_init (the device master port) and before the first task.
void device_init();

// The last send right of an open device's port is gone (IPC lock held): the device is
// closed, however many opens it had, as GNU Mach's device_no_senders does. Called by
// ipc_kobject_no_senders for KObjectType::kDeviceObject ports.
void device_no_senders(Port* port);
