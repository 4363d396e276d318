/* The bootstrap (name) server: serves include/mica/bootstrap.defs on the port that every
   boot task has as its TASK_BOOTSTRAP_PORT, keeping a table of service names and send rights.

   Boot it first, as a module marked $(bootstrap-server), with the receive right's name as its
   third argument:
     bootstrap ${host-port} ${device-port} ${bootstrap-port} $(bootstrap-server) $(task-create) $(task-resume)
   Mica only: GNU Mach's boot script has no $(bootstrap-server) word.

   - bootstrap_register(name, port): keeps the send right under name.
   - bootstrap_look_up(name): a copy of that send right.
   - bootstrap_check_in(name): makes a port, keeps a send right under name and hands the
     caller the receive right.
   Errors are kern_return_t codes (see bootstrap.defs): KERN_NAME_EXISTS for a name taken,
   KERN_INVALID_NAME for an unknown one.

   Every registered port has a dead-name request on a notification port of the server's own;
   when a service's port dies (its task ended, or it destroyed the receive right), the
   notification drops every name registered for it. look_up also checks the right, so a dead
   service is refused even before its notification is served. The two ports sit in one port
   set served by mach_msg_server; the server never exits (the boot ends through another
   task's host_reboot). */
#include <mach.h>
#include <mach/notify.h>
#include <mach/notify_server.h>
#include <mica/bootstrap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The demultiplexer MIG generates from bootstrap.defs (bootstrap.server.c). */
boolean_t bootstrap_server(mach_msg_header_t *request, mach_msg_header_t *reply);

enum { kMaxServices = 512 };

static struct service {
  char name[BOOTSTRAP_NAME_MAX];
  mach_port_t port;  // a send right (one user reference per entry); NULL: a free slot
} services[kMaxServices];

static mach_port_t bootstrap_port;  // the receive right the kernel gave us
static mach_port_t notify_port;     // where our dead-name notifications come
static mach_port_t port_set;        // both of them

static struct service *find(const char *name) {
  for (int i = 0; i < kMaxServices; i++)
    if (MACH_PORT_VALID(services[i].port) && strcmp(services[i].name, name) == 0)
      return &services[i];
  return NULL;
}

static bool port_registered(mach_port_t port) {
  for (int i = 0; i < kMaxServices; i++)
    if (services[i].port == port)
      return true;
  return false;
}

static bool is_dead(mach_port_t port) {
  mach_port_type_t type = 0;
  if (mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS)
    return true;
  return (type & MACH_PORT_TYPE_DEAD_NAME) != 0;
}

/* Drops an entry and the user reference it held. */
static void drop(struct service *s) {
  mach_port_t port = s->port;
  s->port = MACH_PORT_NULL;
  s->name[0] = '\0';
  mach_port_deallocate(mach_task_self(), port);
}

/* Adds name -> port (a send right of ours, whose reference the entry takes). Asks for a
   dead-name notification the first time the port is registered. */
static kern_return_t add(const char *name, mach_port_t port) {
  struct service *free_slot = NULL;
  for (int i = 0; i < kMaxServices && !free_slot; i++)
    if (services[i].port == MACH_PORT_NULL)
      free_slot = &services[i];
  if (!free_slot)
    return BOOTSTRAP_NO_MEMORY;
  if (!port_registered(port)) {
    mach_port_t previous = MACH_PORT_NULL;
    kern_return_t kr = mach_port_request_notification(
        mach_task_self(), port, MACH_NOTIFY_DEAD_NAME, 0, notify_port,
        MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
    if (kr != KERN_SUCCESS)
      return kr == KERN_INVALID_ARGUMENT ? BOOTSTRAP_BAD_PORT : kr;  // already dead
    if (MACH_PORT_VALID(previous))
      mach_port_deallocate(mach_task_self(), previous);
  }
  strncpy(free_slot->name, name, BOOTSTRAP_NAME_MAX - 1);
  free_slot->name[BOOTSTRAP_NAME_MAX - 1] = '\0';
  free_slot->port = port;
  return KERN_SUCCESS;
}

/* The name is free, or taken by a service whose port died (dropped now). */
static kern_return_t check_free(const char *name) {
  if (name[0] == '\0')
    return BOOTSTRAP_BAD_NAME;
  struct service *s = find(name);
  if (s && !is_dead(s->port))
    return BOOTSTRAP_NAME_IN_USE;
  if (s)
    drop(s);  // the dead-name notification, when it comes, releases its own reference
  return KERN_SUCCESS;
}

/* --- bootstrap.defs --- */

kern_return_t do_bootstrap_register(mach_port_t server, const_bootstrap_name_t name,
                                    mach_port_t port) {
  if (server != bootstrap_port)
    return KERN_INVALID_ARGUMENT;
  if (!MACH_PORT_VALID(port))
    return BOOTSTRAP_BAD_PORT;
  kern_return_t kr = check_free(name);
  if (kr == KERN_SUCCESS)
    kr = add(name, port);
  return kr;  // on an error mach_msg_server releases the right the request carried
}

kern_return_t do_bootstrap_look_up(mach_port_t server, const_bootstrap_name_t name,
                                   mach_port_t *port) {
  *port = MACH_PORT_NULL;
  if (server != bootstrap_port)
    return KERN_INVALID_ARGUMENT;
  if (name[0] == '\0')
    return BOOTSTRAP_BAD_NAME;
  struct service *s = find(name);
  if (!s || is_dead(s->port))
    return BOOTSTRAP_UNKNOWN_SERVICE;
  *port = s->port;  // the reply copies our send right
  return KERN_SUCCESS;
}

kern_return_t do_bootstrap_check_in(mach_port_t server, const_bootstrap_name_t name,
                                    mach_port_t *port) {
  *port = MACH_PORT_NULL;
  if (server != bootstrap_port)
    return KERN_INVALID_ARGUMENT;
  kern_return_t kr = check_free(name);
  if (kr != KERN_SUCCESS)
    return kr;
  mach_port_t p = MACH_PORT_NULL;
  kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p);
  if (kr != KERN_SUCCESS)
    return BOOTSTRAP_NO_MEMORY;
  kr = mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND);
  if (kr == KERN_SUCCESS) {
    kr = add(name, p);
    if (kr != KERN_SUCCESS)
      mach_port_deallocate(mach_task_self(), p);
  }
  if (kr != KERN_SUCCESS) {
    mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1);
    return kr;
  }
  // The reply moves the receive right out; our send right stays under the same name, with
  // its dead-name request. If the reply cannot be delivered, mach_msg_server destroys it
  // and with it the receive right: the notification then drops the name.
  *port = p;
  return KERN_SUCCESS;
}

