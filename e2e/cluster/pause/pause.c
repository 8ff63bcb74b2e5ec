/*
 * e2e/cluster/pause/pause.c — the local cluster's pod sandbox ("pause") program. It is the only
 * content of the image localhost/pause that containerd starts first in every pod: it holds the
 * pod's namespaces open, reaps zombie children (it is PID 1 of the pod when the PID namespace
 * is shared) and exits cleanly on SIGINT/SIGTERM. Built statically by build.sh (gcc -static).
 * It must never do anything else: no files, no network, no output except on bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static void install(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = (sig == SIGCHLD) ? (SA_NOCLDSTOP | SA_RESTART) : 0;
  if (sigaction(sig, &sa, NULL) != 0) {
    perror("pause: sigaction");
    exit(1);
  }
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fprintf(stderr, "pause: takes no arguments; it waits for SIGINT or SIGTERM\n");
    return 2;
  }
  if (getpid() != 1) {
    fprintf(stderr, "pause: warning: not running as PID 1\n");
  }
  install(SIGINT, on_stop);
  install(SIGTERM, on_stop);
  install(SIGCHLD, on_child);
  while (!stop_signal) {
    pause();
  }
  return 0;
}
