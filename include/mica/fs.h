/* Types and error codes of Mica's minimal file system interface, include/mica/fs.defs, served
   by user/servers/fsserver.c (docs/fs.md). The MIG code generated from that file imports this
   header. */
#ifndef MICA_FS_H
#define MICA_FS_H

#include <mach/kern_return.h>
#include <mach/machine/vm_types.h>

/* The name the server checks in with the bootstrap name server (<mica/bootstrap.h>). */
#define FS_SERVICE_NAME "fs"

/* A file name in a message: a NUL-terminated string in a 128-byte field (longer strings are
   cut to 127 characters by the MIG stub). Must match fs.defs. */
#define FS_NAME_MAX 128
typedef char fs_name_t[FS_NAME_MAX];
typedef const char *const_fs_name_t; /* MIG's in-argument type */

/* A name on the disk: 1 to 47 characters (docs/fs.md, the file table). Longer names, in a
   message, are refused with FS_BAD_NAME. */
#define FS_FILE_NAME_MAX 47

/* The server's answers, as kern_return_t codes of <mach/kern_return.h>. */
#define FS_SUCCESS        KERN_SUCCESS
#define FS_NO_SUCH_FILE   KERN_INVALID_NAME       /* no file has that name */
#define FS_BAD_NAME       KERN_INVALID_ARGUMENT   /* the empty name, or one too long */
#define FS_READ_ONLY      KERN_PROTECTION_FAILURE /* fs_write_file of a read-only file */
#define FS_NO_SPACE       KERN_NO_SPACE           /* fs_write_file past the file's end */
#define FS_TOO_LARGE      KERN_INVALID_ADDRESS    /* fs_read_file: 4 GiB or more */
#define FS_IO_ERROR       KERN_MEMORY_ERROR       /* the disk failed under fs_read/write_file */

/* One file's counters since the server started (fs_stats). Each counts messages of the
   memory_object protocol that reached the file's memory object, or pages in them. */
typedef struct fs_stats {
  natural_t inits;           /* memory_object_init */
  natural_t terminates;      /* memory_object_terminate */
  natural_t data_requests;   /* memory_object_data_request */
  natural_t pages_requested; /* pages those asked for */
  natural_t pages_supplied;  /* pages sent back with memory_object_data_supply */
  natural_t pages_past_end;  /* pages asked for past the file's last page: data_error */
  natural_t read_errors;     /* device_read failures: data_error */
  natural_t data_returns;    /* memory_object_data_return */
  natural_t pages_written;   /* pages of returns written to the disk (writable files) */
  natural_t returns_ignored; /* returns of a read-only file's pages, dropped */
  natural_t write_errors;    /* device_write failures */
  natural_t data_unlocks;    /* memory_object_data_unlock (never asked: no page is locked) */
} fs_stats_t;
#define FS_STATS_COUNT 12 /* natural_t words: fs.defs says struct[12] */
_Static_assert(sizeof(fs_stats_t) == FS_STATS_COUNT * sizeof(natural_t), "fs_stats_t layout");

#endif
