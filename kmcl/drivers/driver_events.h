/* kmcl/drivers/driver_events.h
 *
 * The state-change events vmbsim's sample drivers record, shared by all of
 * them so that tests and scenarios read every driver's log the same way. Each
 * driver counts its KMCL state-change callbacks (spec §5.1-§5.5, plus the
 * client's PnP-failure callback, §5.11) and keeps the order of the first
 * VMBSIM_DRIVER_EVENT_LOG_CAPACITY of them in a fixed array of these codes,
 * e.g. OPENED, STARTED, POST_STARTED, SUSPEND, CLOSED for one open-run-close
 * cycle (spec §7.3).
 *
 * C11 and C++; needs only the KMCL header for its integer types.
 */
#ifndef VMBSIM_KMCL_DRIVERS_DRIVER_EVENTS_H_
#define VMBSIM_KMCL_DRIVERS_DRIVER_EVENTS_H_

#include "vmbuskernelmodeclientlibapi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One code per callback; 0 is never logged. */
typedef enum _VMBSIM_DRIVER_EVENT {
  VMBSIM_DRIVER_EVENT_OPENED = 1,       /* EvtChannelOpened. */
  VMBSIM_DRIVER_EVENT_CLOSED = 2,       /* EvtChannelClosed. */
  VMBSIM_DRIVER_EVENT_SUSPEND = 3,      /* EvtChannelSuspend. */
  VMBSIM_DRIVER_EVENT_STARTED = 4,      /* EvtChannelStarted. */
  VMBSIM_DRIVER_EVENT_POST_STARTED = 5, /* EvtChannelPostStarted. */
  VMBSIM_DRIVER_EVENT_PNP_FAILURE = 6   /* EvtChannelPnpFailure (clients only). */
} VMBSIM_DRIVER_EVENT;

/* Events kept in order; later ones are only counted. */
#define VMBSIM_DRIVER_EVENT_LOG_CAPACITY 32u

/* Appends `Event` to `Log` (if there is room) and counts it in `*Count`,
   which therefore keeps growing past the capacity. */
static inline VOID VmbsimDriverEventAppend(UINT32* Log, UINT32* Count, VMBSIM_DRIVER_EVENT Event) {
  if (*Count < VMBSIM_DRIVER_EVENT_LOG_CAPACITY) {
    Log[*Count] = Event; /* Implicit: unscoped enum to integer, in C and C++. */
  }
  *Count += 1;
}

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_DRIVERS_DRIVER_EVENTS_H_ */
