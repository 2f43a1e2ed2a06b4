/* systemd readiness notifications (see notify.h). */
#include "notify.h"

#include <errno.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "clock.h"

static int parent_fd = -1; /* a worker's pipe to its parent; -1: the main process */

void notify_set_parent(int fd)
{
	parent_fd = fd;
}

static void tell_parent(char what)
{
	ssize_t n;
	do
		n = write(parent_fd, &what, 1);
	while (n < 0 && errno == EINTR);
}

void notify_main_ready(void)
{
	(void)sd_notify(0, "READY=1\nSTATUS=serving");
}

void notify_ready(void)
{
	if (parent_fd >= 0)
		tell_parent(NOTIFY_LISTENING);
	else
		notify_main_ready();
}

void notify_reloading(void)
{
	if (parent_fd >= 0)
		return;
	/* systemd 253 and later want the reload's start time with it
	 * (Type=notify-reload); older ones ignore it. */
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
			 (unsigned long long)(clock_mono_ns() / 1000));
}

void notify_reloaded(void)
{
	if (parent_fd >= 0)
		tell_parent(NOTIFY_RELOADED);
	else
		notify_main_ready();
}

void notify_stopping(void)
{
	if (parent_fd < 0)
		(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
