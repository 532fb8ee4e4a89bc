/* backoff.c - not yet written */
