/* The MIG runtime, as the Hurd's glibc declares it (<mach/mig_support.h>): what the stubs
   that GNU MIG generates call (reply ports, memory for out-of-line data, strings), with
   mach_msg and the server loops of <mach.h>. Implemented in mig_support.c. */
#ifndef _MACH_MIG_SUPPORT_H
#define _MACH_MIG_SUPPORT_H

#include <mach/boolean.h>
#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/mig_errors.h>
#include <mach/std_types.h>
#include <string.h>  /* the stubs copy with memcpy */

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's reply port: a receive right made once per thread (mach_reply_port)
   and kept in a small table keyed by the thread's name (mach_thread_self), as there is no
   thread-local storage yet. MACH_PORT_NULL if the kernel gave none. */
mach_port_t mig_get_reply_port(void);

/* Called by a stub after a failed RPC: the reply port may yet receive a stale reply, so the
   thread forgets it and its receive right is destroyed. The next call makes a new one. */
void mig_dealloc_reply_port(mach_port_t reply_port);

/* Called by a stub after a successful RPC. The port stays the thread's: nothing to do. */
void mig_put_reply_port(mach_port_t reply_port);

/* Memory for out-of-line data in server replies: vm_allocate / vm_deallocate in the
   caller's task. mig_allocate stores 0 on failure. */
void mig_allocate(vm_address_t *addr, vm_size_t size);
void mig_deallocate(vm_address_t addr, vm_size_t size);

/* Copies at most len bytes of src to dst, padding with NULs; returns strlen of the copy
   (at most len). */
vm_size_t mig_strncpy(char *dst, const char *src, vm_size_t len);

/* Fills the header and return code of a reply to request (as a MIG server does before its
   routine runs); the return code is MIG_BAD_ID until the routine sets it. */
void mig_reply_setup(const mach_msg_header_t *request, mach_msg_header_t *reply);

/* mach_msg (declared by <mach/message.h>) calls mach_msg_trap and retries a send or receive
   interrupted by the kernel (MACH_SEND_INTERRUPTED, MACH_RCV_INTERRUPTED), unless the
   caller asked to see interruptions (MACH_SEND_INTERRUPT, MACH_RCV_INTERRUPT). */

/* A server loop: receives requests on rcv_name (a receive right or a port set), gives each
   to demux, sends the reply demux made (unless the routine returned MIG_NO_REPLY or there is
   no reply port) and destroys requests a routine refused. max_size bounds requests and
   replies (0: two pages); both buffers are on the caller's stack. A larger request is
   dropped by the kernel and the loop goes on. Returns on the first other error, except a
   reply that cannot be delivered. */
typedef boolean_t (*mach_msg_demux_t)(mach_msg_header_t *request, mach_msg_header_t *reply);
mach_msg_return_t mach_msg_server(mach_msg_demux_t demux, mach_msg_size_t max_size,
                                  mach_port_t rcv_name);
mach_msg_return_t mach_msg_server_timeout(mach_msg_demux_t demux, mach_msg_size_t max_size,
                                          mach_port_t rcv_name, mach_msg_option_t option,
                                          mach_msg_timeout_t timeout);

/* One request: receive (with option, e.g. MACH_RCV_TIMEOUT, and timeout), demux, reply.
   Returns the receive's error, else the reply's send error (MACH_MSG_SUCCESS when there
   was nothing to send). */
mach_msg_return_t mach_msg_server_once(mach_msg_demux_t demux, mach_msg_size_t max_size,
                                       mach_port_t rcv_name, mach_msg_option_t option,
                                       mach_msg_timeout_t timeout);

/* Releases what a received message carries: the reply right (msgh_remote_port; the local
   port names the destination and holds no right) and each port right and out-of-line
   region of its body. */
void mach_msg_destroy(mach_msg_header_t *msg);

#ifdef __cplusplus
}
#endif

#endif
