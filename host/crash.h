/* crash.h - the host's fatal-signal reporter (crash.c). */
#ifndef AXH_CRASH_H
#define AXH_CRASH_H
/* Report fatal signals of this process to fd (a pipe to the parent). */
void axh_crash_install(int fd);
#endif