/* --- notify.defs --- */

kern_return_t do_mach_notify_dead_name(mach_port_t notify, mach_port_name_t name) {
  if (notify != notify_port)
    return KERN_FAILURE;
  // Only a dead name: on a kernel that reuses names quickly, a live right may have it by now.
  if (MACH_PORT_VALID(name) && is_dead(name)) {
    for (int i = 0; i < kMaxServices; i++)
      if (services[i].port == name)
        drop(&services[i]);
  }
  // The notification carried one user reference of its own.
  mach_port_deallocate(mach_task_self(), name);
  return KERN_SUCCESS;
}

kern_return_t do_mach_notify_port_deleted(mach_port_t notify, mach_port_name_t name) {
  (void)notify, (void)name;
  return KERN_SUCCESS;
}

kern_return_t do_mach_notify_msg_accepted(mach_port_t notify, mach_port_name_t name) {
  (void)notify, (void)name;
  return KERN_SUCCESS;
}

kern_return_t do_mach_notify_port_destroyed(mach_port_t notify, mach_port_t rights) {
  (void)notify;
  mach_port_mod_refs(mach_task_self(), rights, MACH_PORT_RIGHT_RECEIVE, -1);
  return KERN_SUCCESS;
}

kern_return_t do_mach_notify_no_senders(mach_port_t notify, mach_port_mscount_t mscount) {
  (void)notify, (void)mscount;
  return KERN_SUCCESS;
}

kern_return_t do_mach_notify_send_once(mach_port_t notify) {
  (void)notify;
  return KERN_SUCCESS;
}

/* Requests on the bootstrap port go to the bootstrap routines, the kernel's notifications
   on our notify port to the notify routines: a client cannot forge a notification. */
static boolean_t demux(mach_msg_header_t *request, mach_msg_header_t *reply) {
  if (request->msgh_local_port == notify_port)
    return notify_server(request, reply);
  return bootstrap_server(request, reply);
}

int main(int argc, char **argv) {
  if (argc < 4 || strtoul(argv[3], NULL, 10) == 0) {
    printf("bootstrap: no receive right: boot me with ${bootstrap-port} $(bootstrap-server)\n");
    return 1;
  }
  bootstrap_port = (mach_port_t)strtoul(argv[3], NULL, 10);
  mach_port_type_t type = 0;
  if (mach_port_type(mach_task_self(), bootstrap_port, &type) != KERN_SUCCESS ||
      !(type & MACH_PORT_TYPE_RECEIVE)) {
    printf("bootstrap: %s is not a receive right\n", argv[3]);
    return 1;
  }
  kern_return_t kr =
      mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &notify_port);
  if (kr == KERN_SUCCESS)
    kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &port_set);
  if (kr == KERN_SUCCESS)
    kr = mach_port_move_member(mach_task_self(), bootstrap_port, port_set);
  if (kr == KERN_SUCCESS)
    kr = mach_port_move_member(mach_task_self(), notify_port, port_set);
  if (kr != KERN_SUCCESS) {
    printf("bootstrap: cannot set up its ports: 0x%x\n", kr);
    return 1;
  }
  printf("bootstrap: serving names on port %u\n", (unsigned)bootstrap_port);
  stdout_flush();
  for (;;) {
    mach_msg_return_t mr = mach_msg_server(demux, 0, port_set);
    printf("bootstrap: mach_msg_server: 0x%x\n", mr);
    stdout_flush();
  }
}
