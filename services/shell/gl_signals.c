/* gl_signals: the signal policy of a program without a loop (the CLI),
 * the same as the shell's for the daemons (gl_shell.h): SIGTERM and SIGINT
 * ask for a stop, which the program reads between blocking calls and
 * answers by finishing what is in flight; SIGHUP is not fatal (ignored:
 * there is nothing to reload); SIGPIPE is ignored, so a closed pipe shows
 * as a write error instead of killing the process. */
#include <signal.h>
#include <string.h>

#include "greenlight/gl_shell.h"

/* The only global: a signal handler cannot be handed a context. */
static volatile sig_atomic_t gl_signals_stop;

static void gl_signals_on_stop(int sig) {
  (void)sig;
  gl_signals_stop = 1;
}

void gl_signals_unblock(void) {
  /* A signal mask is inherited: a parent that spawned us from a thread
   * with SIGINT blocked (a test harness, a supervisor's helper) would leave
   * it pending for good, and a stop would never be asked for. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
}

void gl_signals_catch(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = gl_signals_on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  gl_signals_unblock();
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
}

bool gl_signals_stop_requested(void) { return gl_signals_stop != 0; }
