/* adapter.c - not yet written */
