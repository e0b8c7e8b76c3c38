/* CSiroccoLinux is its header (inline system calls and atomics); SwiftPM wants a source. */
#include "CSiroccoLinux.h"
