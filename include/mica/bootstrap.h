/* Types and error codes of Mica's bootstrap (name) server interface, include/mica/bootstrap.defs.
   The MIG code generated from that file imports this header. Mica only: GNU Mach's boot
   script has no $(bootstrap-server) word, so no task there gets a name server's port. */
#ifndef MICA_BOOTSTRAP_H
#define MICA_BOOTSTRAP_H

#include <mach/kern_return.h>

/* A service name: a NUL-terminated string of at most 127 characters (longer names are cut
   by the MIG stub). Must match bootstrap.defs. */
#define BOOTSTRAP_NAME_MAX 128
typedef char bootstrap_name_t[BOOTSTRAP_NAME_MAX];
typedef const char *const_bootstrap_name_t;  /* MIG's in-argument type */

/* The answers of the server, as kern_return_t codes of <mach/kern_return.h>. */
#define BOOTSTRAP_SUCCESS          KERN_SUCCESS
#define BOOTSTRAP_NAME_IN_USE      KERN_NAME_EXISTS      /* register, check_in: name taken */
#define BOOTSTRAP_UNKNOWN_SERVICE  KERN_INVALID_NAME     /* look_up: no such name */
#define BOOTSTRAP_BAD_NAME         KERN_INVALID_ARGUMENT /* the empty name */
#define BOOTSTRAP_BAD_PORT         KERN_INVALID_RIGHT    /* register: no send right given */
#define BOOTSTRAP_NO_MEMORY        KERN_RESOURCE_SHORTAGE

#endif
