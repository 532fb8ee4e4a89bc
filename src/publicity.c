/* publicity.c - not yet written */
