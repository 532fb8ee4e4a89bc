/* sign.c - not yet written */
