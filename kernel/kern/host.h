// The host (seed 004, 8.2: the machine as an object): its name port, its privileged port and
// the device master port, all with receive rights the kernel holds.
#pragma once

struct Port;
struct Host;

// Creates the host ports; once, at boot, before any task.
void host_init();
Port* host_port(bool privileged);
Port* device_master_port();
// The host object the MIG conversions stand for (a routine's `out host_t`).
Host* host_object();
