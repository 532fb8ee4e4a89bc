/* ops.c - not yet written */
