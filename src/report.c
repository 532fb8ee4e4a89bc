/* report.c - not yet written */
