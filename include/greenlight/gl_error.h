/* gl_error: the one error contract of greenlight's libraries.
 *
 * Every function that can fail returns 0 (GL_OK) or one of the negative
 * GL_E* codes below, never a bare -1, a libuv error or an errno, and writes
 * an errstr where a human needs the detail (which setting, which topic,
 * what was expected). A function that returns a pointer returns NULL on
 * failure, and one whose natural answer is a bool, a size or a count
 * returns that; its header says so. A function may also return a positive
 * value where its header documents one (1 from gl_conf_load(),
 * gl_conf_check() and gl_shell_configure(): --help or --check-config was
 * answered, exit 0).
 *
 * Which code: GL_ECONFIG for anything an operator set (a flag, a setting,
 * the environment, a file a setting names), GL_EINVAL for input that is
 * not a setting (a record that fails a check, or an argument a program
 * passed wrongly), GL_EIO when the operating system refused.
 *
 * Every executable (the daemons, the pipe and the CLI) ends with one exit
 * code, from gl_exit_code():
 *   0  done: the work finished or a signal asked it to stop and it drained
 *   2  bad settings or arguments, known before any connection
 *   1  everything else: broker unreachable past the timeout, a fatal or
 *      fenced client, a port in use, an error while running
 * A supervisor restarts on 1 and pages a human on 2.
 *
 * GL_EINVAL exits 1, not 2. An operator's argument is a setting and is
 * refused as GL_ECONFIG (exit 2) before any connection. GL_EINVAL is about
 * data: a function that returns it is a check, whose caller routes the
 * record (a daemon to its DLQ, the CLI refuses the line and exits 2 by its
 * own rule), and does not exit. A program that does exit with GL_EINVAL
 * passed itself a bad argument: a bug, like any other failure, so 1. */
#ifndef GREENLIGHT_GL_ERROR_H
#define GREENLIGHT_GL_ERROR_H

#define GL_OK 0
#define GL_ECONFIG (-1)  /* A bad setting or command-line argument (exit 2). */
#define GL_EIO (-2)      /* The operating system refused now: a port in use, no descriptor. */
#define GL_EBROKER (-3)  /* The broker or a topic was not there in time. */
#define GL_EFATAL (-4)   /* A fatal client error: fenced, or an unrecoverable state. */
#define GL_ESTATE (-5)   /* Not allowed in the object's current state. */
#define GL_ENOMEM (-6)   /* Out of memory. */
#define GL_ESTOPPED (-7) /* Stopped by a signal or a caller before it finished. */
#define GL_EINVAL (-8)   /* Input that is not a setting: a record, a program's own argument. */

#define GL_EXIT_OK 0
#define GL_EXIT_FAILURE 1
#define GL_EXIT_CONFIG 2

/* A short English name for err ("bad setting", "broker unavailable", ...);
 * "unknown error" for anything else. A static string (never freed); any
 * thread. */
const char *gl_strerror(int err);
/* The process exit code for err: 0 for GL_OK and GL_ESTOPPED, 2 for
 * GL_ECONFIG, 1 for everything else (GL_EINVAL included, see above). Any
 * thread. */
int gl_exit_code(int err);

#endif
