/* GNU Mach kernel header name that MIG-generated servers include: see mica_mig.h. */
#include "mica_mig.h"
