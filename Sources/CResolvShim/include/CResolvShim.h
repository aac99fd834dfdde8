#ifndef STARLING_CRESOLV_SHIM_H
#define STARLING_CRESOLV_SHIM_H

/// Looks up SRV records through the system resolver. Writes one line per record,
/// "priority weight port target\n", into `buffer`; returns the number of records, 0 when
/// there are none, -1 on error.
int starling_srv_lookup(const char *name, char *buffer, int length);

#endif
