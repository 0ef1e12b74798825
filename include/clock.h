/*
 * clock.h - monotonic and wall-clock time in microseconds.
 */
#ifndef PGTIDE_CLOCK_H
#define PGTIDE_CLOCK_H

#include "common.h"

/* Monotonic time; for durations, timeouts and statistics. */
usec_t clock_mono_usec(void);
/* Wall-clock time since the epoch; for display (SHOW CLIENTS connect_time). */
usec_t clock_wall_usec(void);
/* Formats a wall-clock timestamp as "YYYY-MM-DD HH:MM:SS UTC". */
void clock_format_wall(usec_t wall, char *buf, size_t cap);

#endif
