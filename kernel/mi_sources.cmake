# Machine-independent kernel sources: built into the kernel and, with the host arch layer,
# into the host library that the GoogleTest tests link (tests/host).
set(MICA_MI_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/lib/format.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_page.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_resident.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_object.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_map.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_map_copy.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_fault.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_user.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_pager.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_pageout.cc
  ${CMAKE_CURRENT_LIST_DIR}/kern/zalloc.cc
  ${CMAKE_CURRENT_LIST_DIR}/ipc/ipc_space.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm/vm_usercopy.cc
  ${CMAKE_CURRENT_LIST_DIR}/ipc/ipc_port.cc
  ${CMAKE_CURRENT_LIST_DIR}/ipc/ipc_right.cc
  ${CMAKE_CURRENT_LIST_DIR}/ipc/ipc_kmsg.cc
  ${CMAKE_CURRENT_LIST_DIR}/ipc/ipc_notify.cc
  ${CMAKE_CURRENT_LIST_DIR}/ipc/mach_port.cc
)
