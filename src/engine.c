/* engine.c - not yet written */
