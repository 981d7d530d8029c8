// Linux headers that Swift's Glibc module does not expose: epoll, eventfd, inotify, accept4.
// Only these: including more here (sys/resource.h, sys/select.h, ...) under different feature
// macros than Glibc's module breaks module consistency.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>

// accept4 is a GNU extension; declared here so that Glibc's module and this one agree on sys/socket.h.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
