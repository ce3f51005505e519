/* gl_metrics_process: the process_* series every Prometheus client library
 * exports (client_golang's names and meanings), read from Linux's /proc
 * and getrusage() when /metrics is rendered. See gl_metrics.h. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "greenlight/gl_metrics.h"

/* Files in /proc/self/fd, less the one the listing itself holds open. */
static double gl_process_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n > 0 ? n - 1 : 0;
}

/* Fields 22 (starttime, clock ticks after boot), 23 (vsize, bytes) and 24
 * (rss, pages) of /proc/self/stat; the command (field 2) may hold spaces
 * and parentheses, so the scan starts after its last ')'. */
static int gl_process_stat(unsigned long long *start_ticks, unsigned long long *vsize,
                           long long *rss_pages) {
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  if (!p) return -1;
  /* After ")": fields 3 (state) to 21 are skipped, 19 of them. */
  int got = sscanf(p + 1,
                   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d"
                   " %llu %llu %lld",
                   start_ticks, vsize, rss_pages);
  return got == 3 ? 0 : -1;
}

/* Boot time (Unix seconds), the "btime" line of /proc/stat. */
static double gl_process_boot_time(void) {
  char line[256];
  unsigned long long btime = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "btime %llu", &btime) == 1) break;
  fclose(f);
  return (double)btime;
}

void gl_metrics_process(gl_metrics_t *m) {
  gl_series_t *cpu = gl_metrics_counter(m, "process_cpu_seconds_total",
                                        "Total user and system CPU time spent in seconds.", NULL);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    double now = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double was = gl_series_value(cpu);
    if (now > was) gl_series_add(cpu, now - was); /* A counter only goes up. */
  }
  gl_series_set(gl_metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", NULL),
                gl_process_open_fds());
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    gl_series_set(gl_metrics_gauge(m, "process_max_fds",
                                   "Maximum number of open file descriptors.", NULL),
                  rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
  unsigned long long start = 0, vsize = 0;
  long long rss = 0;
  gl_series_t *s_rss = gl_metrics_gauge(m, "process_resident_memory_bytes",
                                        "Resident memory size in bytes.", NULL);
  gl_series_t *s_vsz = gl_metrics_gauge(m, "process_virtual_memory_bytes",
                                        "Virtual memory size in bytes.", NULL);
  gl_series_t *s_start = gl_metrics_gauge(
      m, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      NULL);
  if (gl_process_stat(&start, &vsize, &rss) == 0) {
    gl_series_set(s_rss, (double)rss * (double)sysconf(_SC_PAGESIZE));
    gl_series_set(s_vsz, (double)vsize);
    if (gl_series_value(s_start) == 0)
      gl_series_set(s_start, gl_process_boot_time() + (double)start / (double)sysconf(_SC_CLK_TCK));
  }
}
