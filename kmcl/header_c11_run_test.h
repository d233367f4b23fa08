/* kmcl/header_c11_run_test.h
 *
 * The interface between header_c11_run_test.c (a server and a client driver
 * written in C11 against vmbuskernelmodeclientlibapi.h alone) and its C++
 * harness (header_c11_run_test_main.cc). The harness runs each phase as
 * PASSIVE driver code (KmclWorld::OnHost / OnGuest), runs the simulator in
 * between, and reads what the drivers recorded in VmbsimC11Results.
 *
 * Phases, in order: Host (allocate, init, enable, start the server), Guest
 * (the same for the client), GuestSend and HostSend (requests with
 * completion requested; the peer echoes each in its completion), GuestClose
 * (VmbChannelDisable on the client), HostClose (Disable on the server),
 * GuestCleanup and HostCleanup (VmbChannelCleanup). Each returns 0 or the
 * number of the step that failed (also kept in failed_step).
 */
#ifndef VMBSIM_KMCL_HEADER_C11_RUN_TEST_H_
#define VMBSIM_KMCL_HEADER_C11_RUN_TEST_H_

#include "vmbuskernelmodeclientlibapi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMBSIM_C11_PACKETS 8
#define VMBSIM_C11_PAYLOAD 64
#define VMBSIM_C11_EVENTS_MAX 16

/* What one endpoint saw. events: one letter per state callback, in order:
   O Opened, S Started, P PostStarted, U Suspend, C Closed. */
typedef struct VmbsimC11Endpoint {
  VMBCHANNEL channel;
  char events[VMBSIM_C11_EVENTS_MAX + 1];
  int event_count;
  int packets_processed;       /* ProcessPacket calls. */
  int bad_packets;             /* Wrong length or bytes in ProcessPacket. */
  int processing_complete_sum; /* Sum of ProcessingComplete counts. */
  int sent;                    /* VmbPacketSend successes. */
  int completions;             /* Completion routine calls. */
  int completions_ok;          /* ... with STATUS_SUCCESS and the exact echo. */
  int completion_mismatches;   /* ... with a wrong status or echo. */
  int completed_twice;         /* A packet's routine ran more than once. */
  int completion_seen[VMBSIM_C11_PACKETS];
} VmbsimC11Endpoint;

typedef struct VmbsimC11Results {
  VmbsimC11Endpoint host;
  VmbsimC11Endpoint guest;
  int failed_step;
  NTSTATUS failed_status;
} VmbsimC11Results;

/* The results of the scenario (one per process); Reset zeroes them. */
VmbsimC11Results* VmbsimC11Scenario_Results(void);
void VmbsimC11Scenario_Reset(void);

int VmbsimC11Scenario_Host(PDEVICE_OBJECT host, HANDLE vmbus);
int VmbsimC11Scenario_Guest(PDEVICE_OBJECT guest);
int VmbsimC11Scenario_GuestSend(void);
int VmbsimC11Scenario_HostSend(void);
int VmbsimC11Scenario_GuestClose(void);
int VmbsimC11Scenario_HostClose(void);
int VmbsimC11Scenario_GuestCleanup(void);
int VmbsimC11Scenario_HostCleanup(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_HEADER_C11_RUN_TEST_H_ */
