/* mapping.c - not yet written */
