/* source.c - not yet written */
