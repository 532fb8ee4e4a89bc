/* report_fmt.c - not yet written */
