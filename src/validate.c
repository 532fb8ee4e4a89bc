/* validate.c - not yet written */
