/* state.c - not yet written */
