/* audit.c - not yet written */
