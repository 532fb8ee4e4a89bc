/* checkdigit.c - not yet written */
