/* canon.c - not yet written */
