/* clock_: the one place the server reads time.
 *
 * Deadlines, timers and intervals use the monotonic clock, which no clock
 * adjustment moves; what is stored or shown uses the wall clock. */
#ifndef FP_CLOCK_H
#define FP_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (for intervals only). */
int64_t clock_mono_ms(void);

/* Nanoseconds on the monotonic clock (for short intervals: latencies). */
int64_t clock_mono_ns(void);

/* Microseconds since the Unix epoch, on the wall clock. */
int64_t clock_wall_us(void);

/* Milliseconds since the Unix epoch, on the wall clock. */
int64_t clock_wall_ms(void);

#endif
