/* mask.c - not yet written */
